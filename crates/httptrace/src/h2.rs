//! HTTP/2 with the `h2` crate: shared connections per route key, one stream per request, and
//! the hooks where Go's HTTP/2 transport fires them (`http2ClientConn.RoundTrip`,
//! `encodeHeaders`, `writeRequest`, the read loop's `processHeaders` / `handleResponse`).
//!
//! Differences from HTTP/1.1, as in Go: `get_conn` reports the target (never the proxy);
//! `got_conn` fires per stream with `reused = false` only for the first stream of a connection
//! and `was_idle` when no other stream was open; header fields are reported one (name, value)
//! pair at a time with lower-case names, pseudo-header fields first; `got_1xx_response` comes
//! before `got_100_continue`; `put_idle_conn` never fires.

use std::borrow::Cow;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version};
use http_body::{Frame, SizeHint};
use httptrace_proto::h1::{InvalidRequest, ProtoError};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::body::{Body, BodyKind};
use crate::client::{conn_info, host_header, new_h1_conn, ClientInner, Config};
use crate::dial::{AlpnMode, Boxed};
use crate::error::{msg, Error, Kind, TimeoutKind};
use crate::h1::conn::H1Conn;
use crate::h1::round_trip::MAX_1XX;
use crate::incoming::Incoming;
use crate::pool::SlotGuard;
use crate::route::{KeyMap, PoolKey, Route};
use crate::stream::Stream;
use crate::trace::{
    BodyDoneInfo, ConnInfo, ConnOutcome, GotConnInfo, HeaderValues, Protocol, ResponseHeadersInfo,
    RetryReason, Tracer, WroteRequestInfo,
};

/// Stream-level receive window we advertise: Go's `transportDefaultStreamFlow` (4 MiB; the
/// protocol's default 64 KiB makes large bodies crawl). It bounds what one stream's unread
/// body can hold of the connection's window.
const STREAM_WINDOW: u32 = 4 << 20;
/// Connection-level receive window: Go's `transportDefaultConnFlow` (1 GiB). It must be far
/// larger than the stream window: every stream's unread data counts against it, so with a
/// window of two stream windows, two responses held unread stalled every other stream of the
/// shared connection. A window is a credit, not a buffer: what is held stays bounded by the
/// stream window per unread stream.
const CONN_WINDOW: u32 = 1 << 30;

/// Shared HTTP/2 connections, per route key.
#[derive(Default)]
pub(crate) struct H2Pool {
    state: Mutex<PoolState>,
    /// A connection with no stream open for longer than this is not handed out again (the
    /// client's `idle_timeout`, Go's `IdleConnTimeout`, which HTTP/2 connections obey too).
    idle_timeout: Option<Duration>,
}

#[derive(Default)]
struct PoolState {
    conns: KeyMap<Vec<H2Conn>>,
    /// A dial in progress for the key that may yield an HTTP/2 connection; others wait for it.
    dialing: KeyMap<watch::Receiver<()>>,
}

/// A handle on one shared HTTP/2 connection.
#[derive(Clone)]
pub(crate) struct H2Conn {
    shared: Arc<Shared>,
}

struct Shared {
    send: SendRequest<Bytes>,
    info: Arc<ConnInfo>,
    /// The target's `host:port`, what `get_conn` reports for a request this connection serves
    /// from the cache (formatted once, not per request).
    target_host_port: Box<str>,
    /// Go's `cc.reused`: flipped by the first stream.
    used: AtomicBool,
    /// Set when the connection task ended or the server sent GOAWAY.
    closed: Arc<AtomicBool>,
    streams: Mutex<Streams>,
    /// The connection's slot under `max_conns_per_host`, freed when the last handle goes.
    _slot: Option<SlotGuard>,
}

struct Streams {
    open: usize,
    /// When `open` last dropped to 0: a traced request's `idle_time`, and the idle timeout.
    idle_since: Option<Instant>,
}

/// The result of [`connect`]: ALPN may have chosen HTTP/1.1.
pub(crate) enum Connected {
    H2(H2Conn),
    H1(H1Conn),
}

/// A failed HTTP/2 attempt, with the retry reason when the stream was provably not processed.
pub(crate) struct H2Error {
    pub(crate) err: Error,
    pub(crate) retry: Option<RetryReason>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl H2Pool {
    /// An empty pool whose connections expire after `idle_timeout` without a stream.
    pub(crate) fn new(idle_timeout: Option<Duration>) -> H2Pool {
        H2Pool {
            state: Mutex::default(),
            idle_timeout,
        }
    }

    /// The dial in progress for `key`, if any: its receiver ends when that dial does.
    pub(crate) fn dial_in_progress(&self, key: &PoolKey) -> Option<watch::Receiver<()>> {
        lock(&self.state).dialing.get(key).cloned()
    }

    /// Wait for the dial behind `dialing` to end, then check out the connection it made for
    /// `key`, if it made one (it may have failed, or yielded HTTP/1.1).
    pub(crate) async fn join_dial(
        &self,
        mut dialing: watch::Receiver<()>,
        key: &PoolKey,
        t: &Tracer,
    ) -> Option<H2Conn> {
        // Ends when the dialer drops its sender.
        let _ = dialing.changed().await;
        self.checkout(key, t)
    }

    /// A live connection for `key`, with a stream accounted for the request (`acquire`).
    pub(crate) fn checkout(&self, key: &PoolKey, t: &Tracer) -> Option<H2Conn> {
        let conn = self.find(key)?;
        conn.acquire(t);
        Some(conn)
    }

    /// A live connection for `key`, if any (no stream accounted yet: call `acquire`). Like
    /// Go's `CanTakeNewRequest`, a connection that received GOAWAY or failed is never handed
    /// out: the h2 handle is polled once, without waiting, to learn that.
    pub(crate) fn find(&self, key: &PoolKey) -> Option<H2Conn> {
        let mut st = lock(&self.state);
        let list = st.conns.get_mut(key)?;
        let c = pick(list, self.idle_timeout);
        if list.is_empty() {
            st.conns.remove(key);
        }
        c
    }

    /// Pool a new connection, unless one that can take the request is already there (two
    /// dials for one key raced): then that one is used and the new one closed, as Go's
    /// `addConnIfNeeded` does.
    fn insert_or_shared(&self, key: &PoolKey, conn: H2Conn) -> H2Conn {
        let mut st = lock(&self.state);
        let list = st.conns.entry(key.clone()).or_default();
        if let Some(existing) = pick(list, self.idle_timeout) {
            return existing;
        }
        list.push(conn.clone());
        conn
    }

    /// Forget every connection; streams in flight finish, then the connections close.
    pub(crate) fn close_idle(&self) {
        let mut st = lock(&self.state);
        // Go's closeIfIdle: a connection with streams in flight stays, and keeps being shared.
        for list in st.conns.values_mut() {
            list.retain(|c| {
                let busy = lock(&c.shared.streams).open > 0;
                if !busy {
                    c.mark_closed();
                }
                busy
            });
        }
        st.conns.retain(|_, list| !list.is_empty());
    }
}

/// Drop the connections of `list` that can take no request again (closed, GOAWAY, idle past
/// `idle_timeout`) and pick one with room for a stream: Go's default
/// (StrictMaxConcurrentStreams off) passes over a connection at the server's stream limit, and
/// another one is dialed.
fn pick(list: &mut Vec<H2Conn>, idle_timeout: Option<Duration>) -> Option<H2Conn> {
    let mut found = None;
    list.retain(|c| match c.availability(idle_timeout) {
        Availability::Gone => false,
        Availability::Full => true,
        Availability::Room => {
            if found.is_none() {
                found = Some(c.clone());
            }
            true
        }
    });
    found
}

/// What a pooled connection can do for a new request.
enum Availability {
    /// Nothing: closed, refused by the server, or idle past the idle timeout.
    Gone,
    /// Its streams go on, but it is at the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    Full,
    /// It takes a new stream.
    Room,
}

impl H2Conn {
    /// Account for a new stream and fire `got_conn` with Go's h2 rule.
    pub(crate) fn acquire(&self, t: &Tracer) {
        let reused = self.shared.used.swap(true, Ordering::AcqRel);
        let (was_idle, idle_since) = {
            let mut s = lock(&self.shared.streams);
            let was_idle = s.open == 0 && reused;
            s.open += 1;
            (was_idle, s.idle_since)
        };
        if t.is_active() {
            let idle_time = match idle_since {
                Some(since) if was_idle => since.elapsed(),
                _ => Duration::ZERO,
            };
            // A hook that panics unwinds the request before the stream's guard exists: take the
            // stream back off the count then, or the connection never looks idle again.
            struct Undo<'a>(&'a H2Conn);
            impl Drop for Undo<'_> {
                fn drop(&mut self) {
                    self.0.release();
                }
            }
            let undo = Undo(self);
            t.got_conn(&GotConnInfo {
                conn: self.shared.info.clone(),
                reused,
                was_idle,
                idle_time,
            });
            std::mem::forget(undo);
        }
    }

    fn release(&self) {
        let mut s = lock(&self.shared.streams);
        s.open = s.open.saturating_sub(1);
        if s.open == 0 {
            s.idle_since = Some(Instant::now());
        }
    }

    /// The target's `host:port` (see `Shared::target_host_port`).
    pub(crate) fn target_host_port(&self) -> &str {
        &self.shared.target_host_port
    }

    /// One look at the stream count decides idle expiry and room; h2's own lock (for the
    /// server's stream limit) is taken only when streams are open.
    fn availability(&self, idle_timeout: Option<Duration>) -> Availability {
        if !self.is_usable() {
            return Availability::Gone;
        }
        let (open, idle_since) = {
            let s = lock(&self.shared.streams);
            (s.open, s.idle_since)
        };
        if open == 0 {
            let expired =
                matches!((idle_timeout, idle_since), (Some(max), Some(t)) if t.elapsed() > max);
            if expired {
                self.mark_closed();
                return Availability::Gone;
            }
            return Availability::Room;
        }
        if open < self.shared.send.current_max_send_streams() {
            Availability::Room
        } else {
            Availability::Full
        }
    }

    /// Not closed, and the h2 connection accepts new streams (no GOAWAY, no error). A
    /// connection at its stream limit is usable (its streams go on) but takes no new request
    /// (see [`pick`]).
    fn is_usable(&self) -> bool {
        if self.shared.closed.load(Ordering::Acquire) {
            return false;
        }
        let mut send = self.shared.send.clone();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match send.poll_ready(&mut cx) {
            Poll::Ready(Err(_)) => {
                self.mark_closed();
                false
            }
            _ => true,
        }
    }

    fn mark_closed(&self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// Releases the stream slot accounting when the exchange ends.
struct StreamGuard(H2Conn);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Dial for a request that may speak HTTP/2. Concurrent requests for the same key wait for one
/// dial instead of each opening a connection; if that dial does not yield HTTP/2, they dial
/// their own.
pub(crate) async fn connect(
    client: &Arc<ClientInner>,
    route: &Route,
    key: &PoolKey,
    alpn: AlpnMode,
    t: &Tracer,
    slot: Option<SlotGuard>,
) -> Result<Connected, Error> {
    if !client.cfg.keep_alive {
        // Go: keep-alive off makes every HTTP/2 connection single-use.
        return dial_h2(client, route, key, alpn, t, None, slot).await;
    }
    let mut slot = slot;
    let mut waited = false;
    loop {
        // A connection that appeared meanwhile (after a wait for a connection slot, or made by
        // a dial this request joined) serves it; its slot, if any, is released.
        if let Some(c) = client.h2.checkout(key, t) {
            return Ok(Connected::H2(c));
        }
        // Either join the dial in progress for this key, or become its dialer.
        let joined: Result<watch::Receiver<()>, Option<watch::Sender<()>>> = if waited {
            Err(None)
        } else {
            let mut st = lock(&client.h2.state);
            match st.dialing.get(key) {
                Some(rx) => Ok(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(());
                    st.dialing.insert(key.clone(), rx);
                    Err(Some(tx))
                }
            }
        };
        match joined {
            Ok(rx) => {
                waited = true;
                if let Some(c) = client.h2.join_dial(rx, key, t).await {
                    return Ok(Connected::H2(c));
                }
            }
            Err(tx) => return dial_h2(client, route, key, alpn, t, tx, slot.take()).await,
        }
    }
}

async fn dial_h2(
    client: &Arc<ClientInner>,
    route: &Route,
    key: &PoolKey,
    alpn: AlpnMode,
    t: &Tracer,
    done: Option<watch::Sender<()>>,
    slot: Option<SlotGuard>,
) -> Result<Connected, Error> {
    // Whatever happens, let waiters go once this function returns (when we registered as the
    // key's dialer).
    struct Unregister<'a> {
        client: &'a ClientInner,
        key: &'a PoolKey,
        done: Option<watch::Sender<()>>,
    }
    impl Drop for Unregister<'_> {
        fn drop(&mut self) {
            if self.done.take().is_some() {
                lock(&self.client.h2.state).dialing.remove(self.key);
            }
        }
    }
    let _unregister = Unregister { client, key, done };
    let dialed = client.dialer.dial(route, alpn, t).await?;
    let _ = alpn;
    let prior_knowledge = client.cfg.http == crate::client::HttpMode::Http2PriorKnowledge;
    if !(dialed.negotiated_h2 || prior_knowledge) {
        let mut conn = new_h1_conn(dialed, key.clone(), route);
        conn.slot = slot;
        if t.is_active() {
            t.got_conn(&GotConnInfo {
                conn: conn.info.clone(),
                reused: false,
                was_idle: false,
                idle_time: Duration::ZERO,
            });
        }
        return Ok(Connected::H1(conn));
    }
    let info = Arc::new(conn_info(&dialed, route, Protocol::Http2));
    let (send, closed) = handshake(dialed.stream, client.cfg.limits.max_head_bytes).await?;
    let conn = H2Conn {
        shared: Arc::new(Shared {
            send,
            info,
            target_host_port: route.target_host_port().into_boxed_str(),
            used: AtomicBool::new(false),
            closed,
            streams: Mutex::new(Streams {
                open: 0,
                idle_since: None,
            }),
            _slot: slot,
        }),
    };
    let conn = if client.cfg.keep_alive {
        client.h2.insert_or_shared(key, conn)
    } else {
        conn
    };
    conn.acquire(t);
    Ok(Connected::H2(conn))
}

/// The HTTP/2 handshake on a dialed stream (the client preface and SETTINGS sent), and the
/// connection's task spawned; the flag is set when that task ends.
///
/// Boxed: the handshake future and the connection it yields are kilobytes each, and awaited
/// in [`dial_h2`] they took 9.4 KB of its frame, which is on the stack under the TLS
/// handshake's deepest calls (certificate verification); built and moved here, they never are
/// (`dial_h2`'s frame is 0.6 KB now).
fn handshake(
    stream: Stream,
    max_head_bytes: usize,
) -> Boxed<'static, (SendRequest<Bytes>, Arc<AtomicBool>)> {
    Box::pin(async move {
        let mut builder = h2::client::Builder::new();
        builder
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_header_list_size(u32::try_from(max_head_bytes).unwrap_or(u32::MAX))
            .enable_push(false);
        let (send, connection) = builder
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(|e| Error::with(Kind::Http2, e))?;
        let closed = Arc::new(AtomicBool::new(false));
        let task_closed = closed.clone();
        crate::outlined::spawn_task(async move {
            let _ = connection.await;
            task_closed.store(true, Ordering::Release);
        });
        Ok((send, closed))
    })
}

/// Classify an h2 error: was the stream refused before the server processed it?
fn classify(e: h2::Error, conn: &H2Conn) -> H2Error {
    if e.is_go_away() {
        conn.mark_closed();
    }
    let retry = if e.reason() == Some(Reason::REFUSED_STREAM) {
        Some(RetryReason::RefusedStream)
    } else if e.is_go_away() && e.is_remote() {
        Some(RetryReason::GoAway)
    } else {
        None
    };
    let kind = if e.is_io() { Kind::Io } else { Kind::Http2 };
    if e.is_io() {
        conn.mark_closed();
    }
    H2Error {
        err: Error::with(kind, e),
        retry,
    }
}

fn fail(err: Error) -> H2Error {
    H2Error { err, retry: None }
}

/// Connection-specific fields that HTTP/2 forbids (RFC 9113 §8.2.2).
fn is_connection_specific(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "proxy-connection" | "keep-alive" | "transfer-encoding" | "upgrade" | "host"
    )
}

/// The `:path` pseudo-header field for `url`: its path and query, with a leading `/` when the
/// URL has none (`https://host?x=1` is `/?x=1`: RFC 9113 §8.3.1 gives an http or https request
/// without a path the path `/`, and HTTP/1.1 sends `/?x=1` too; Go's `URL.RequestURI` does the
/// same). `*` (`OPTIONS *`) stays. Computed once, so that the traced field is what is sent.
fn path_pseudo_header(url: &Uri) -> Cow<'_, str> {
    match url.path_and_query().map_or("", |p| p.as_str()) {
        "" => Cow::Borrowed("/"),
        pq if pq.starts_with('/') || pq == "*" => Cow::Borrowed(pq),
        pq => Cow::Owned(format!("/{pq}")),
    }
}

/// One request on a shared HTTP/2 connection.
///
/// Not an `async fn`, whose state would hold every argument twice (the argument, and the
/// local it is moved to): the block captures them once. The `http::Request` handed to `h2`
/// (224 bytes) is built in a block that ends before the next await, so no state holds it.
#[allow(clippy::too_many_arguments, clippy::manual_async_fn)] // not async: see above
pub(crate) fn round_trip<'a>(
    conn: H2Conn,
    method: &'a Method,
    url: &'a Uri,
    headers: &'a HeaderMap,
    body: Body,
    cfg: &'a Config,
    t: &'a Tracer,
    deadline: Option<Instant>,
) -> impl Future<Output = Result<Response<Incoming>, H2Error>> + 'a {
    async move {
        let guard = StreamGuard(conn.clone());
        let expect_continue = cfg.expect_continue_timeout > Duration::ZERO
            && !body.is_empty()
            && headers
                .get_all(http::header::EXPECT)
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        // ---- build the request (Go: encodeHeaders)
        let authority = host_header(url, headers);
        let pq = path_pseudo_header(url);
        let scheme = url.scheme_str().unwrap_or("https");
        // The URL as given when it already is what goes on the wire (no userinfo, no Host
        // header override, its path and query are `:path`): sharing its bytes instead of
        // parsing and copying them again saves two allocations per request. Built before
        // waiting for a stream: a request that cannot be sent fails at once.
        let same_authority = url.authority().map(|a| a.as_str()) == Some(authority.as_ref());
        let uri = if same_authority && url.path_and_query().map(|p| p.as_str()) == Some(&*pq) {
            url.clone()
        } else {
            Uri::builder()
                .scheme(scheme)
                .authority(authority.as_ref())
                .path_and_query(pq.as_ref())
                .build()
                .map_err(|e| fail(Error::with(Kind::InvalidRequest, e)))?
        };
        // ---- open the stream
        let send = conn.shared.send.clone();
        let mut send = send.ready().await.map_err(|e| classify(e, &conn))?;
        let end_of_stream = body.is_empty() && !body.is_unended_empty_stream();
        let (resp_fut, send_stream) = {
            let mut req = Request::new(());
            *req.method_mut() = method.clone();
            *req.uri_mut() = uri;
            *req.version_mut() = Version::HTTP_2;
            {
                let h = req.headers_mut();
                for (name, value) in headers {
                    if is_connection_specific(name) {
                        continue;
                    }
                    if name == http::header::TE {
                        // HTTP/2 allows `TE` with `trailers` only (RFC 9113 §8.2.2). The token
                        // is case-insensitive, but h2 refuses any bytes but `trailers` with a
                        // user error, after the stream slot was taken: send it normalised.
                        if value.as_bytes().eq_ignore_ascii_case(b"trailers") {
                            h.append(name.clone(), HeaderValue::from_static("trailers"));
                        }
                        continue;
                    }
                    if name == http::header::CONTENT_LENGTH {
                        continue;
                    }
                    if name == http::header::USER_AGENT && value.is_empty() {
                        continue;
                    }
                    h.append(name.clone(), value.clone());
                }
                match body.len() {
                    Some(0) if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {}
                    Some(n) => {
                        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
                    }
                    None => {}
                }
                if !headers.contains_key(http::header::USER_AGENT) {
                    if let Some(ua) = &cfg.user_agent {
                        h.insert(http::header::USER_AGENT, ua.clone());
                    }
                }
            }
            // ---- send HEADERS
            // Go reports the fields as it HPACK-encodes them, once the stream slot is obtained.
            if t.wants_header_fields() {
                t.wrote_header_field(":authority", HeaderValues::bytes(authority.as_bytes()));
                t.wrote_header_field(":method", HeaderValues::bytes(method.as_str().as_bytes()));
                t.wrote_header_field(":path", HeaderValues::bytes(pq.as_bytes()));
                t.wrote_header_field(":scheme", HeaderValues::bytes(scheme.as_bytes()));
                for (name, value) in req.headers() {
                    t.wrote_header_field(name.as_str(), HeaderValues::one(value));
                }
            }

            send.send_request(req, end_of_stream)
                .map_err(|e| classify(e, &conn))?
        };
        t.wrote_headers();

        let mut ex = Exchange {
            resp_fut,
            sender: BodySender {
                stream: Some(send_stream),
                body: match body.kind {
                    BodyKind::Empty => Src::Done,
                    BodyKind::Full(b) if b.is_empty() => Src::Done,
                    BodyKind::Full(b) => Src::Full(Some(b)),
                    BodyKind::Stream { body, len } => Src::Stream {
                        body,
                        declared: len,
                        sent: 0,
                    },
                },
                chunk: None,
                done: end_of_stream,
                conn: conn.clone(),
            },
            continuing: false,
            t,
            conn: &conn,
            got_first_byte: false,
            n1xx: 0,
            final_head: None,
            withheld: false,
        };

        // ---- Expect: 100-continue (Go's h2 writeRequest select)
        let mut expect_timer = None;
        if expect_continue {
            t.wait_100_continue();
            let timer =
                expect_timer.insert(Box::pin(tokio::time::sleep(cfg.expect_continue_timeout)));
            match poll_fn(|cx| ex.poll_wait_continue(cx, timer.as_mut())).await {
                Ok(()) => {}
                Err(e) => {
                    t.wrote_request(&WroteRequestInfo {
                        err: Some(e.err.clone()),
                    });
                    return Err(e);
                }
            }
        }

        // ---- body and response concurrently
        let write_res = if ex.continuing {
            Ok(())
        } else {
            // The timer only matters while waiting for 100 Continue.
            expect_timer = None;
            poll_fn(|cx| ex.poll_send_body(cx)).await
        };
        match &write_res {
            // The body goes on after the response returns; see below.
            Ok(()) if ex.continuing => {}
            Ok(()) if ex.withheld => t.wrote_request(&WroteRequestInfo {
                err: Some(Error::with(
                    Kind::Http2,
                    msg("aborting request body write: the server answered with a final status"),
                )),
            }),
            Ok(()) => t.wrote_request(&WroteRequestInfo { err: None }),
            Err(e) => t.wrote_request(&WroteRequestInfo {
                err: Some(e.err.clone()),
            }),
        }
        if let Err(e) = write_res {
            if ex.final_head.is_none() {
                return Err(e);
            }
        }
        if ex.final_head.is_none() {
            let mut timer = cfg
                .response_header_timeout
                .map(|d| Box::pin(tokio::time::sleep(d)));
            poll_fn(|cx| {
                if let Some(tm) = timer.as_mut() {
                    if tm.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(fail(Error::timeout(TimeoutKind::ResponseHeader))));
                    }
                }
                loop {
                    match ex.poll_head(cx, true) {
                        Poll::Ready(Ok(Head::Final)) => return Poll::Ready(Ok(())),
                        Poll::Ready(Ok(Head::Interim(_))) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            })
            .await?;
        }
        let Some(resp) = ex.final_head.take() else {
            return Err(fail(Error::with(Kind::Http2, msg("no response head"))));
        };
        // The upload task's cancellation: the response body drops this sender when it ends or
        // is dropped.
        let mut upload_cancel = None;
        if ex.continuing {
            // Finish the body on its own task (Go's writeRequest goroutine): the response must not
            // wait for an upload the server answers while it streams.
            let (cancel_tx, mut canceled) = tokio::sync::oneshot::channel::<()>();
            upload_cancel = Some(cancel_tx);
            let mut sender = std::mem::replace(
                &mut ex.sender,
                BodySender {
                    stream: None,
                    body: Src::Done,
                    chunk: None,
                    done: true,
                    conn: conn.clone(),
                },
            );
            let t2 = t.clone();
            crate::outlined::spawn_task(async move {
                let mut timer = expect_timer;
                let res = poll_fn(|cx| {
                    let waiting = match timer.as_mut() {
                        Some(t) => t.as_mut().poll(cx).is_pending(),
                        None => false,
                    };
                    if !waiting {
                        timer = None;
                        if let Poll::Ready(r) = sender.poll_send(cx) {
                            return Poll::Ready(r.map_err(Some));
                        }
                    }
                    // The response ended (or was dropped) first: the stream's request side is
                    // abandoned (Go resets the stream when the response body is closed), or
                    // an upload the server stopped reading would hold the stream, and a
                    // stream slot of the shared connection, for good.
                    match Pin::new(&mut canceled).poll(cx) {
                        Poll::Ready(_) => Poll::Ready(Err(None)),
                        Poll::Pending => Poll::Pending,
                    }
                })
                .await;
                let err = match res {
                    Ok(()) => None,
                    Err(Some(e)) => Some(e.err),
                    Err(None) => {
                        if let Some(s) = sender.stream.as_mut() {
                            s.send_reset(Reason::CANCEL);
                        }
                        Some(Error::write_abandoned("ended first"))
                    }
                };
                t2.wrote_request(&WroteRequestInfo { err });
            });
        }
        let (parts, recv) = resp.into_parts();
        t.got_response_headers(&ResponseHeadersInfo {
            status: parts.status,
            version: Version::HTTP_2,
        });
        let pending_reset = if ex.withheld {
            ex.sender.stream.take()
        } else {
            None
        };
        let body = H2Body {
            recv,
            t: t.clone(),
            bytes: 0,
            done: false,
            pending_trailers: None,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            pending_reset,
            upload_cancel,
            _guard: guard,
            url: url.clone(),
        };
        Ok(Response::from_parts(
            parts,
            Incoming::h2(body, conn.shared.info.clone()),
        ))
    }
}

enum Src {
    Done,
    Full(Option<Bytes>),
    Stream {
        body: crate::body::DynBody,
        /// The length the body declared (sent as `content-length`), checked against `sent`.
        declared: Option<u64>,
        /// Bytes the body yielded so far.
        sent: u64,
    },
}

struct Exchange<'a> {
    resp_fut: ResponseFuture,
    sender: BodySender,
    /// The final head arrived before the body was all sent.
    continuing: bool,
    t: &'a Tracer,
    conn: &'a H2Conn,
    got_first_byte: bool,
    n1xx: u32,
    final_head: Option<Response<RecvStream>>,
    /// The body was not sent because a final status ≥ 300 came first.
    withheld: bool,
}

enum Head {
    Interim(u16),
    Final,
}

impl Exchange<'_> {
    fn first_byte(&mut self) {
        if !self.got_first_byte {
            self.got_first_byte = true;
            self.t.got_first_response_byte();
        }
    }

    /// Poll for the next response head. `Ready(Ok(Interim))` after the 1xx hooks ran.
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        _final_wanted: bool,
    ) -> Poll<Result<Head, H2Error>> {
        if self.final_head.is_some() {
            return Poll::Ready(Ok(Head::Final));
        }
        match self.resp_fut.poll_informational(cx) {
            Poll::Ready(Some(Ok(info))) => {
                self.first_byte();
                self.n1xx += 1;
                if self.n1xx > MAX_1XX {
                    self.reset(Reason::PROTOCOL_ERROR);
                    return Poll::Ready(Err(fail(Error::new(Kind::TooMany1xx))));
                }
                let status = info.status();
                if let Err(e) = self.t.got_1xx_response(status, info.headers()) {
                    self.reset(Reason::PROTOCOL_ERROR);
                    return Poll::Ready(Err(fail(Error::with(Kind::Hook, e))));
                }
                if status.as_u16() == 100 {
                    self.t.got_100_continue();
                }
                return Poll::Ready(Ok(Head::Interim(status.as_u16())));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(classify(e, self.conn))),
            Poll::Ready(None) | Poll::Pending => {}
        }
        match Pin::new(&mut self.resp_fut).poll(cx) {
            Poll::Ready(Ok(resp)) => {
                self.first_byte();
                self.final_head = Some(resp);
                Poll::Ready(Ok(Head::Final))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(classify(e, self.conn))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn reset(&mut self, reason: Reason) {
        if let Some(s) = self.sender.stream.as_mut() {
            s.send_reset(reason);
        }
    }

    /// Wait for `100 Continue` or the timer; a final status ≥ 300 withholds the body (Go closes
    /// the request body), a final status below waits for the timer like Go.
    fn poll_wait_continue(
        &mut self,
        cx: &mut Context<'_>,
        mut timer: Pin<&mut Sleep>,
    ) -> Poll<Result<(), H2Error>> {
        loop {
            if self.final_head.is_some() {
                let status = self
                    .final_head
                    .as_ref()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                if status >= 300 {
                    self.withheld = true;
                    self.sender.done = true;
                    return Poll::Ready(Ok(()));
                }
                // A success before 100: the response goes back now; the body still waits for
                // the timer (Go), on the upload task.
                self.continuing = true;
                return Poll::Ready(Ok(()));
            }
            match self.poll_head(cx, false) {
                Poll::Ready(Ok(Head::Interim(100))) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    /// Send the body with flow control while watching for the response.
    fn poll_send_body(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), H2Error>> {
        loop {
            if self.sender.done {
                return Poll::Ready(Ok(()));
            }
            // Watch the response side (1xx hooks, early final head).
            if self.final_head.is_none() {
                match self.poll_head(cx, false) {
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            } else {
                // The final head came first: the response goes back now and the body keeps
                // going on its own task (Go's writeRequest goroutine).
                self.continuing = true;
                return Poll::Ready(Ok(()));
            }
            return self.sender.poll_send(cx);
        }
    }
}

/// The request body's sending side of a stream, with flow control.
struct BodySender {
    stream: Option<SendStream<Bytes>>,
    body: Src,
    chunk: Option<Bytes>,
    done: bool,
    conn: H2Conn,
}

impl BodySender {
    /// Send the body to its end (END_STREAM included).
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), H2Error>> {
        loop {
            if self.done {
                return Poll::Ready(Ok(()));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if self.chunk.is_none() {
                match &mut self.body {
                    Src::Done => {
                        if let Err(e) = stream.send_data(Bytes::new(), true) {
                            return Poll::Ready(Err(classify(e, &self.conn)));
                        }
                        self.done = true;
                        continue;
                    }
                    Src::Full(b) => match b.take() {
                        Some(b) => self.chunk = Some(b),
                        None => self.body = Src::Done,
                    },
                    Src::Stream {
                        body,
                        declared,
                        sent,
                    } => match body.as_mut().poll_frame(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => {
                            if let Some(d) = declared.filter(|&d| d != *sent) {
                                return Poll::Ready(Err(length_mismatch(stream, d, *sent)));
                            }
                            self.body = Src::Done;
                        }
                        Poll::Ready(Some(Ok(f))) => {
                            if let Ok(d) = f.into_data() {
                                *sent = sent.saturating_add(d.len() as u64);
                                if let Some(d) = declared.filter(|&d| *sent > d) {
                                    // The surplus is not sent (HTTP/1.1 refuses to write it
                                    // too): past `content-length` it is a protocol error.
                                    return Poll::Ready(Err(length_mismatch(stream, d, *sent)));
                                }
                                if !d.is_empty() {
                                    self.chunk = Some(d);
                                }
                            }
                        }
                        Poll::Ready(Some(Err(e))) => {
                            stream.send_reset(Reason::CANCEL);
                            return Poll::Ready(Err(fail(Error::with(Kind::RequestBody, e))));
                        }
                    },
                }
                continue;
            }
            let len = self.chunk.as_ref().map_or(0, Bytes::len);
            stream.reserve_capacity(len);
            match stream.poll_capacity(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    return Poll::Ready(Err(fail(Error::with(
                        Kind::Http2,
                        msg("stream closed while sending the request body"),
                    ))))
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(classify(e, &self.conn))),
                Poll::Ready(Some(Ok(0))) => continue,
                Poll::Ready(Some(Ok(n))) => {
                    let Some(mut chunk) = self.chunk.take() else {
                        continue;
                    };
                    let part = chunk.split_to(n.min(chunk.len()));
                    let last = chunk.is_empty() && matches!(self.body, Src::Full(None));
                    if !chunk.is_empty() {
                        self.chunk = Some(chunk);
                    }
                    if let Err(e) = stream.send_data(part, last) {
                        return Poll::Ready(Err(classify(e, &self.conn)));
                    }
                    if last {
                        self.done = true;
                    }
                }
            }
        }
    }
}

/// A streamed request body that yielded more or fewer bytes than its declared length (its
/// `content-length`): the stream is reset (a server seeing END_STREAM short of the length
/// would fail it as a protocol error of ours) and the request fails as HTTP/1.1 fails it.
#[cold]
fn length_mismatch(stream: &mut SendStream<Bytes>, declared: u64, actual: u64) -> H2Error {
    stream.send_reset(Reason::CANCEL);
    fail(Error::with(
        Kind::InvalidRequest,
        ProtoError::InvalidRequest(InvalidRequest::ContentLengthMismatch { declared, actual }),
    ))
}

/// An HTTP/2 response body.
pub(crate) struct H2Body {
    recv: RecvStream,
    t: Tracer,
    bytes: u64,
    done: bool,
    pending_trailers: Option<HeaderMap>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// The request side left open because its body was withheld; reset once the response ends.
    pending_reset: Option<SendStream<Bytes>>,
    /// The request body still being written by its own task: dropped (which cancels that
    /// upload) when the response ends or is dropped.
    upload_cancel: Option<tokio::sync::oneshot::Sender<()>>,
    _guard: StreamGuard,
    url: Uri,
}

impl crate::incoming::StreamedBody for H2Body {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        H2Body::poll_frame(self, cx)
    }

    fn is_end_stream(&self) -> bool {
        H2Body::is_end_stream(self)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        H2Body::size_hint(self)
    }

    fn describe(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Incoming(HTTP/2)")
    }
}

impl H2Body {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(t) = self.pending_trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(d) = self.deadline.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                let err = Error::timeout(TimeoutKind::Request).with_url(&self.url);
                self.finish(Some(err.clone()));
                return Poll::Ready(Some(Err(err)));
            }
        }
        match self.recv.poll_data(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                let _ = self.recv.flow_control().release_capacity(data.len());
                self.bytes += data.len() as u64;
                if self.recv.is_end_stream() {
                    // The last DATA frame (END_STREAM, nothing left to read, so no trailers):
                    // `is_end_stream` is true now, and a consumer may stop here without polling
                    // for the end, so the body ends with its data, as HTTP/1.1's does with its
                    // last byte.
                    self.finish(None);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(e))) => {
                let err = Error::with(Kind::ResponseBody, e).with_url(&self.url);
                self.finish(Some(err.clone()));
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => match self.recv.poll_trailers(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(tr)) => {
                    self.finish(None);
                    match tr {
                        Some(t) if !t.is_empty() => Poll::Ready(Some(Ok(Frame::trailers(t)))),
                        _ => Poll::Ready(None),
                    }
                }
                Poll::Ready(Err(e)) => {
                    let err = Error::with(Kind::ResponseBody, e).with_url(&self.url);
                    self.finish(Some(err.clone()));
                    Poll::Ready(Some(Err(err)))
                }
            },
        }
    }

    fn finish(&mut self, err: Option<Error>) {
        self.done = true;
        if let Some(mut s) = self.pending_reset.take() {
            s.send_reset(Reason::CANCEL);
        }
        self.upload_cancel = None;
        self.t.response_body_done(&BodyDoneInfo {
            bytes: self.bytes,
            err,
            conn_outcome: ConnOutcome::Http2Stream,
        });
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.done || self.recv.is_end_stream()
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for H2Body {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // A stream whose END_STREAM arrived and whose data was all read is a complete body,
        // whether or not the consumer polled for the end (`is_end_stream` told it not to).
        let err = (!self.recv.is_end_stream())
            .then(|| Error::with(Kind::Canceled, msg("response body dropped before its end")));
        self.finish(err);
    }
}
