//! A small HTTP/1.1 server (optionally TLS, optionally HTTP/2 via ALPN or
//! prior knowledge) driven by a synchronous handler.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use httptrace_peers::http1::{Response, Server};
//! let srv = Server::builder()
//!     .handler(|req| Response::text(format!("you asked for {}", req.target)))
//!     .start()
//!     .await?;
//! let url = srv.url("/hello"); // http://127.0.0.1:PORT/hello
//! # drop(url); Ok(()) }
//! ```

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::h2::H2Options;
use crate::util::{self, lock, BufConn, Framing, Tasks};

/// The request handler type shared by the HTTP/1.1 and HTTP/2 servers.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync + 'static>;

/// How long a closing connection keeps draining unread client bytes.
const LINGER: Duration = Duration::from_secs(2);

/// A fully read request as seen by a [`Handler`].
#[derive(Debug, Clone)]
pub struct Request {
    /// Request method.
    pub method: Method,
    /// Request target as sent (origin-form `/path?q`, absolute-form, `*`, or
    /// authority-form). For HTTP/2 it is the `:path` pseudo-header.
    pub target: String,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub version: Version,
    /// Request headers (HTTP/2 pseudo-headers excluded).
    pub headers: HeaderMap,
    /// The de-chunked request body.
    pub body: Bytes,
    /// Index (0-based, in accept order) of the connection that carried it.
    pub connection: usize,
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// Whether the connection was TLS.
    pub tls: bool,
    /// HTTP/2 `:authority` (None for HTTP/1.x).
    pub authority: Option<String>,
}

impl Request {
    /// First value of header `name` as a string, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    /// A complete body sent with `Content-Length` (added unless the handler set one).
    Full(Bytes),
    /// Sent with `Transfer-Encoding: chunked` (HTTP/2: one DATA frame per
    /// chunk), each chunk flushed, sleeping `delay` between chunks.
    Chunked {
        /// Chunks in order (empty chunks are skipped).
        chunks: Vec<Bytes>,
        /// Pause between consecutive chunks.
        delay: Duration,
    },
    /// HTTP/1: no framing headers, body ends when the server closes the
    /// connection. HTTP/2: same as `Chunked`.
    CloseDelimited {
        /// Pieces in order, each flushed.
        chunks: Vec<Bytes>,
        /// Pause between consecutive pieces.
        delay: Duration,
    },
}

/// A response produced by a [`Handler`]. Build with the helper methods.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code (written verbatim, even if unusual).
    pub status: u16,
    /// Reason phrase override (HTTP/1 only); default is the canonical one.
    pub reason: Option<String>,
    /// Header fields in order, written verbatim.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// 1xx heads written before the final head, in order.
    pub informational: Vec<(u16, Vec<(String, String)>)>,
    /// Send `Connection: close` and close after this response (HTTP/1 only).
    pub close: bool,
    /// Pause after the informational heads, before the final head.
    pub delay: Duration,
    /// Trailer fields, sent after a chunked body (HTTP/1) or as a trailing
    /// HEADERS frame (HTTP/2).
    pub trailers: Vec<(String, String)>,
}

impl Default for Response {
    fn default() -> Self {
        Response::new(200)
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            reason: None,
            headers: Vec::new(),
            body: Body::Full(Bytes::new()),
            informational: Vec::new(),
            close: false,
            delay: Duration::ZERO,
            trailers: Vec::new(),
        }
    }

    /// An empty 200 response.
    pub fn ok() -> Response {
        Response::new(200)
    }

    /// 200 with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into())
    }

    /// The canonical hello: 200, `Content-Type: text/plain`, body `Hello, world!` (13 bytes).
    pub fn hello() -> Response {
        Response::new(200)
            .header("Content-Type", "text/plain")
            .body("Hello, world!")
    }

    /// Sets the status code.
    pub fn status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Overrides the reason phrase (HTTP/1).
    pub fn reason(mut self, reason: impl Into<String>) -> Response {
        self.reason = Some(reason.into());
        self
    }

    /// Appends a header field.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a complete body (sent with `Content-Length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = Body::Full(body.into());
        self
    }

    /// Streams `chunks` with chunked encoding, flushing each, sleeping `delay` between them.
    pub fn chunked(mut self, chunks: Vec<Bytes>, delay: Duration) -> Response {
        self.body = Body::Chunked { chunks, delay };
        self
    }

    /// Streams `chunks` without framing and closes the connection after (HTTP/1).
    pub fn close_delimited(mut self, chunks: Vec<Bytes>, delay: Duration) -> Response {
        self.body = Body::CloseDelimited { chunks, delay };
        self.close = true;
        self
    }

    /// Appends a 1xx head written before the final one.
    pub fn informational(mut self, status: u16, headers: Vec<(String, String)>) -> Response {
        self.informational.push((status, headers));
        self
    }

    /// Appends a `103 Early Hints` head with one `Link` header per entry.
    pub fn early_hints(self, links: &[&str]) -> Response {
        let headers = links
            .iter()
            .map(|l| ("Link".to_string(), l.to_string()))
            .collect();
        self.informational(103, headers)
    }

    /// Sends `Connection: close` and closes the connection after the response.
    pub fn close(mut self) -> Response {
        self.close = true;
        self
    }

    /// Waits `delay` before writing the final head (after informational heads).
    pub fn delay(mut self, delay: Duration) -> Response {
        self.delay = delay;
        self
    }

    /// Appends a trailer field (sent only with chunked / HTTP/2 bodies).
    pub fn trailer(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.trailers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// What the server does with `Expect: 100-continue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContinuePolicy {
    /// Send `100 Continue` as soon as the head is read (the server starts
    /// reading the body right away). No 100 is sent for bodiless requests.
    #[default]
    Auto,
    /// Never send 100; just wait for the body (the client's
    /// expect-continue timeout releases it).
    Never,
    /// Answer at once with this status (e.g. 417) and `Connection: close`,
    /// without reading the body or calling the handler.
    Reject(u16),
}

/// Namespace for building servers: [`Server::builder`] / [`Server::hello`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with the hello handler, no TLS, IPv4 only.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            tls: None,
            dual_stack: false,
            handler: Arc::new(|_req| Response::hello()),
            continue_policy: ContinuePolicy::Auto,
            h2_prior_knowledge: false,
            h2: H2Options::default(),
        }
    }

    /// A builder whose handler answers every request (after reading its
    /// body) with 200 `Hello, world!` (`Content-Type: text/plain`).
    pub fn hello() -> ServerBuilder {
        Server::builder()
    }
}

/// Configures and starts a [`Server`].
pub struct ServerBuilder {
    tls: Option<Arc<rustls::ServerConfig>>,
    dual_stack: bool,
    handler: Handler,
    continue_policy: ContinuePolicy,
    h2_prior_knowledge: bool,
    h2: H2Options,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("tls", &self.tls.is_some())
            .field("dual_stack", &self.dual_stack)
            .field("continue_policy", &self.continue_policy)
            .field("h2_prior_knowledge", &self.h2_prior_knowledge)
            .field("h2", &self.h2)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Serve TLS with this config. If its ALPN list includes `h2` and the
    /// client negotiates it, the connection is served as HTTP/2.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Also listen on `[::1]` with the same port (best effort).
    pub fn dual_stack(mut self, on: bool) -> Self {
        self.dual_stack = on;
        self
    }

    /// Sets the request handler.
    pub fn handler<F>(mut self, f: F) -> Self
    where
        F: Fn(Request) -> Response + Send + Sync + 'static,
    {
        self.handler = Arc::new(f);
        self
    }

    /// Sets the `Expect: 100-continue` policy (HTTP/1.1 and HTTP/2).
    pub fn continue_policy(mut self, p: ContinuePolicy) -> Self {
        self.continue_policy = p;
        self
    }

    /// Serve plaintext connections as HTTP/2 (h2c with prior knowledge).
    pub fn h2_prior_knowledge(mut self, on: bool) -> Self {
        self.h2_prior_knowledge = on;
        self
    }

    /// HTTP/2: advertise this SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.h2.max_concurrent_streams = Some(n);
        self
    }

    /// HTTP/2: after `n` requests on a connection, send GOAWAY gracefully.
    pub fn goaway_after(mut self, n: usize) -> Self {
        self.h2.goaway_after = Some(n);
        self
    }

    /// Binds 127.0.0.1:0 (and `[::1]` if dual-stack) and starts serving.
    /// The server is listening when this returns.
    pub async fn start(self) -> io::Result<ServerHandle> {
        let (v4, v6) = util::bind_loopback(self.dual_stack).await?;
        let addr = v4.local_addr()?;
        let addr_v6 = match &v6 {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let mut h2 = self.h2;
        h2.continue_policy = self.continue_policy;
        let shared = Arc::new(Shared {
            handler: self.handler,
            continue_policy: self.continue_policy,
            h2,
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        });
        let tasks = Tasks::default();
        let acceptor = self.tls.map(tokio_rustls::TlsAcceptor::from);
        let h2c = self.h2_prior_knowledge;
        for listener in std::iter::once(v4).chain(v6) {
            let shared = shared.clone();
            let acceptor = acceptor.clone();
            tasks.push(util::spawn_accept_loop(listener, move |stream, remote| {
                let id = shared.connections.fetch_add(1, Ordering::SeqCst);
                shared.bump();
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                async move {
                    let ctx = ConnCtx {
                        shared,
                        conn_id: id,
                        remote,
                        tls: acceptor.is_some(),
                    };
                    match acceptor {
                        Some(acc) => {
                            let hs =
                                tokio::time::timeout(Duration::from_secs(10), acc.accept(stream));
                            let Ok(Ok(tls)) = hs.await else { return };
                            let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                            if is_h2 {
                                let _ = crate::h2::serve_ctx(tls, ctx).await;
                            } else {
                                serve_http1(tls, ctx).await;
                            }
                        }
                        None if h2c => {
                            let _ = crate::h2::serve_ctx(stream, ctx).await;
                        }
                        None => serve_http1(stream, ctx).await,
                    }
                }
            }));
        }
        Ok(ServerHandle {
            addr,
            addr_v6,
            tls: acceptor.is_some(),
            shared,
            tasks,
        })
    }
}

/// State shared by all connections of one server.
pub(crate) struct Shared {
    pub(crate) handler: Handler,
    pub(crate) continue_policy: ContinuePolicy,
    pub(crate) h2: H2Options,
    pub(crate) connections: AtomicUsize,
    pub(crate) requests: AtomicUsize,
    pub(crate) log: Mutex<Vec<Request>>,
    pub(crate) changed: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn standalone(handler: Handler, h2: H2Options) -> Arc<Shared> {
        Arc::new(Shared {
            handler,
            continue_policy: h2.continue_policy,
            h2,
            connections: AtomicUsize::new(1),
            requests: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        })
    }

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Counts and logs a fully read request.
    pub(crate) fn record(&self, req: &Request) {
        lock(&self.log).push(req.clone());
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.bump();
    }
}

/// Per-connection context.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) conn_id: usize,
    pub(crate) remote: SocketAddr,
    pub(crate) tls: bool,
}

/// A running server; dropping it stops the server and its connections.
pub struct ServerHandle {
    addr: SocketAddr,
    addr_v6: Option<SocketAddr>,
    tls: bool,
    shared: Arc<Shared>,
    tasks: Tasks,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("addr_v6", &self.addr_v6)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The IPv4 listening address (127.0.0.1:PORT).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The IPv6 listening address, if dual-stack binding succeeded.
    pub fn addr_v6(&self) -> Option<SocketAddr> {
        self.addr_v6
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http(s)://127.0.0.1:PORT{path}` (`path` should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{}", self.scheme(), self.port(), path)
    }

    /// `http(s)://localhost:PORT{path}` (the TLS leaf is valid for `localhost`;
    /// use a dual-stack server if `localhost` may resolve to `::1` first).
    pub fn url_localhost(&self, path: &str) -> String {
        format!("{}://localhost:{}{}", self.scheme(), self.port(), path)
    }

    /// `http(s)://[::1]:PORT{path}`, if dual-stack binding succeeded.
    pub fn url_v6(&self, path: &str) -> Option<String> {
        self.addr_v6
            .map(|a| format!("{}://[::1]:{}{}", self.scheme(), a.port(), path))
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// TCP connections accepted so far (before any TLS handshake).
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests fully read so far (counted before the response is written;
    /// includes requests rejected by [`ContinuePolicy::Reject`]).
    pub fn requests_served(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// Waits until at least `n` requests were read; false on timeout.
    pub async fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        let shared = &self.shared;
        wait_until(&shared.changed, timeout, || {
            shared.requests.load(Ordering::SeqCst) >= n
        })
        .await
    }

    /// Waits until at least `n` connections were accepted; false on timeout.
    pub async fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        let shared = &self.shared;
        wait_until(&shared.changed, timeout, || {
            shared.connections.load(Ordering::SeqCst) >= n
        })
        .await
    }

    /// Stops accepting and aborts every connection.
    pub fn shutdown(&self) {
        self.tasks.abort_all();
    }
}

/// Waits until `pred()` holds, re-checking on each change notification.
pub(crate) async fn wait_until(
    changed: &watch::Sender<u64>,
    timeout: Duration,
    mut pred: impl FnMut() -> bool,
) -> bool {
    let mut rx = changed.subscribe();
    let fut = async {
        loop {
            if pred() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.is_ok() && pred()
}

fn error_response(status: u16) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        status,
        util::reason(status)
    )
    .into_bytes()
}

/// Serves HTTP/1.x on one connection until it closes.
pub(crate) async fn serve_http1<S>(io: S, ctx: ConnCtx)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut conn = BufConn::new(io);
    loop {
        let head = match conn.read_head().await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = conn.write_all_flush(&error_response(431)).await;
                    conn.lingering_close(LINGER).await;
                }
                return;
            }
        };
        match serve_one(&mut conn, &head, &ctx).await {
            Ok(true) => continue,
            Ok(false) => {
                conn.lingering_close(LINGER).await;
                return;
            }
            Err(Some(status)) => {
                let _ = conn.write_all_flush(&error_response(status)).await;
                conn.lingering_close(LINGER).await;
                return;
            }
            Err(None) => return,
        }
    }
}

/// Handles one request whose head is `head`. Ok(keep_alive); Err(Some(status))
/// = answer with an error and close; Err(None) = just close.
async fn serve_one<S>(
    conn: &mut BufConn<S>,
    head: &[u8],
    ctx: &ConnCtx,
) -> Result<bool, Option<u16>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut hbuf = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut hbuf);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Some(400)),
        Err(httparse::Error::TooManyHeaders) => return Err(Some(431)),
        Err(_) => return Err(Some(400)),
    }
    let method = parsed
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(Some(400))?;
    let target = parsed.path.ok_or(Some(400))?.to_string();
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Some(505)),
    };
    let mut headers = HeaderMap::new();
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Some(400))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| Some(400))?;
        headers.append(name, value);
    }
    let framing = util::request_framing(parsed.headers).map_err(|_| Some(400))?;
    let http11 = version == Version::HTTP_11;
    let mut keep_alive = http11 && !util::has_token(parsed.headers, "connection", "close");
    let expects = http11 && util::has_token(parsed.headers, "expect", "100-continue");

    let mut req = Request {
        method,
        target,
        version,
        headers,
        body: Bytes::new(),
        connection: ctx.conn_id,
        remote_addr: ctx.remote,
        tls: ctx.tls,
        authority: None,
    };

    if expects {
        match ctx.shared.continue_policy {
            ContinuePolicy::Auto => {
                if framing != Framing::Empty {
                    conn.write_all_flush(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .await
                        .map_err(|_| None)?;
                }
            }
            ContinuePolicy::Never => {}
            ContinuePolicy::Reject(status) => {
                ctx.shared.record(&req);
                let _ = conn.write_all_flush(&error_response(status)).await;
                return Ok(false);
            }
        }
    }

    req.body = match util::read_body(conn, framing).await {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(Some(400)),
        Err(_) => return Err(None),
    };
    ctx.shared.record(&req);
    let head_only = req.method == Method::HEAD;
    let resp = (ctx.shared.handler)(req);
    keep_alive &= !resp.close;
    write_response(conn, &resp, head_only, http11, keep_alive)
        .await
        .map_err(|_| None)
}

fn push_header(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "{name}: {value}\r\n");
}

/// Writes `resp`; returns whether the connection may be kept alive.
async fn write_response<S>(
    conn: &mut BufConn<S>,
    resp: &Response,
    head_only: bool,
    http11: bool,
    mut keep_alive: bool,
) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if http11 {
        for (status, headers) in &resp.informational {
            let mut h = format!("HTTP/1.1 {} {}\r\n", status, util::reason(*status));
            for (n, v) in headers {
                push_header(&mut h, n, v);
            }
            h.push_str("\r\n");
            conn.write_all_flush(h.as_bytes()).await?;
        }
    }
    if !resp.delay.is_zero() {
        tokio::time::sleep(resp.delay).await;
    }
    let status = resp.status;
    let no_body_status = (100..200).contains(&status) || status == 204 || status == 304;
    let reason = resp.reason.as_deref().unwrap_or(util::reason(status));
    let mut h = format!(
        "HTTP/{} {} {}\r\n",
        if http11 { "1.1" } else { "1.0" },
        status,
        reason
    );
    for (n, v) in &resp.headers {
        push_header(&mut h, n, v);
    }
    let chunked = match &resp.body {
        Body::Full(b) => {
            if !no_body_status && !resp.has_header("content-length") {
                push_header(&mut h, "Content-Length", &b.len().to_string());
            }
            false
        }
        Body::Chunked { .. } if http11 && !no_body_status => {
            if !resp.has_header("transfer-encoding") {
                push_header(&mut h, "Transfer-Encoding", "chunked");
            }
            if !resp.trailers.is_empty() && !resp.has_header("trailer") {
                let names: Vec<&str> = resp.trailers.iter().map(|(n, _)| n.as_str()).collect();
                push_header(&mut h, "Trailer", &names.join(", "));
            }
            true
        }
        Body::Chunked { .. } | Body::CloseDelimited { .. } => {
            if !no_body_status && !head_only {
                keep_alive = false;
            }
            false
        }
    };
    if !keep_alive && http11 && !resp.has_header("connection") {
        push_header(&mut h, "Connection", "close");
    }
    h.push_str("\r\n");
    let send_body = !head_only && !no_body_status;
    match &resp.body {
        Body::Full(b) => {
            let mut out = BytesMut::from(h.as_bytes());
            if send_body {
                out.extend_from_slice(b);
            }
            conn.write_all_flush(&out).await?;
        }
        Body::Chunked { chunks, delay } | Body::CloseDelimited { chunks, delay } => {
            conn.write_all_flush(h.as_bytes()).await?;
            if send_body {
                for (i, c) in chunks.iter().enumerate() {
                    if i > 0 && !delay.is_zero() {
                        tokio::time::sleep(*delay).await;
                    }
                    if c.is_empty() {
                        continue;
                    }
                    if chunked {
                        let mut out = BytesMut::with_capacity(c.len() + 16);
                        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                        out.extend_from_slice(c);
                        out.extend_from_slice(b"\r\n");
                        conn.write_all_flush(&out).await?;
                    } else {
                        conn.write_all_flush(c).await?;
                    }
                }
                if chunked {
                    let mut end = String::from("0\r\n");
                    for (n, v) in &resp.trailers {
                        push_header(&mut end, n, v);
                    }
                    end.push_str("\r\n");
                    conn.write_all_flush(end.as_bytes()).await?;
                }
            }
        }
    }
    Ok(keep_alive)
}
