//! One HTTP/1.1 request/response exchange on a connection, firing the hooks where Go's
//! `persistConn.roundTrip`, `persistConn.writeLoop` and `persistConn.readLoop` fire them.
//!
//! The request is written and the response read concurrently (one future polls both sides of the
//! socket), so a server that answers before it read the whole body is seen at once, as Go's
//! separate read and write loops see it.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use httptrace_proto::h1::{
    BodyKind as Framing, Encoder, HeadWriter, Limits, ParsedHead, ProtoError, ResponseHead,
};
use tokio::io::AsyncWrite;
use tokio::time::Sleep;

use super::conn::H1Conn;
use crate::body::BodyKind;
use crate::error::{msg, Error, Kind, TimeoutKind};
use crate::stream::Stream;
use crate::trace::{CloseReason, ConnClosedInfo, ConnInfo, HeaderValues, Tracer, WroteRequestInfo};

/// Largest body copied into the head buffer so head and body leave in one write.
const COPY_BODY_MAX: usize = 16 * 1024;

/// Go's limit of non-101 interim responses per request.
pub(crate) const MAX_1XX: u32 = 5;

/// A request ready to be written on an HTTP/1.1 connection.
pub(crate) struct H1Request<'a> {
    pub(crate) method: &'a Method,
    /// Origin-form (`/path?q`) or, to a forward proxy, absolute-form.
    pub(crate) target: &'a str,
    /// Value of the `Host` field.
    pub(crate) host: &'a [u8],
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: crate::body::Body,
    /// `User-Agent` to send when the request has none (`None`: send none).
    pub(crate) default_user_agent: Option<&'a HeaderValue>,
    /// Add `Connection: close` (keep-alive disabled by the client).
    pub(crate) add_close: bool,
    /// `Proxy-Authorization` value for a forward proxy with credentials.
    pub(crate) proxy_authorization: Option<&'a HeaderValue>,
    /// The request asked for `Expect: 100-continue` and has a body.
    pub(crate) expect_continue: bool,
    pub(crate) expect_timeout: Duration,
    pub(crate) response_header_timeout: Option<Duration>,
    pub(crate) limits: &'a Limits,
}

/// The final response head and what the body decoder needs.
pub(crate) struct H1Response {
    pub(crate) head: ResponseHead,
    pub(crate) framing: Framing,
    /// The connection may carry another request once the body is done.
    pub(crate) reusable: bool,
    /// The request body is still being written (the server answered early, keeping the
    /// connection): the response body must finish it.
    pub(crate) pending_write: Option<RequestWriter>,
}

/// How far an attempt got, which decides whether it may be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Not a byte written: always safe to replay (with a replayable body).
    NothingWritten,
    /// Written, but the connection died before any response byte arrived.
    NoResponse,
    /// A response started: never replayed.
    ResponseStarted,
}

/// A failed attempt.
pub(crate) struct AttemptError {
    pub(crate) err: Error,
    pub(crate) progress: Progress,
}

impl AttemptError {
    fn new(err: Error, progress: Progress) -> AttemptError {
        AttemptError { err, progress }
    }
}

/// Reports an attempt dropped before [`round_trip`] returned (the call's future dropped, or
/// the call's deadline), which drops its connection too, as Go's `persistConn` reports it:
/// `wrote_request` with the error if the request was still being written, and (beyond Go)
/// `conn_closed`. Disarm it once `round_trip` returned.
pub(crate) struct CancelReport<'t> {
    t: &'t Tracer,
    /// The connection's facts, when a trace listens.
    conn: Option<Arc<ConnInfo>>,
    /// The request is being written: from `wrote_headers` until its write ended.
    pub(crate) writing: AtomicBool,
    armed: bool,
}

impl<'t> CancelReport<'t> {
    pub(crate) fn new(t: &'t Tracer, conn: &H1Conn) -> CancelReport<'t> {
        CancelReport {
            t,
            conn: t.is_active().then(|| conn.info.clone()),
            writing: AtomicBool::new(false),
            armed: true,
        }
    }

    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelReport<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.writing.load(Ordering::Relaxed) {
            self.t.wrote_request(&WroteRequestInfo {
                err: Some(Error::with(
                    Kind::Canceled,
                    msg("request canceled while it was being written"),
                )),
            });
        }
        if let Some(info) = self.conn.take() {
            self.t.conn_closed(&ConnClosedInfo {
                conn: (*info).clone(),
                reason: CloseReason::Canceled,
            });
        }
    }
}

/// Go's `persistConn.roundTrip` for one attempt. On success the connection is positioned at the
/// start of the response body.
///
/// Not an `async fn`, whose state would hold `req` twice (the argument, and the local it is
/// moved to): the block below captures it once and uses its fields in place. What only
/// writing the head needs lives in an inner block, which ends before the first await.
///
/// `writing` is set from `wrote_headers` until the request's write ended (left set when the
/// response body is to finish it), for the caller's [`CancelReport`].
#[allow(clippy::manual_async_fn)] // not an `async fn` on purpose: see above
pub(crate) fn round_trip<'a>(
    conn: &'a mut H1Conn,
    req: H1Request<'a>,
    t: &'a Tracer,
    writing: &'a AtomicBool,
) -> impl Future<Output = Result<H1Response, AttemptError>> + 'a {
    async move {
        let mut ex = {
            // ---- write the head into the buffer, one wrote_header_field per field (Go:
            // Request.write)
            let body = req.body;
            let framing = request_framing(req.method, &body);
            conn.write_buf.clear();
            let head = HeadParts {
                method: req.method,
                target: req.target,
                host: req.host,
                headers: req.headers,
                default_user_agent: req.default_user_agent,
                framing,
                add_close: req.add_close,
                proxy_authorization: req.proxy_authorization,
            };
            if let Err(e) = encode_head(&mut conn.write_buf, &head, t) {
                let err = proto_err(e);
                t.wrote_request(&WroteRequestInfo {
                    err: Some(err.clone()),
                });
                return Err(AttemptError::new(err, Progress::NothingWritten));
            }
            t.wrote_headers();
            writing.store(true, Ordering::Relaxed);
            Exchange::new(conn, body, framing, req.expect_continue, req.limits, t)
        };

        // ---- Expect: 100-continue (Go: flush the headers, Wait100Continue, then wait)
        let mut send_body = true;
        if req.expect_continue {
            if let Err(e) = poll_fn(|cx| ex.poll_flush_buffered(cx)).await {
                let err = Error::with(Kind::Io, e);
                t.wrote_request(&WroteRequestInfo {
                    err: Some(err.clone()),
                });
                return Err(AttemptError::new(err, ex.progress()));
            }
            t.wait_100_continue();
            ex.expecting_100 = true;
            ex.continue_unanswered = true;
            let mut timer = Box::pin(tokio::time::sleep(req.expect_timeout));
            match poll_fn(|cx| ex.poll_wait_continue(cx, timer.as_mut())).await {
                Ok(ContinueOutcome::Continue) | Ok(ContinueOutcome::TimedOut) => {}
                Ok(ContinueOutcome::Final) => {
                    // A final status before 100 Continue: send the body unless either side asked to
                    // close, in which case withhold it and close the connection afterwards.
                    let resp = ex.final_head.as_ref();
                    let server_close = resp.map(|h| !h.keep_alive()).unwrap_or(true);
                    if server_close || req.add_close || request_wants_close(req.headers) {
                        send_body = false;
                    }
                }
                Err(e) => {
                    // The connection failed while waiting: the body is not sent (Go: write returns
                    // nil and WroteRequest reports no error); the read side reports the failure.
                    t.wrote_request(&WroteRequestInfo { err: None });
                    return Err(e);
                }
            }
            ex.expecting_100 = false;
        }

        // ---- write the body while watching for the response (Go: writeLoop || readLoop)
        let mut continuing = false;
        if send_body {
            match poll_fn(|cx| ex.poll_write_all(cx)).await {
                Ok(WriteEnd::Written) => t.wrote_request(&WroteRequestInfo { err: None }),
                // The rest of the body is not sent: say so (Go's write loop would go on until
                // the connection closed under it, and report that error).
                Ok(WriteEnd::Withheld) => t.wrote_request(&WroteRequestInfo {
                    err: Some(Error::write_abandoned("closes the connection")),
                }),
                // The response body finishes the write and fires wrote_request.
                Ok(WriteEnd::Continuing) => continuing = true,
                Err(e) => {
                    t.wrote_request(&WroteRequestInfo {
                        err: Some(e.err.clone()),
                    });
                    // A write error after a final head arrived leaves that response standing,
                    // on a connection that is not reused.
                    if ex.final_head.is_none() {
                        return Err(e);
                    }
                    ex.conn.broken = true;
                }
            }
        } else {
            ex.body_withheld = true;
            t.wrote_request(&WroteRequestInfo { err: None });
        }
        // The write ended, unless the response body is to finish it.
        writing.store(continuing, Ordering::Relaxed);

        // ---- read the response head (Go: readLoop -> readResponse), bounded by the header timeout
        if ex.final_head.is_none() {
            let mut timer = req
                .response_header_timeout
                .map(|d| Box::pin(tokio::time::sleep(d)));
            poll_fn(|cx| {
                if let Some(tm) = timer.as_mut() {
                    if tm.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(AttemptError::new(
                            Error::timeout(TimeoutKind::ResponseHeader),
                            Progress::ResponseStarted,
                        )));
                    }
                }
                ex.poll_read_final(cx)
            })
            .await?;
        }
        let parsed = match ex.final_head.take() {
            Some(h) => h,
            None => {
                return Err(AttemptError::new(
                    Error::with(Kind::Protocol, msg("no response head")),
                    ex.progress(),
                ))
            }
        };
        let framing = match parsed.body_kind(req.method) {
            Ok(f) => f,
            Err(e) => {
                if continuing {
                    // The body was still being written; that write ends with the attempt, and
                    // wrote_request fires once for it, as when a response ends first.
                    t.wrote_request(&WroteRequestInfo {
                        err: Some(Error::write_abandoned("was malformed")),
                    });
                }
                return Err(AttemptError::new(proto_err(e), Progress::ResponseStarted));
            }
        };
        let pending_write = continuing.then(|| {
            std::mem::replace(
                &mut ex.writer,
                RequestWriter {
                    head_off: 0,
                    segs: Default::default(),
                    body: BodySrc::Done,
                    wrote_any: true,
                    flushed: true,
                },
            )
        });
        let keep_alive = parsed.keep_alive();
        let head = parsed.head;
        let reusable = !ex.conn.broken
            && !ex.body_withheld
            && keep_alive
            && !req.add_close
            && !request_wants_close(req.headers)
            && head.status != StatusCode::SWITCHING_PROTOCOLS
            && !(*req.method == Method::CONNECT && head.status.is_success())
            && !matches!(framing, Framing::CloseDelimited);
        Ok(H1Response {
            head,
            framing,
            reusable,
            pending_write,
        })
    }
}

use std::future::Future;

/// What ended the 100-continue wait.
enum ContinueOutcome {
    Continue,
    Final,
    TimedOut,
}

/// How the request body is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestFraming {
    None,
    Length(u64),
    Chunked,
}

/// Go's rule: Content-Length for a known length when it is non-zero, or zero for methods that
/// expect a body (POST, PUT, PATCH); chunked for streams of unknown length.
fn request_framing(method: &Method, body: &crate::body::Body) -> RequestFraming {
    match body.len() {
        Some(0) => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                RequestFraming::Length(0)
            } else {
                RequestFraming::None
            }
        }
        Some(n) => RequestFraming::Length(n),
        None => RequestFraming::Chunked,
    }
}

/// Fields the client writes itself (or never forwards).
fn is_excluded(name: &HeaderName) -> bool {
    name == http::header::HOST
        || name == http::header::USER_AGENT
        || name == http::header::CONTENT_LENGTH
        || name == http::header::TRANSFER_ENCODING
}

fn request_wants_close(headers: &HeaderMap) -> bool {
    httptrace_proto::h1::connection_has_token(headers, "close")
}

/// `content-type` -> `Content-Type`, the form Go reports (only computed when tracing).
///
/// A `HeaderName` is lowercase ASCII token bytes, so ASCII case mapping is Go's
/// `CanonicalMIMEHeaderKey` for it (and keeps core's Unicode case tables, 12 KB of read-only
/// data, out of the executable).
pub(crate) fn canonical_name(name: &HeaderName) -> String {
    let mut out = String::with_capacity(name.as_str().len());
    let mut upper = true;
    for c in name.as_str().chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// The parts of a request head, in the order they are written.
#[derive(Clone, Copy)]
struct HeadParts<'a> {
    method: &'a Method,
    target: &'a str,
    host: &'a [u8],
    headers: &'a HeaderMap,
    default_user_agent: Option<&'a HeaderValue>,
    framing: RequestFraming,
    add_close: bool,
    proxy_authorization: Option<&'a HeaderValue>,
}

/// Go's `Request.write`, header part: Host, User-Agent, the framing field, the request's own
/// fields, then the fields the transport adds; `wrote_header_field` right after each field is
/// in the buffer. Every field is already valid here: the request's own fields were checked by
/// `validate` before any hook fired, and the rest are `HeaderValue`s, URI parts or constants
/// (none can hold CR, LF or NUL).
fn encode_head(buf: &mut Vec<u8>, p: &HeadParts<'_>, t: &Tracer) -> Result<(), ProtoError> {
    let HeadParts {
        method,
        target,
        host,
        headers,
        default_user_agent,
        framing,
        add_close,
        proxy_authorization,
    } = *p;
    let mut w = HeadWriter::new(buf, method, target);
    w.field_prevalidated(b"Host", host);
    t.wrote_header_field("Host", HeaderValues::bytes(host));
    match headers.get(http::header::USER_AGENT) {
        Some(ua) => {
            if !ua.is_empty() {
                w.field_prevalidated(b"User-Agent", ua.as_bytes());
                t.wrote_header_field("User-Agent", HeaderValues::one(ua));
            }
        }
        None => {
            if let Some(ua) = default_user_agent {
                w.field_prevalidated(b"User-Agent", ua.as_bytes());
                t.wrote_header_field("User-Agent", HeaderValues::one(ua));
            }
        }
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            let mut digits = [0u8; 20];
            let v = fmt_u64(n, &mut digits);
            w.field_prevalidated(b"Content-Length", v);
            t.wrote_header_field("Content-Length", HeaderValues::bytes(v));
        }
        RequestFraming::Chunked => {
            w.field_prevalidated(b"Transfer-Encoding", b"chunked");
            t.wrote_header_field("Transfer-Encoding", HeaderValues::bytes(b"chunked"));
        }
    }
    let tracing_fields = t.wants_header_fields();
    for name in headers.keys() {
        if is_excluded(name) {
            continue;
        }
        for v in headers.get_all(name) {
            w.field_prevalidated(name.as_str().as_bytes(), v.as_bytes());
        }
        if tracing_fields {
            t.wrote_header_field(&canonical_name(name), HeaderValues::all(headers, name));
        }
    }
    if add_close {
        w.field_prevalidated(b"Connection", b"close");
        t.wrote_header_field("Connection", HeaderValues::bytes(b"close"));
    }
    if let Some(pa) = proxy_authorization {
        w.field_prevalidated(b"Proxy-Authorization", pa.as_bytes());
        t.wrote_header_field("Proxy-Authorization", HeaderValues::one(pa));
    }
    w.finish();
    Ok(())
}

/// Decimal digits of `n` in `buf`, without allocating.
pub(crate) fn fmt_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

pub(crate) fn proto_err(e: ProtoError) -> Error {
    match e {
        ProtoError::InvalidRequest(_) => Error::with(Kind::InvalidRequest, e),
        ProtoError::IncompleteBody { .. } => Error::with(Kind::ResponseBody, e),
        _ => Error::with(Kind::Protocol, e),
    }
}

enum BodySrc {
    Done,
    Stream {
        body: crate::body::DynBody,
        enc: Encoder,
    },
}

/// Why writing the request failed.
pub(crate) struct WriteFailure {
    pub(crate) err: Error,
    /// The user's body failed (rather than the socket).
    pub(crate) body: bool,
}

/// The write side of an exchange: the head buffer (in the connection), the queued segments and
/// the body still to pull. It can outlive `round_trip`: when the final response arrives while
/// the body is still being sent on a keep-alive connection, the response body finishes the
/// write (Go keeps writing on its write loop after RoundTrip returned).
pub(crate) struct RequestWriter {
    /// Bytes of the connection's `write_buf` already written.
    head_off: usize,
    /// Segments queued after the head buffer.
    segs: std::collections::VecDeque<Bytes>,
    body: BodySrc,
    wrote_any: bool,
    flushed: bool,
}

impl RequestWriter {
    /// Write only the head buffer (used before waiting for 100 Continue).
    fn poll_flush_head(
        &mut self,
        io: &mut Stream,
        buf: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.head_off < buf.len() {
            let n = match Pin::new(&mut *io).poll_write(cx, &buf[self.head_off..]) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wrote_any = true;
            self.head_off += n;
        }
        Pin::new(io).poll_flush(cx)
    }

    /// Write everything queued (head remainder, then segments). Ready(Ok) when all is out.
    fn poll_queued(
        &mut self,
        io: &mut Stream,
        buf: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let head_rem = buf.len().saturating_sub(self.head_off);
            if head_rem == 0 && self.segs.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let n = {
                let mut slices: [IoSlice<'_>; 4] = [IoSlice::new(&[]); 4];
                let mut k = 0;
                if head_rem > 0 {
                    slices[0] = IoSlice::new(&buf[self.head_off..]);
                    k = 1;
                }
                for s in self.segs.iter() {
                    if k == slices.len() {
                        break;
                    }
                    slices[k] = IoSlice::new(s);
                    k += 1;
                }
                let io = Pin::new(&mut *io);
                let res = if k == 1 {
                    io.poll_write(cx, &slices[0])
                } else {
                    io.poll_write_vectored(cx, &slices[..k])
                };
                match res {
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wrote_any = true;
            let mut n = n;
            let take = n.min(head_rem);
            self.head_off += take;
            n -= take;
            while n > 0 {
                let Some(front) = self.segs.front_mut() else {
                    break;
                };
                if n >= front.len() {
                    n -= front.len();
                    self.segs.pop_front();
                } else {
                    front.advance(n);
                    n = 0;
                }
            }
        }
    }

    /// Drive the whole write: head, body, terminator, flush. Ready(Ok) once all is written.
    pub(crate) fn poll_write(
        &mut self,
        io: &mut Stream,
        buf: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), WriteFailure>> {
        let io_fail = |e: io::Error| WriteFailure {
            err: Error::with(Kind::Io, e),
            body: false,
        };
        loop {
            match self.poll_queued(io, buf, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(io_fail(e))),
                Poll::Pending => return Poll::Pending,
            }
            // Queue is empty: pull more body.
            match &mut self.body {
                BodySrc::Done => {
                    if !self.flushed {
                        match Pin::new(&mut *io).poll_flush(cx) {
                            Poll::Ready(Ok(())) => self.flushed = true,
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(io_fail(e))),
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    return Poll::Ready(Ok(()));
                }
                BodySrc::Stream { body, enc } => match body.as_mut().poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(frame))) => {
                        // Trailer frames are not sent (Go does not trace them either).
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                let mut prefix = Vec::new();
                                if let Err(e) = enc.encode_chunk_header(data.len(), &mut prefix) {
                                    return Poll::Ready(Err(WriteFailure {
                                        err: proto_err(e),
                                        body: true,
                                    }));
                                }
                                if !prefix.is_empty() {
                                    self.segs.push_back(Bytes::from(prefix));
                                }
                                self.segs.push_back(data);
                                let mut suffix = Vec::new();
                                enc.encode_chunk_trailer(&mut suffix);
                                if !suffix.is_empty() {
                                    self.segs.push_back(Bytes::from(suffix));
                                }
                            }
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Err(WriteFailure {
                            err: Error::with(Kind::RequestBody, e),
                            body: true,
                        }))
                    }
                    Poll::Ready(None) => {
                        let mut tail = Vec::new();
                        if let Err(e) = enc.finish(&mut tail) {
                            return Poll::Ready(Err(WriteFailure {
                                err: proto_err(e),
                                body: true,
                            }));
                        }
                        if !tail.is_empty() {
                            self.segs.push_back(Bytes::from(tail));
                        }
                        self.body = BodySrc::Done;
                    }
                },
            }
        }
    }
}

/// How the write phase of an exchange ended.
enum WriteEnd {
    /// The whole request is out.
    Written,
    /// A final response that closes the connection arrived first: the rest of the body is
    /// withheld.
    Withheld,
    /// A final keep-alive response arrived first: the body keeps going while the response is
    /// read (the writer travels with the response body).
    Continuing,
}

/// Both directions of one exchange.
struct Exchange<'c, 't> {
    conn: &'c mut H1Conn,
    t: &'t Tracer,
    limits: &'c Limits,
    writer: RequestWriter,
    // read side
    got_first_byte: bool,
    n1xx: u32,
    expecting_100: bool,
    /// `Expect: 100-continue` was sent and no 100 has come yet: the first 100 fires
    /// `got_100_continue`, also after the wait timed out (Go's read loop keeps its continue
    /// channel until a 100 or a final status arrives).
    continue_unanswered: bool,
    final_head: Option<ParsedHead>,
    body_withheld: bool,
    /// Bytes of the read buffer already known not to hold the end of a head; 0 until a parse
    /// of the current head came back partial.
    head_scan: usize,
}

impl<'c, 't> Exchange<'c, 't> {
    fn new(
        conn: &'c mut H1Conn,
        body: crate::body::Body,
        framing: RequestFraming,
        expect_continue: bool,
        limits: &'c Limits,
        t: &'t Tracer,
    ) -> Exchange<'c, 't> {
        let mut segs = std::collections::VecDeque::new();
        let body = match body.kind {
            BodyKind::Empty => BodySrc::Done,
            BodyKind::Full(b) => {
                // With Expect: 100-continue the body must stay out of the head buffer, which is
                // flushed on its own before the wait.
                if b.len() <= COPY_BODY_MAX && !expect_continue {
                    conn.write_buf.extend_from_slice(&b);
                } else {
                    segs.push_back(b);
                }
                BodySrc::Done
            }
            BodyKind::Stream { body, .. } => match framing {
                // A stream that said it is empty and ended: nothing framed, nothing sent.
                RequestFraming::None if body.is_end_stream() => BodySrc::Done,
                // One that says it is empty but has not ended is read to its end (nothing is
                // framed; any data it yields fails the request as a length mismatch).
                RequestFraming::None => BodySrc::Stream {
                    body,
                    enc: Encoder::length(0),
                },
                RequestFraming::Length(n) => BodySrc::Stream {
                    body,
                    enc: Encoder::length(n),
                },
                RequestFraming::Chunked => BodySrc::Stream {
                    body,
                    enc: Encoder::chunked(),
                },
            },
        };
        Exchange {
            conn,
            t,
            limits,
            writer: RequestWriter {
                head_off: 0,
                segs,
                body,
                wrote_any: false,
                flushed: false,
            },
            got_first_byte: false,
            n1xx: 0,
            expecting_100: false,
            continue_unanswered: false,
            final_head: None,
            body_withheld: false,
            head_scan: 0,
        }
    }

    fn progress(&self) -> Progress {
        if self.got_first_byte {
            Progress::ResponseStarted
        } else if self.writer.wrote_any {
            Progress::NoResponse
        } else {
            Progress::NothingWritten
        }
    }

    /// Write only the head buffer (used before waiting for 100 Continue).
    fn poll_flush_buffered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (io, buf) = self.conn.io_and_write_buf();
        self.writer.poll_flush_head(io, buf, cx)
    }

    /// Drive the write while reading any response that arrives meanwhile.
    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<WriteEnd, AttemptError>> {
        let (io, buf) = self.conn.io_and_write_buf();
        match self.writer.poll_write(io, buf, cx) {
            Poll::Ready(Ok(())) => return Poll::Ready(Ok(WriteEnd::Written)),
            Poll::Ready(Err(f)) => {
                self.conn.broken = true;
                if !f.body {
                    self.read_final_head_already_here(cx);
                }
                let progress = if f.body {
                    Progress::ResponseStarted
                } else {
                    self.progress()
                };
                return Poll::Ready(Err(AttemptError::new(f.err, progress)));
            }
            Poll::Pending => {}
        }
        // Blocked on the socket or the body: look at the read side.
        self.poll_read_side_during_write(cx)
    }

    /// The socket failed a write: a server that answers early and then closes a connection
    /// with unread request bytes resets it, and its response is received before the reset.
    /// Read (without waiting) whatever head has arrived, so that a final one is returned, on
    /// a connection not reused, instead of the write's error (and the attempt counts as
    /// answered, never replayed). A read error or nothing received leaves the write's error.
    fn read_final_head_already_here(&mut self, cx: &mut Context<'_>) {
        while self.final_head.is_none() {
            match self.poll_next_head(cx) {
                Poll::Ready(Ok(HeadEvent::Interim)) => {}
                Poll::Ready(Ok(HeadEvent::Final)) | Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
    }

    /// While the write is blocked, read responses. Ready when the write phase should end: a
    /// final response arrived (`Withheld` if it closes the connection, `Continuing` if not),
    /// or reading failed.
    fn poll_read_side_during_write(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<WriteEnd, AttemptError>> {
        // A final head may be in already: a final status that ended the 100-continue wait, on
        // a connection both sides keep (else the body is not sent at all). The response is
        // then returned as soon as the body blocks, as when it arrives during the write.
        if self.final_head.is_none() {
            match self.poll_next_head(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(HeadEvent::Interim)) => {
                    // The hooks fired; poll again so both sides register their wakers.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Ok(HeadEvent::Final)) => {}
            }
        }
        let close = self
            .final_head
            .as_ref()
            .map(|h| !h.keep_alive())
            .unwrap_or(true);
        if close {
            // The server answered and will close: stop sending the body.
            self.body_withheld = true;
            self.conn.broken = true;
            Poll::Ready(Ok(WriteEnd::Withheld))
        } else {
            Poll::Ready(Ok(WriteEnd::Continuing))
        }
    }

    /// Wait for 100 Continue, a final status, or the timer.
    fn poll_wait_continue(
        &mut self,
        cx: &mut Context<'_>,
        timer: Pin<&mut Sleep>,
    ) -> Poll<Result<ContinueOutcome, AttemptError>> {
        loop {
            match self.poll_next_head(cx) {
                Poll::Ready(Ok(HeadEvent::Interim)) => {
                    if !self.expecting_100 {
                        // A 100 released us.
                        return Poll::Ready(Ok(ContinueOutcome::Continue));
                    }
                    continue;
                }
                Poll::Ready(Ok(HeadEvent::Final)) => {
                    return Poll::Ready(Ok(ContinueOutcome::Final))
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Ok(ContinueOutcome::TimedOut));
        }
        Poll::Pending
    }

    /// Read until the final head.
    fn poll_read_final(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AttemptError>> {
        while self.final_head.is_none() {
            match self.poll_next_head(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Parse (reading as needed) the next response head: an interim 1xx (hooks fired) or the
    /// final head (stored in `final_head`).
    fn poll_next_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<HeadEvent, AttemptError>> {
        loop {
            // Parse at once when a head starts (a partial head is cheap to find out about);
            // after a partial parse, parse again only once the end of a head can be in the
            // buffer: re-parsing everything after every small read would make a slow, huge head
            // cost quadratic time.
            let conn = &mut **self.conn;
            let len = conn.read_buf.len();
            let ready = len > 0
                && (self.head_scan == 0
                    || len > self.limits.max_head_bytes
                    || has_head_end(&conn.read_buf[self.head_scan.saturating_sub(3)..]));
            if !ready {
                self.head_scan = len;
            } else {
                match conn.parser.parse(&mut conn.read_buf, self.limits) {
                    Ok(Some(head)) => {
                        self.head_scan = 0;
                        return Poll::Ready(self.on_head(head));
                    }
                    // No head ends within these bytes: the empty line that ends it will end in
                    // bytes not read yet, so the next scan starts 3 bytes back from here.
                    Ok(None) => self.head_scan = len,
                    Err(e) => {
                        self.conn.broken = true;
                        return Poll::Ready(Err(AttemptError::new(
                            proto_err(e),
                            Progress::ResponseStarted,
                        )));
                    }
                }
            }
            // Need more bytes.
            let n = match self.conn.poll_fill(0, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    self.conn.broken = true;
                    let progress = self.progress();
                    return Poll::Ready(Err(AttemptError::new(Error::with(Kind::Io, e), progress)));
                }
                Poll::Ready(Ok(n)) => n,
            };
            if n == 0 {
                self.conn.broken = true;
                let progress = self.progress();
                let m = if self.got_first_byte {
                    "connection closed in the middle of the response head"
                } else {
                    "server closed the connection before sending a response"
                };
                let kind = if self.got_first_byte {
                    Kind::Protocol
                } else {
                    Kind::Io
                };
                return Poll::Ready(Err(AttemptError::new(Error::with(kind, msg(m)), progress)));
            }
            if !self.got_first_byte {
                self.got_first_byte = true;
                self.t.got_first_response_byte();
            }
        }
    }

    fn on_head(&mut self, parsed: ParsedHead) -> Result<HeadEvent, AttemptError> {
        let head = &parsed.head;
        let code = head.status.as_u16();
        if (100..200).contains(&code) && code != 101 {
            self.n1xx += 1;
            if self.n1xx > MAX_1XX {
                self.conn.broken = true;
                return Err(AttemptError::new(
                    Error::new(Kind::TooMany1xx),
                    Progress::ResponseStarted,
                ));
            }
            let is_100 = code == 100;
            if is_100 && self.continue_unanswered {
                self.continue_unanswered = false;
                self.t.got_100_continue();
            }
            if let Err(e) = self.t.got_1xx_response(head.status, &head.headers) {
                self.conn.broken = true;
                return Err(AttemptError::new(
                    Error::with(Kind::Hook, e),
                    Progress::ResponseStarted,
                ));
            }
            if is_100 {
                self.expecting_100 = false;
            }
            return Ok(HeadEvent::Interim);
        }
        self.final_head = Some(parsed);
        Ok(HeadEvent::Final)
    }
}

/// An empty line (`\n\n` or `\n\r\n`) is in `b`: a head may end there.
fn has_head_end(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'\n')) {
        let at = i + p;
        match (b.get(at + 1), b.get(at + 2)) {
            (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => return true,
            _ => i = at + 1,
        }
    }
    false
}

enum HeadEvent {
    Interim,
    Final,
}

#[cfg(test)]
mod tests {
    use super::{canonical_name, has_head_end};
    use http::HeaderName;

    #[test]
    fn canonical_names_are_gos() {
        for (name, want) in [
            ("content-type", "Content-Type"),
            ("x-forwarded-for", "X-Forwarded-For"),
            ("www-authenticate", "Www-Authenticate"),
            ("te", "Te"),
            ("a--b", "A--B"),
            ("x-1a", "X-1a"),
            ("-x", "-X"),
        ] {
            let n = HeaderName::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(canonical_name(&n), want, "{name}");
        }
    }

    #[test]
    fn head_end_detection() {
        assert!(has_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"));
        assert!(has_head_end(b"HTTP/1.1 200 OK\nA: b\n\n"));
        assert!(has_head_end(b"\n\r\n"));
        assert!(!has_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"));
        assert!(!has_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r"));
        assert!(!has_head_end(b""));
        assert!(!has_head_end(b"\n"));
    }
}
