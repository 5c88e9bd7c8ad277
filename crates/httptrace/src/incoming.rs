//! Response bodies: streamed from the connection, never buffered whole by the library.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use httptrace_proto::h1::{BodyKind as Framing, Decoded, Decoder, Limits};
use tokio::time::Sleep;

use crate::error::{msg, Error, Kind, TimeoutKind};
use crate::h1::conn::H1Conn;
use crate::h1::round_trip::RequestWriter;
use crate::pool::{close_conn, Pool};
use crate::trace::{BodyDoneInfo, CloseReason, ConnInfo, ConnOutcome, Tracer, WroteRequestInfo};
use std::sync::Arc;

/// A response body. Implements [`http_body::Body`]; [`Incoming::bytes`] and
/// [`Incoming::chunk`] are conveniences.
///
/// Reading it to its end returns an HTTP/1.1 connection to the pool (firing `put_idle_conn`);
/// dropping it earlier closes the connection.
pub struct Incoming {
    inner: Inner,
    conn: Option<Arc<ConnInfo>>,
}

enum Inner {
    Empty,
    /// An HTTP/1.1 or HTTP/2 body, behind a trait object: the code that drops one (with its
    /// connection, parser and timers) then exists once, in the vtable, instead of once in every
    /// codegen unit that drops an `Incoming` (eight copies in the benchmark binary). The body
    /// is a box either way; one indirect call a poll is the cost.
    Body(Box<dyn StreamedBody>),
}

/// A streamed response body ([`H1Body`], [`crate::h2::H2Body`]).
pub(crate) trait StreamedBody: Send {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>>;
    fn is_end_stream(&self) -> bool;
    fn size_hint(&self) -> SizeHint;
    /// For `Incoming`'s `Debug`.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

pub(crate) struct H1Body {
    conn: Option<H1Conn>,
    decoder: Decoder,
    pool: Option<Pool>,
    reusable: bool,
    t: Tracer,
    deadline: Option<Pin<Box<Sleep>>>,
    bytes: u64,
    pending_trailers: Option<http::HeaderMap>,
    finished: bool,
    url: http::Uri,
    /// The rest of the request body, when the server answered before it was all sent.
    pending_write: Option<RequestWriter>,
    /// A socket read has returned `Pending` mid-body and no data has come since: the quick ACK
    /// for this stall was already requested, so spurious polls make no more syscalls.
    stalled: bool,
}

impl Incoming {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn h1(
        conn: H1Conn,
        framing: Framing,
        limits: &Limits,
        pool: Option<Pool>,
        reusable: bool,
        t: Tracer,
        deadline: Option<Pin<Box<Sleep>>>,
        url: http::Uri,
        pending_write: Option<RequestWriter>,
    ) -> Incoming {
        let info = conn.info.clone();
        let bodiless = matches!(framing, Framing::Empty | Framing::Length(0));
        let mut body = Box::new(H1Body {
            conn: Some(conn),
            decoder: Decoder::new(framing, limits),
            pool,
            reusable,
            t,
            deadline,
            bytes: 0,
            pending_trailers: None,
            finished: false,
            url,
            pending_write,
            stalled: false,
        });
        if bodiless {
            // Go returns the connection before RoundTrip returns when there is no body.
            body.finish_ok();
            return Incoming {
                inner: Inner::Empty,
                conn: Some(info),
            };
        }
        Incoming {
            inner: Inner::Body(body),
            conn: Some(info),
        }
    }

    pub(crate) fn h2(body: crate::h2::H2Body, conn: Arc<ConnInfo>) -> Incoming {
        Incoming {
            inner: Inner::Body(Box::new(body)),
            conn: Some(conn),
        }
    }

    /// The connection the response came on: addresses, id, protocol, TLS state, proxy.
    pub fn conn_info(&self) -> Option<&ConnInfo> {
        self.conn.as_deref()
    }

    /// Read the next chunk of data; `Ok(None)` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match poll_fn(|cx| Pin::new(&mut *self).poll_frame(cx)).await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }

    /// Read the whole body into memory.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out.freeze())
    }

    /// Read the whole body, counting and discarding the bytes.
    pub async fn drain(mut self) -> Result<u64, Error> {
        let mut n = 0u64;
        while let Some(c) = self.chunk().await? {
            n += c.len() as u64;
        }
        Ok(n)
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Empty => f.write_str("Incoming(empty)"),
            Inner::Body(b) => b.describe(f),
        }
    }
}

impl HttpBody for Incoming {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.get_mut().inner {
            Inner::Empty => Poll::Ready(None),
            Inner::Body(b) => b.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Empty => true,
            Inner::Body(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Empty => SizeHint::with_exact(0),
            Inner::Body(b) => b.size_hint(),
        }
    }
}

impl StreamedBody for H1Body {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        H1Body::poll_frame(self, cx)
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.kind() {
            Framing::Length(n) => SizeHint::with_exact(n.saturating_sub(self.bytes)),
            Framing::Empty => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Incoming(HTTP/1.1, {:?})", self.decoder.kind())
    }
}

impl H1Body {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(t) = self.pending_trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            self.drive_write(cx);
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match self.decoder.decode(&mut conn.read_buf) {
                Ok(Decoded::Data(b)) => {
                    self.bytes += b.len() as u64;
                    if self.decoder.is_done() {
                        // The last byte of a Content-Length body: release the connection now,
                        // so `is_end_stream` is true with the data (Go returns EOF with it).
                        self.finish_ok();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Ok(Decoded::Done { trailers }) => {
                    self.finish_ok();
                    return match trailers {
                        Some(t) if !t.is_empty() => Poll::Ready(Some(Ok(Frame::trailers(t)))),
                        _ => Poll::Ready(None),
                    };
                }
                Ok(Decoded::NeedMore) => {}
                Err(e) => {
                    let err = Error::with(Kind::ResponseBody, e).with_url(&self.url);
                    self.finish_err(err.clone());
                    return Poll::Ready(Some(Err(err)));
                }
            }
            if let Some(d) = self.deadline.as_mut() {
                if d.as_mut().poll(cx).is_ready() {
                    let err = Error::timeout(TimeoutKind::Request).with_url(&self.url);
                    self.finish_err(err.clone());
                    return Poll::Ready(Some(Err(err)));
                }
            }
            // The rest of a Content-Length body is asked for in one read.
            let expect = match self.decoder.kind() {
                Framing::Length(n) => n.saturating_sub(self.bytes + conn.read_buf.len() as u64),
                _ => 0,
            };
            match conn.poll_fill(expect, cx) {
                Poll::Pending => {
                    // The body stalled mid-way: send our delayed ACK now, once per stall. A
                    // sender holding its last short segment under Nagle until everything before
                    // is acknowledged would otherwise wait out the delayed-ACK timer (~40 ms).
                    // Bodies that arrive whole never get here.
                    if !self.stalled {
                        self.stalled = true;
                        conn.io.ack_now();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => match self.decoder.decode_eof() {
                    Ok(Decoded::Done { .. }) | Ok(Decoded::NeedMore) => {
                        // Close-delimited body ended with the connection.
                        self.reusable = false;
                        self.finish_ok();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::Data(b)) => {
                        self.bytes += b.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(b))));
                    }
                    Err(e) => {
                        let err = Error::with(Kind::ResponseBody, e).with_url(&self.url);
                        self.finish_err(err.clone());
                        return Poll::Ready(Some(Err(err)));
                    }
                },
                Poll::Ready(Ok(_)) => self.stalled = false,
                Poll::Ready(Err(e)) => {
                    let err = Error::with(Kind::ResponseBody, e).with_url(&self.url);
                    self.finish_err(err.clone());
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }

    /// Keep writing the request body the server answered early (Go's write loop goes on after
    /// RoundTrip returned); `wrote_request` fires when it ends.
    fn drive_write(&mut self, cx: &mut Context<'_>) {
        let (Some(w), Some(conn)) = (self.pending_write.as_mut(), self.conn.as_mut()) else {
            return;
        };
        let (io, buf) = conn.io_and_write_buf();
        match w.poll_write(io, buf, cx) {
            Poll::Pending => {}
            Poll::Ready(Ok(())) => {
                self.pending_write = None;
                self.t.wrote_request(&WroteRequestInfo { err: None });
            }
            Poll::Ready(Err(f)) => {
                self.pending_write = None;
                conn.broken = true;
                self.reusable = false;
                self.t.wrote_request(&WroteRequestInfo { err: Some(f.err) });
            }
        }
    }

    /// The response ended while the request body was still being written: the connection is
    /// out of step, so it is closed instead of pooled.
    fn abandon_write(&mut self) {
        if self.pending_write.take().is_some() {
            self.reusable = false;
            self.t.wrote_request(&WroteRequestInfo {
                err: Some(Error::write_abandoned("ended first")),
            });
        }
    }

    /// The body reached its end: return the connection (Go: `tryPutIdleConn` before the final
    /// read returns) or close it.
    fn finish_ok(&mut self) {
        self.abandon_write();
        self.finished = true;
        let Some(conn) = self.conn.take() else { return };
        let outcome = match (&self.pool, self.reusable) {
            (Some(pool), true) => pool.put(conn, &self.t),
            (None, _) => {
                close_conn(conn, CloseReason::KeepAliveDisabled, &self.t);
                ConnOutcome::Closed
            }
            (Some(_), false) => {
                close_conn(conn, CloseReason::NotReusable, &self.t);
                ConnOutcome::Closed
            }
        };
        self.t.response_body_done(&BodyDoneInfo {
            bytes: self.bytes,
            err: None,
            conn_outcome: outcome,
        });
    }

    fn finish_err(&mut self, err: Error) {
        self.abandon_write();
        self.finished = true;
        if let Some(conn) = self.conn.take() {
            close_conn(conn, CloseReason::Error, &self.t);
        }
        self.t.response_body_done(&BodyDoneInfo {
            bytes: self.bytes,
            err: Some(err),
            conn_outcome: ConnOutcome::Closed,
        });
    }
}

impl Drop for H1Body {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.abandon_write();
        if let Some(conn) = self.conn.take() {
            close_conn(conn, CloseReason::BodyDropped, &self.t);
            self.t.response_body_done(&BodyDoneInfo {
                bytes: self.bytes,
                err: Some(Error::with(
                    Kind::Canceled,
                    msg("response body dropped before its end"),
                )),
                conn_outcome: ConnOutcome::Closed,
            });
        }
    }
}
