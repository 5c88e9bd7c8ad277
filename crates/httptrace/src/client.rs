//! The client: configuration, the call loop (redirects, retries, timeouts) and connection
//! checkout. The exchange on a connection is in `h1::round_trip` (and `h2`).

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use httptrace_proto::h1::Limits;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::body::Body;
use crate::deadline::Deadline;
#[cfg(feature = "proxy")]
use crate::dial::{parse_proxy_url, proxy_from_env};
use crate::dial::{
    AlpnMode, DialConfig, Dialed, Dialer, ProxyConfig, Resolve, SystemResolver, TlsConnector,
    TlsOptions,
};
use crate::error::{msg, Error, Kind, TimeoutKind};
use crate::h1::conn::H1Conn;
use crate::h1::round_trip::{round_trip, AttemptError, H1Request, Progress};
use crate::incoming::Incoming;
use crate::outlined::Outlined;
use crate::pool::{close_conn, Dial, Handoff, Join, Joined, Pool, PoolConfig, SlotRequest};
use crate::redirect;
use crate::route::{self, PoolKey, ProxyTarget, Route, Scheme};
use crate::trace::{
    ClientTrace, CloseReason, ConnInfo, GotConnInfo, NewConnInfo, NewConnReason, PoolWaitDoneInfo,
    PoolWaitReason, PoolWaitStartInfo, Protocol, RedirectInfo, RequestDoneInfo, RequestStartInfo,
    ResponseHeadersInfo, RetryInfo, RetryReason, Tracer,
};

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// Go's cap on HTTP/2 retries of one request.
const MAX_H2_RETRIES: u32 = 6;

/// Which HTTP versions the client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpMode {
    /// HTTP/2 when the server selects it by ALPN over TLS, HTTP/1.1 otherwise.
    Auto,
    /// HTTP/1.1 only.
    Http1Only,
    /// HTTP/2 with prior knowledge (cleartext h2c for http://, ALPN h2 only for https://).
    Http2PriorKnowledge,
}

/// Where proxies come from. (Without the `proxy` feature only `None` is built.)
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "proxy"), allow(dead_code))]
enum ProxyMode {
    /// `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`, read when the client is built.
    Env(Arc<ProxyConfig>),
    /// No proxy at all.
    None,
    /// Every request through this proxy (loopback included).
    All(Arc<ProxyTarget>),
}

/// The proxies of a client being built.
#[cfg(feature = "proxy")]
fn proxy_mode(choice: ProxyChoice) -> Result<ProxyMode, Error> {
    Ok(match choice {
        ProxyChoice::Env => ProxyMode::Env(Arc::new(proxy_from_env())),
        ProxyChoice::None => ProxyMode::None,
        ProxyChoice::Url(u) => ProxyMode::All(parse_proxy_url(&u)?),
    })
}

/// Without the `proxy` feature: no proxy from the environment, and an explicit one is a
/// builder error. (No `ProxyMode` but `None` is ever built, and the dial has no proxy step, so
/// the proxy code is not linked into the program.)
#[cfg(not(feature = "proxy"))]
fn proxy_mode(choice: ProxyChoice) -> Result<ProxyMode, Error> {
    match choice {
        ProxyChoice::Env => {
            warn_ignored_proxy_vars(|k| std::env::var_os(k));
            Ok(ProxyMode::None)
        }
        ProxyChoice::None => Ok(ProxyMode::None),
        ProxyChoice::Url(_) => Err(Error::with(
            Kind::Builder,
            msg("a proxy was set, but httptrace was built without the `proxy` feature"),
        )),
    }
}

/// The proxy variables (the ones Go reads; set and not empty) that a client built without the
/// `proxy` feature ignores.
#[cfg(not(feature = "proxy"))]
fn ignored_proxy_vars(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<&'static str> {
    ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"]
        .into_iter()
        .filter(|k| get(k).is_some_and(|v| !v.is_empty()))
        .collect()
}

/// Without the `proxy` feature, a client that would read proxies from the environment connects
/// directly: say so (a `tracing` warning, once per process) when the environment names a proxy,
/// so that a direct connection where one was expected is not a mystery. Returns whether it
/// warned.
#[cfg(not(feature = "proxy"))]
fn warn_ignored_proxy_vars(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let set = ignored_proxy_vars(get);
    if set.is_empty() || WARNED.swap(true, Ordering::Relaxed) {
        return false;
    }
    tracing::warn!(
        variables = ?set,
        "proxy variables are set, but httptrace was built without its `proxy` feature: \
         connecting directly"
    );
    true
}

/// Redirect policy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RedirectPolicy {
    pub(crate) max: u32,
}

pub(crate) struct Config {
    pub(crate) keep_alive: bool,
    pub(crate) http: HttpMode,
    pub(crate) timeout: Option<Duration>,
    pub(crate) response_header_timeout: Option<Duration>,
    pub(crate) expect_continue_timeout: Duration,
    pub(crate) user_agent: Option<HeaderValue>,
    pub(crate) redirect: RedirectPolicy,
    pub(crate) limits: Limits,
    proxy: ProxyMode,
    /// The client-wide trace (`ClientBuilder::trace`), without empty traces.
    trace: Option<ClientTrace>,
}

pub(crate) struct ClientInner {
    /// Process-unique client number (keys the per-thread route memo, [`route::route_for`]).
    pub(crate) id: u64,
    pub(crate) cfg: Config,
    pub(crate) pool: Pool,
    pub(crate) dialer: Dialer,
    pub(crate) h2: crate::h2::H2Pool,
}

/// An HTTP client whose requests can be traced with a [`ClientTrace`].
///
/// Cheap to clone (one `Arc`); clones share the connection pool. Requires a Tokio runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), httptrace::Error> {
/// use httptrace::{Client, ClientTrace, RequestTraceExt};
/// let client = Client::new();
/// let trace = ClientTrace::new().on_got_conn(|i| println!("reused: {}", i.reused));
/// let req = http::Request::get("http://127.0.0.1:8080/").body(httptrace::Body::empty()).unwrap();
/// let resp = client.execute(req.with_trace(trace)).await?;
/// let body = resp.into_body().bytes().await?;
/// # let _ = body; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("keep_alive", &self.inner.cfg.keep_alive)
            .field("http", &self.inner.cfg.http)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    keep_alive: bool,
    max_idle_per_host: usize,
    max_idle: usize,
    idle_timeout: Option<Duration>,
    max_conns_per_host: Option<usize>,
    connect_timeout: Option<Duration>,
    tls_handshake_timeout: Option<Duration>,
    response_header_timeout: Option<Duration>,
    timeout: Option<Duration>,
    expect_continue_timeout: Duration,
    fallback_delay: Option<Duration>,
    resolver: Option<Arc<dyn Resolve>>,
    user_agent: Option<HeaderValue>,
    proxy: ProxyChoice,
    redirect_max: u32,
    tls: TlsOptions,
    http: HttpMode,
    max_header_bytes: usize,
    trace: Option<ClientTrace>,
    errors: Vec<Error>,
}

enum ProxyChoice {
    Env,
    None,
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    Url(String),
}

/// The proxy URL without its credentials (a builder's `Debug` output ends up in logs).
impl std::fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyChoice::Env => f.write_str("Env"),
            ProxyChoice::None => f.write_str("None"),
            ProxyChoice::Url(u) => f
                .debug_tuple("Url")
                .field(&crate::dial::proxy::redact_userinfo(u))
                .finish(),
        }
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            keep_alive: true,
            max_idle_per_host: 32,
            max_idle: 256,
            idle_timeout: Some(Duration::from_secs(90)),
            max_conns_per_host: None,
            connect_timeout: Some(Duration::from_secs(30)),
            tls_handshake_timeout: Some(Duration::from_secs(10)),
            response_header_timeout: None,
            timeout: None,
            expect_continue_timeout: Duration::from_secs(1),
            fallback_delay: Some(Duration::from_millis(300)),
            resolver: None,
            user_agent: Some(HeaderValue::from_static(concat!(
                "httptrace/",
                env!("CARGO_PKG_VERSION")
            ))),
            proxy: ProxyChoice::Env,
            redirect_max: 10,
            tls: TlsOptions::default(),
            http: HttpMode::Auto,
            max_header_bytes: 1 << 20,
            trace: None,
            errors: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// Keep connections alive and pool them (default `true`). When `false`, every request dials,
    /// sends `Connection: close`, and `put_idle_conn` never fires.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }
    /// Idle connections kept per host (default 32; Go's default is 2). `0` turns pooling off
    /// (Go's negative `MaxIdleConnsPerHost`): connections are closed after their response
    /// without `Connection: close` being sent, and `put_idle_conn` does not fire.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }
    /// Idle connections kept in all (default 256); the oldest is evicted beyond it. `0` keeps
    /// none: a returned connection is closed and `put_idle_conn` reports the refusal (unlike
    /// Go's `MaxIdleConns`, where 0 means no limit).
    pub fn max_idle(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }
    /// Idle connections older than this are closed (default 90 s; Go's `IdleConnTimeout`):
    /// HTTP/1.1 ones by a timer task as they pass it (and never handed out after it), HTTP/2
    /// ones (no stream open for that long) are not handed out again and close with their last
    /// handle. `Duration::MAX` or `None`: kept until the server closes them.
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Limit HTTP/1.1 connections per host (dialing, in use and idle; Go's `MaxConnsPerHost`).
    /// A request beyond it waits for a returned connection or a freed slot, reported by the
    /// `pool_wait_start` / `pool_wait_done` hooks. Default: no limit.
    pub fn max_conns_per_host(mut self, n: Option<usize>) -> Self {
        self.max_conns_per_host = n;
        self
    }
    /// Limit on establishing a TCP connection, all addresses included (default 30 s).
    pub fn connect_timeout(mut self, d: Option<Duration>) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Limit on a TLS handshake (default 10 s).
    pub fn tls_handshake_timeout(mut self, d: Option<Duration>) -> Self {
        self.tls_handshake_timeout = d;
        self
    }
    /// Limit on waiting for the response head once the request is written (default none).
    pub fn response_header_timeout(mut self, d: Option<Duration>) -> Self {
        self.response_header_timeout = d;
        self
    }
    /// Limit on the whole request, redirects and the response body included (default none).
    pub fn timeout(mut self, d: Option<Duration>) -> Self {
        self.timeout = d;
        self
    }
    /// How long to wait for `100 Continue` before sending the body anyway (default 1 s).
    pub fn expect_continue_timeout(mut self, d: Duration) -> Self {
        self.expect_continue_timeout = d;
        self
    }
    /// Happy Eyeballs: delay before the other address family is tried (default 300 ms;
    /// `None` tries addresses one after another).
    pub fn happy_eyeballs_delay(mut self, d: Option<Duration>) -> Self {
        self.fallback_delay = d;
        self
    }
    /// Resolve names with this resolver instead of the system's.
    pub fn resolver(mut self, r: impl Resolve) -> Self {
        self.resolver = Some(Arc::new(r));
        self
    }
    /// Resolve names with this shared resolver.
    pub fn resolver_arc(mut self, r: Arc<dyn Resolve>) -> Self {
        self.resolver = Some(r);
        self
    }
    /// `User-Agent` sent when a request has none (`None`: send none).
    pub fn user_agent(mut self, ua: Option<&str>) -> Self {
        match ua.map(HeaderValue::from_str) {
            None => self.user_agent = None,
            Some(Ok(v)) => self.user_agent = Some(v),
            Some(Err(e)) => self.errors.push(Error::with(Kind::Builder, e)),
        }
        self
    }
    /// Send every request through this proxy (`http://`, `https://`, `socks5://`, `socks5h://`;
    /// credentials in the URL are used for the proxy only). Loopback targets are proxied too.
    ///
    /// Needs the `proxy` cargo feature (default): without it, [`ClientBuilder::build`] fails
    /// with a builder error.
    pub fn proxy(mut self, url: &str) -> Self {
        self.proxy = ProxyChoice::Url(url.to_string());
        self
    }
    /// Use no proxy, not even from the environment.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::None;
        self
    }
    /// Follow at most `n` redirects (default 10); `0` returns 3xx responses as they are.
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.redirect_max = n;
        self
    }
    /// Trust the CA certificates in this PEM file, besides the system roots.
    ///
    /// The file is read by [`build`](Self::build), which fails on an unreadable file or one
    /// without PEM certificates; the certificates themselves are parsed with the rest of the TLS
    /// configuration at the client's first TLS connection, whose request fails with an
    /// [`is_builder`](crate::Error::is_builder) error if one is unusable.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca_files.push(path.into());
        self
    }
    /// Trust this DER-encoded CA certificate. It is parsed at the client's first TLS connection
    /// (see [`ca_file`](Self::ca_file)).
    pub fn add_root_certificate_der(mut self, der: Vec<u8>) -> Self {
        self.tls.extra_roots_der.push(der.into());
        self
    }
    /// Use the operating system's root certificates (default `true`). They are loaded at the
    /// client's first TLS connection: a client that only speaks plain HTTP never reads them.
    ///
    /// Needs the `native-roots` cargo feature (on by default): without it the default is
    /// `false`, and `true` makes [`build`](Self::build) fail with an
    /// [`is_builder`](crate::Error::is_builder) error.
    pub fn native_roots(mut self, on: bool) -> Self {
        self.tls.use_native_roots = on;
        self
    }
    /// Trust the Mozilla root certificates compiled into the executable (default `false`),
    /// besides any other roots.
    ///
    /// Needs the `webpki-roots` cargo feature: without it, `true` makes
    /// [`build`](Self::build) fail with an [`is_builder`](crate::Error::is_builder) error.
    pub fn webpki_roots(mut self, on: bool) -> Self {
        self.tls.use_webpki_roots = on;
        self
    }
    /// Accept any server certificate. For testing only: it removes TLS's protection.
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.tls.insecure = on;
        self
    }
    /// Resume TLS sessions across this client's connections (default `true`). Go's client does
    /// not resume unless it is given a session cache; turn this off to compare with it.
    pub fn tls_session_resumption(mut self, on: bool) -> Self {
        self.tls.resumption = on;
        self
    }
    /// Speak HTTP/1.1 only (no ALPN `h2`).
    pub fn http1_only(mut self) -> Self {
        self.http = HttpMode::Http1Only;
        self
    }
    /// Speak HTTP/2 without negotiation (h2c over cleartext; over TLS, ALPN `h2` only: a
    /// request to a server that does not select `h2` fails with a TLS error).
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http = HttpMode::Http2PriorKnowledge;
        self
    }
    /// Limit on one response head (status line and headers; reset for each 1xx). Default 1 MiB.
    pub fn max_response_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }

    /// A trace for every request this client sends: the way to install an exporter (the
    /// `Timings` recorder, an OpenTelemetry or `tracing` adapter) once instead of attaching it to
    /// each request. A request that carries its own trace gets both, composed: the request's
    /// hooks run first, then the client's (as [`ClientTrace::compose`] orders them). Calling
    /// this again composes the traces the same way (the newer first).
    ///
    /// Cost: a request without its own trace pays nothing extra for the client-wide one (it is
    /// shared, not copied); one with its own pays one composition.
    pub fn trace(mut self, trace: ClientTrace) -> Self {
        self.trace = Some(match self.trace.take() {
            Some(old) => trace.compose(&old),
            None => trace,
        });
        self
    }

    /// Build the client. Fails on an unreadable CA file, a bad proxy URL (or any proxy without
    /// the `proxy` feature) or a bad user agent.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        let mut tls_opts = self.tls;
        tls_opts.handshake_timeout = self.tls_handshake_timeout;
        let tls = Arc::new(TlsConnector::new(&tls_opts)?);
        let proxy = proxy_mode(self.proxy)?;
        let resolver = self.resolver.unwrap_or_else(|| Arc::new(SystemResolver));
        let dialer = Dialer::new(DialConfig {
            resolver,
            connect_timeout: self.connect_timeout,
            fallback_delay: self.fallback_delay,
            tls,
            proxy_connect_timeout: Duration::from_secs(60),
            proxy_user_agent: self
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(String::from),
        });
        let limits = Limits {
            max_head_bytes: self.max_header_bytes,
            ..Limits::default()
        };
        Ok(Client {
            inner: Arc::new(ClientInner {
                id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
                cfg: Config {
                    keep_alive: self.keep_alive,
                    http: self.http,
                    timeout: self.timeout,
                    response_header_timeout: self.response_header_timeout,
                    expect_continue_timeout: self.expect_continue_timeout,
                    user_agent: self.user_agent,
                    redirect: RedirectPolicy {
                        max: self.redirect_max,
                    },
                    limits,
                    proxy,
                    trace: self.trace.filter(|t| !t.is_empty()),
                },
                pool: Pool::new(PoolConfig {
                    max_idle_per_host: self.max_idle_per_host,
                    max_idle: self.max_idle,
                    idle_timeout: self.idle_timeout,
                    max_conns_per_host: self.max_conns_per_host,
                }),
                dialer,
                h2: crate::h2::H2Pool::new(self.idle_timeout),
            }),
        })
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with the default settings.
    ///
    /// # Panics
    /// Never in practice: the default configuration always builds. (It would only fail if the
    /// proxy environment variables held an unparsable URL; then no proxy is used. They are
    /// read only with the `proxy` feature.)
    pub fn new() -> Client {
        match ClientBuilder::default().build() {
            Ok(c) => c,
            Err(_) => match ClientBuilder::default().no_proxy().build() {
                Ok(c) => c,
                Err(e) => panic!("default client configuration failed: {e}"),
            },
        }
    }

    /// Start configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Build the TLS configuration now instead of at the first TLS connection: trusted roots
    /// loaded (the system's, unless turned off) and parsed, rustls set up.
    ///
    /// A client builds it when its first TLS handshake begins (before `tls_handshake_start`,
    /// so it never counts as handshake time), which spares plain-HTTP clients the work. Call
    /// this when the first request's timings should not include it (a timing tool does), or to
    /// learn early that a trusted certificate is unusable. Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// An [`is_builder`](crate::Error::is_builder) error when a certificate given with
    /// [`ClientBuilder::ca_file`] or [`ClientBuilder::add_root_certificate_der`] is unusable.
    pub fn prepare_tls(&self) -> Result<(), Error> {
        self.inner.dialer.prepare_tls()
    }

    /// Close the idle connections; connections in use are closed when returned, until the next
    /// request (Go's `CloseIdleConnections`).
    pub fn close_idle_connections(&self) {
        self.inner.pool.close_idle();
        self.inner.h2.close_idle();
    }

    /// Send a request and wait for the response head. The body streams from the connection.
    ///
    /// A [`ClientTrace`] attached to the request (see [`crate::RequestTraceExt`]) receives every
    /// hook. The request is validated before any hook fires or any byte is sent.
    pub fn execute<B: Into<Body>>(
        &self,
        req: Request<B>,
    ) -> impl Future<Output = Result<Response<Incoming>, Error>> + Send + '_ {
        let (parts, body) = req.into_parts();
        // Polled and dropped through `Outlined`. Why: rustc treats every `async fn` body as
        // inlinable, so each codegen unit that polls one gets a private copy of its state
        // machine, transitively, and every unit that drops one a copy of its drop code. The
        // call's (pool, dialing, HTTP/1.1 and HTTP/2 exchange) is tens of kilobytes of machine
        // code; awaited directly, a program that called `execute` from a few places carried
        // five copies of it (measured in the benchmark binary: ~180 KB for `Call::attempt`
        // alone), and with only the poll outlined, the drop code still cost ~75 KB more
        // (measured: the benchmark client's `.text` went from 2,546 KB to 2,471 KB when the
        // drop was outlined too), which costs resident memory and instruction cache. Not
        // boxed: a box per call measured +740 instructions per keep-alive request (the
        // allocation and a copy of the state, 2.9 KB then).
        //
        // Not an `async fn`: its state would keep the request (264 bytes) beside the call's
        // future, which holds it too.
        Outlined::new(self.call(parts, body.into()))
    }

    /// The call's future. Not an `async fn`: its parameters would be kept twice in the state
    /// (the arguments, and the locals they are moved to), and a `Call::run` that took the
    /// request's parts by value would keep a third copy; here the request lives once, in the
    /// block's captures, and `run` works on it in place.
    #[allow(clippy::manual_async_fn)] // not an `async fn` on purpose: see above
    fn call(
        &self,
        mut parts: http::request::Parts,
        mut body: Body,
    ) -> impl Future<Output = Result<Response<Incoming>, Error>> + Send + '_ {
        async move {
            let t = Tracer::new(
                match (parts.extensions.get::<ClientTrace>(), &self.inner.cfg.trace) {
                    (None, None) => None,
                    (Some(own), None) => Some(own.clone()),
                    (None, Some(all)) => Some(all.clone()),
                    (Some(own), Some(all)) => Some(own.clone().compose(all)),
                },
            );
            let call = Call {
                client: &self.inner,
                t: &t,
                deadline: self
                    .inner
                    .cfg
                    .timeout
                    .and_then(crate::deadline::deadline_after),
            };
            // Kept for the timeout error only: the URL asked for, not the last redirect's.
            let url = call.deadline.map(|_| parts.uri.clone());
            // One `run` future, awaited in one place (built there, not in a local first): two
            // awaits (with and without a timeout) would each reserve its size in this state.
            match Deadline::new(
                call.run(
                    &mut parts.method,
                    &mut parts.uri,
                    &mut parts.headers,
                    &mut body,
                ),
                call.deadline,
            )
            .await
            {
                Some(r) => r,
                None => {
                    let mut err = Error::timeout(TimeoutKind::Request);
                    if let Some(url) = &url {
                        err = err.with_url(url);
                    }
                    t.request_done(&RequestDoneInfo {
                        status: None,
                        err: Some(err.clone()),
                    });
                    Err(err)
                }
            }
        }
    }

    /// Start a `GET` request.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request(Method::GET, url)
    }
    /// Start a `POST` request.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request(Method::POST, url)
    }
    /// Start a `PUT` request.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request(Method::PUT, url)
    }
    /// Start a `DELETE` request.
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }
    /// Start a `HEAD` request.
    pub fn head(&self, url: &str) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }
    /// Start a request with any method.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let uri = url
            .parse::<Uri>()
            .map_err(|e| Error::with(Kind::InvalidRequest, e));
        RequestBuilder {
            client: self.clone(),
            req: uri.map(|u| {
                let mut r = Request::new(Body::empty());
                *r.method_mut() = method;
                *r.uri_mut() = u;
                r
            }),
        }
    }
}

/// A request being built by [`Client::get`] and friends.
#[must_use]
pub struct RequestBuilder {
    client: Client,
    req: Result<Request<Body>, Error>,
}

/// The method, the URL (credentials replaced by `***`), the header names (not their values,
/// which may be secrets) and the body; or the error.
impl std::fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.req {
            Ok(r) => f
                .debug_struct("RequestBuilder")
                .field("method", r.method())
                .field("url", &crate::error::without_credentials(r.uri()))
                .field("headers", &r.headers().keys().collect::<Vec<_>>())
                .field("body", r.body())
                .finish(),
            Err(e) => f.debug_tuple("RequestBuilder").field(e).finish(),
        }
    }
}

impl RequestBuilder {
    /// Add a header. Invalid names or values make [`send`](Self::send) fail.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Ok(r) = &mut self.req {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(n), Ok(v)) => {
                    r.headers_mut().append(n, v);
                }
                (Err(e), _) => self.req = Err(Error::with(Kind::InvalidRequest, e)),
                (_, Err(e)) => self.req = Err(Error::with(Kind::InvalidRequest, e)),
            }
        }
        self
    }
    /// Set the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        if let Ok(r) = &mut self.req {
            *r.body_mut() = body.into();
        }
        self
    }
    /// Attach a trace (composed with any trace already attached).
    pub fn trace(mut self, trace: ClientTrace) -> Self {
        if let Ok(r) = &mut self.req {
            trace.attach(r);
        }
        self
    }
    /// The request as built.
    pub fn build(self) -> Result<Request<Body>, Error> {
        self.req
    }
    /// Send it.
    // Not an `async fn`: its state would hold the builder twice (see `Client::call`).
    #[allow(clippy::manual_async_fn)]
    pub fn send(self) -> impl Future<Output = Result<Response<Incoming>, Error>> + Send + 'static {
        async move {
            let req = self.req?;
            self.client.execute(req).await
        }
    }
}

/// A connection obtained for one attempt.
enum Conn {
    H1(H1Conn),
    H2(crate::h2::H2Conn),
}

/// One call to the client: hops and attempts.
struct Call<'a> {
    client: &'a Arc<ClientInner>,
    t: &'a Tracer,
    deadline: Option<Instant>,
}

/// A failed attempt, with what retrying needs to know.
struct Failed {
    err: Error,
    progress: Progress,
    conn_reused: bool,
    retry_reason: Option<RetryReason>,
}

impl<'c> Call<'c> {
    /// Hops and attempts, on the request's parts in place (redirects rewrite them).
    async fn run(
        &self,
        method: &mut Method,
        url: &mut Uri,
        headers: &mut HeaderMap,
        body: &mut Body,
    ) -> Result<Response<Incoming>, Error> {
        let t = self.t;
        let cfg = &self.client.cfg;
        let mut hop: u32 = 0;
        let mut body_replayable: bool;
        let explicit_referer = headers.contains_key(http::header::REFERER);
        loop {
            // Validated, and routed once per hop (retries reuse the route).
            // Matched as a temporary, not a named local: a local would stay in the state
            // across the awaits below (136 bytes).
            let (route, key) = match validate(method, url, headers).and_then(|()| {
                route::route_for(self.client.id, url, || {
                    let mut r = Route::from_uri(url, None)?;
                    r.proxy = self.proxy_for(&r);
                    Ok(r)
                })
            }) {
                Ok(r) => r,
                Err(e) => {
                    let e = e.with_url(url);
                    t.request_done(&RequestDoneInfo {
                        status: None,
                        err: Some(e.clone()),
                    });
                    return Err(e);
                }
            };
            // Go's `Client.send`: credentials in this hop's URL are sent as Basic auth unless
            // the request carries its own Authorization; they are not kept for the next hop.
            let url_auth = match url_credentials(url, headers) {
                Ok(a) => a,
                Err(e) => {
                    let e = e.with_url(url);
                    t.request_done(&RequestDoneInfo {
                        status: None,
                        err: Some(e.clone()),
                    });
                    return Err(e);
                }
            };
            if let Some(v) = url_auth.clone() {
                headers.insert(http::header::AUTHORIZATION, v);
            }
            let mut attempt: u32 = 0;
            let resp = loop {
                if t.wants(|h| h.request_start()) {
                    t.request_start(&RequestStartInfo {
                        attempt,
                        redirect_hop: hop,
                        method: method.clone(),
                        url: url.clone(),
                    });
                }
                let replay = body.try_clone();
                body_replayable = replay.is_some();
                let this_body = std::mem::take(body);
                match self
                    .attempt(method, url, headers, this_body, &route, &key)
                    .await
                {
                    Ok(resp) => {
                        if let Some(b) = replay {
                            *body = b;
                        }
                        break resp;
                    }
                    Err(f) => {
                        let can_replay = replay.is_some();
                        let h2_retry = f.retry_reason.is_some();
                        // HTTP/1.1 retries end when no reused connection is left (each retry
                        // that fails on a fresh connection stops); HTTP/2 retries are capped
                        // as in Go (6, backing off from the second on).
                        if f.conn_reused
                            && can_replay
                            && (!h2_retry || attempt < MAX_H2_RETRIES)
                            && should_retry(method, headers, f.progress, h2_retry)
                        {
                            if h2_retry && attempt > 0 {
                                let backoff = Duration::from_secs(1u64 << (attempt - 1).min(4));
                                tokio::time::sleep(backoff).await;
                            }
                            attempt += 1;
                            t.retry(&RetryInfo {
                                attempt,
                                reason: f
                                    .retry_reason
                                    .clone()
                                    .unwrap_or(RetryReason::DeadPooledConnection),
                                err: f.err.clone(),
                            });
                            if let Some(b) = replay {
                                *body = b;
                            }
                            continue;
                        }
                        let e = f.err.with_url(url);
                        t.request_done(&RequestDoneInfo {
                            status: None,
                            err: Some(e.clone()),
                        });
                        return Err(e);
                    }
                }
            };
            // Redirects (none looked at when they are off: the 3xx is the answer as it is).
            let status = resp.status();
            let next = if cfg.redirect.max > 0 {
                redirect::next_hop(method, url, &resp, body_replayable)
            } else {
                Ok(None)
            };
            let stop = match next {
                Ok(Some(next)) if hop < cfg.redirect.max => {
                    if url_auth.is_some() {
                        headers.remove(http::header::AUTHORIZATION);
                    }
                    let (resp_parts, resp_body) = resp.into_parts();
                    drop(resp_parts);
                    redirect::discard(resp_body).await;
                    t.redirect(&RedirectInfo {
                        from: url.clone(),
                        to: next.url.clone(),
                        status,
                        method: next.method.clone(),
                    });
                    if next.drop_body {
                        *body = Body::empty();
                        redirect::strip_body_headers(headers);
                    }
                    if redirect::host_changed(url, &next.url) {
                        redirect::strip_credentials(headers);
                        headers.remove(http::header::HOST);
                    } else if next.absolute {
                        // Go keeps a caller's Host only through a Location without a scheme.
                        headers.remove(http::header::HOST);
                    }
                    // Go's Referer: the hop that redirected (unless the caller set one).
                    if !explicit_referer {
                        match redirect::referer(url, &next.url) {
                            Some(r) => headers.insert(http::header::REFERER, r),
                            None => headers.remove(http::header::REFERER),
                        };
                    }
                    *method = next.method;
                    *url = next.url;
                    hop += 1;
                    continue;
                }
                Ok(Some(_)) => Some(format!("stopped after {} redirects", cfg.redirect.max)),
                Ok(None) => None,
                // Go: "failed to parse Location header" (or an unsupported scheme).
                Err(m) => Some(m),
            };
            if let Some(m) = stop {
                let e = Error::with(Kind::Redirect, msg(m)).with_url(url);
                t.request_done(&RequestDoneInfo {
                    status: Some(status),
                    err: Some(e.clone()),
                });
                return Err(e);
            }
            t.request_done(&RequestDoneInfo {
                status: Some(status),
                err: None,
            });
            return Ok(resp);
        }
    }

    fn proxy_for(&self, route: &Route) -> Option<Arc<ProxyTarget>> {
        match &self.client.cfg.proxy {
            ProxyMode::None => None,
            #[cfg(feature = "proxy")]
            ProxyMode::All(p) => Some(p.clone()),
            #[cfg(feature = "proxy")]
            ProxyMode::Env(cfg) => cfg.proxy_for(route.scheme, &route.host, route.port),
            #[cfg(not(feature = "proxy"))]
            ProxyMode::All(_) | ProxyMode::Env(_) => {
                let _ = route;
                None
            }
        }
    }

    /// One attempt: Go's `Transport.roundTrip` loop body.
    ///
    /// Not an `async fn`, as `attempt_h1`: an `async fn`'s state holds each argument twice (the
    /// argument, and the local it is moved to; see `Client::call`).
    #[allow(clippy::manual_async_fn)] // not an `async fn` on purpose: see above
    fn attempt<'s>(
        &'s self,
        method: &'s Method,
        url: &'s Uri,
        headers: &'s HeaderMap,
        body: Body,
        route: &'s Route,
        key: &'s PoolKey,
    ) -> impl Future<Output = Result<Response<Incoming>, Failed>> + use<'s, 'c> {
        async move {
            let t = self.t;
            let fail = |err: Error| Failed {
                err,
                progress: Progress::NothingWritten,
                conn_reused: false,
                retry_reason: None,
            };
            let use_h2 = self.wants_h2(route);
            // Go: a request served by a cached HTTP/2 connection reports the target; one that goes
            // through the dial path reports the first hop (the proxy, if any).
            let cached_h2 = if use_h2 && self.client.cfg.keep_alive {
                self.client.h2.find(key)
            } else {
                None
            };
            let conn = match cached_h2 {
                Some(c) => {
                    t.get_conn(c.target_host_port());
                    c.acquire(t);
                    Conn::H2(c)
                }
                None => {
                    // Only hooks read it: not built without a trace; borrowed from the URL when it
                    // is written there as it would be formatted; else formatted on the stack.
                    let formatted;
                    let host_port = if !t.is_active() {
                        ""
                    } else if let Some(s) = route.first_hop_str(url) {
                        s
                    } else {
                        formatted = route.first_hop_buf();
                        formatted.as_str()
                    };
                    t.get_conn(host_port);
                    // The key cloned into `get_conn`'s state only: a local clone would stay in this
                    // state across the exchange too (72 bytes).
                    self.get_conn(route, key.clone(), host_port, use_h2)
                        .await
                        .map_err(fail)?
                }
            };
            match conn {
                Conn::H1(conn) => {
                    self.attempt_h1(method, url, headers, body, route, conn)
                        .await
                }
                Conn::H2(conn) => crate::h2::round_trip(
                    conn,
                    method,
                    url,
                    headers,
                    body,
                    &self.client.cfg,
                    t,
                    self.deadline,
                )
                .await
                .map_err(|e| Failed {
                    progress: if e.retry.is_some() {
                        Progress::NothingWritten
                    } else {
                        Progress::ResponseStarted
                    },
                    conn_reused: true,
                    retry_reason: e.retry,
                    err: e.err,
                }),
            }
        }
    }

    fn wants_h2(&self, route: &Route) -> bool {
        match self.client.cfg.http {
            HttpMode::Http1Only => false,
            HttpMode::Http2PriorKnowledge => !route.uses_forward_proxy(),
            HttpMode::Auto => route.scheme == Scheme::Https,
        }
    }

    /// One attempt on an HTTP/1.1 connection (not an `async fn`: see `attempt`).
    #[allow(clippy::manual_async_fn)] // not an `async fn` on purpose: see above
    fn attempt_h1<'s>(
        &'s self,
        method: &'s Method,
        url: &'s Uri,
        headers: &'s HeaderMap,
        body: Body,
        route: &'s Route,
        mut conn: H1Conn,
    ) -> impl Future<Output = Result<Response<Incoming>, Failed>> + use<'s, 'c> {
        async move {
            let t = self.t;
            let cfg = &self.client.cfg;
            let was_reused = conn.reused;
            let target = request_target(url, route);
            let host = host_header(url, headers);
            let proxy_auth = if route.uses_forward_proxy() {
                route
                    .proxy
                    .as_ref()
                    .and_then(|p| p.auth.as_ref())
                    .and_then(|(u, p)| HeaderValue::from_str(&crate::dial::basic_auth(u, p)).ok())
            } else {
                None
            };
            let expect_continue = !body.is_empty() && expects_continue(headers);
            let req = H1Request {
                method,
                target: &target,
                host: host.as_bytes(),
                headers,
                body,
                default_user_agent: cfg.user_agent.as_ref(),
                add_close: !cfg.keep_alive && !request_has_close(headers),
                proxy_authorization: proxy_auth.as_ref(),
                expect_continue,
                expect_timeout: cfg.expect_continue_timeout,
                response_header_timeout: cfg.response_header_timeout,
                limits: &cfg.limits,
            };
            let mut canceled = crate::h1::round_trip::CancelReport::new(t, &conn);
            let rt = round_trip(&mut conn, req, t, &canceled.writing).await;
            canceled.disarm();
            match rt {
                Ok(r) => {
                    t.got_response_headers(&ResponseHeadersInfo {
                        status: r.head.status,
                        version: r.head.version,
                    });
                    let deadline = self.deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
                    let pool = cfg.keep_alive.then(|| self.client.pool.clone());
                    let body = Incoming::h1(
                        conn,
                        r.framing,
                        &cfg.limits,
                        pool,
                        r.reusable,
                        t.clone(),
                        deadline,
                        url.clone(),
                        r.pending_write,
                    );
                    // Parts set directly: `Response::builder` threads a `Result` through every
                    // setter for values that are already valid here.
                    let mut resp = Response::new(body);
                    *resp.status_mut() = r.head.status;
                    *resp.version_mut() = r.head.version;
                    *resp.headers_mut() = r.head.headers;
                    Ok(resp)
                }
                Err(AttemptError { err, progress }) => {
                    let reason = if err.is_hook() {
                        CloseReason::HookAborted
                    } else {
                        CloseReason::Error
                    };
                    close_conn(conn, reason, t);
                    Err(Failed {
                        err,
                        progress,
                        conn_reused: was_reused,
                        retry_reason: None,
                    })
                }
            }
        }
    }

    /// Go's `Transport.getConn`: an idle connection, or a new dial (whichever of the dial and a
    /// connection returned by another request comes first).
    async fn get_conn(
        &self,
        route: &Route,
        key: PoolKey,
        host_port: &str,
        use_h2: bool,
    ) -> Result<Conn, Error> {
        let t = self.t;
        let client = self.client;
        let mut discarded_total = 0;
        // Go's queueForIdleConn then queueForDial: an idle connection, else (at the per-host
        // connection limit) wait for a returned connection or a freed slot.
        let slot = loop {
            if client.cfg.keep_alive {
                let (found, discarded) = client.pool.take_idle(&key, t);
                discarded_total += discarded;
                if let Some(co) = found {
                    got_conn(t, &co.conn, co.conn.reused, true, co.idle_for);
                    return Ok(Conn::H1(co.conn));
                }
            }
            // HTTP/2 under a connection limit: a dial in progress for this key holds a slot
            // for as long as its connection lives, and its connection will be shared: wait for
            // that dial, not for a slot (Go hands a new HTTP/2 connection to every request
            // waiting for one). If it yields no HTTP/2 connection, ask again.
            if use_h2 && client.cfg.keep_alive && client.pool.limits_conns() {
                if let Some(dialing) = client.h2.dial_in_progress(&key) {
                    if let Some(c) = client.h2.join_dial(dialing, &key, t).await {
                        return Ok(Conn::H2(c));
                    }
                    continue;
                }
            }
            match client.pool.request_slot(&key) {
                SlotRequest::RetryIdle => continue,
                SlotRequest::Unlimited if !client.cfg.keep_alive || use_h2 => break None,
                SlotRequest::Unlimited => match client.pool.join_spare_dial(&key) {
                    Join::No => break None,
                    Join::RetryIdle => continue,
                    Join::Wait(rx) => {
                        let (got, waited) =
                            pool_wait(t, &client.pool, rx, host_port, 0, PoolWaitReason::SpareDial)
                                .await;
                        t.pool_wait_done(&PoolWaitDoneInfo { waited, err: None });
                        match got {
                            Some(Joined::Conn(c)) => {
                                got_conn(t, &c, c.reused, false, Duration::ZERO);
                                return Ok(Conn::H1(c));
                            }
                            // The spare dial failed or its connection went elsewhere, or the
                            // pool is gone: dial.
                            Some(Joined::Dial) | None => break None,
                        }
                    }
                },
                SlotRequest::Granted(g) => break Some(g),
                SlotRequest::Wait { rx, open } => {
                    let (got, waited) = pool_wait(
                        t,
                        &client.pool,
                        rx,
                        host_port,
                        open,
                        PoolWaitReason::ConnLimit,
                    )
                    .await;
                    match got {
                        Some(Handoff::Conn(c)) => {
                            t.pool_wait_done(&PoolWaitDoneInfo { waited, err: None });
                            got_conn(t, &c, c.reused, false, Duration::ZERO);
                            return Ok(Conn::H1(c));
                        }
                        Some(Handoff::Slot(g)) => {
                            t.pool_wait_done(&PoolWaitDoneInfo { waited, err: None });
                            break Some(g);
                        }
                        None => {
                            let err = Error::new(Kind::PoolClosed);
                            t.pool_wait_done(&PoolWaitDoneInfo {
                                waited,
                                err: Some(err.clone()),
                            });
                            return Err(err);
                        }
                    }
                }
            }
        };
        let reason = if !client.cfg.keep_alive {
            NewConnReason::KeepAliveDisabled
        } else if discarded_total > 0 {
            NewConnReason::IdleConnsUnusable(discarded_total)
        } else {
            NewConnReason::NoIdleConn
        };
        t.new_conn(&NewConnInfo {
            host_port: host_port.to_string(),
            reason,
        });
        let alpn = match client.cfg.http {
            HttpMode::Http1Only => AlpnMode::Http1Only,
            HttpMode::Auto => AlpnMode::H2AndHttp1,
            // Over TLS, prior knowledge offers h2 only: the builder promises HTTP/2, and a
            // server that picked http/1.1 must not be sent the HTTP/2 preface.
            HttpMode::Http2PriorKnowledge => AlpnMode::H2Only,
        };
        if use_h2 {
            // HTTP/2: one dial per key at a time; concurrent requests share its result.
            // Boxed: dialing and the HTTP/2 handshake are most of a request's state machine, and
            // happen once per connection; inline, every request's future would carry their
            // size (~6 KB). A trait object, so that the connect future's drop code is compiled
            // once rather than in every codegen unit that drops a request's future.
            let connecting: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                Box::pin(crate::h2::connect(client, route, &key, alpn, t, slot));
            return connecting.await.map(|c| match c {
                crate::h2::Connected::H2(c) => Conn::H2(c),
                crate::h2::Connected::H1(c) => Conn::H1(c),
            });
        }
        let dial = Arc::new(Dial::default());
        let mut handoff = client.cfg.keep_alive.then(|| {
            ReturnOnDrop::new(
                client.pool.wait_for_returned(&key, dial.clone()),
                &client.pool,
            )
        });
        let (tx, mut rx) = oneshot::channel::<Result<H1Conn, Error>>();
        let task_client = client.clone();
        let task_route = route.clone();
        let task_t = t.clone();
        let task_key = key.clone();
        let ended = client.cfg.keep_alive.then(|| DialEnded {
            pool: client.pool.clone(),
            key: key.clone(),
            dial: dial.clone(),
        });
        crate::outlined::spawn_task(async move {
            // Last (even if a hook panics in the dial): a spare dial stops counting.
            let _ended = ended;
            let res = task_client
                .dialer
                .dial(&task_route, alpn, &task_t)
                .await
                .map(|d| {
                    let mut c = new_h1_conn(d, task_key, &task_route);
                    c.slot = slot;
                    c
                });
            // From here on the pool hands returned connections to other requests.
            dial.end();
            if let Err(Ok(conn)) = tx.send(res) {
                // Our requester took another connection (or gave up): keep this one.
                if task_client.cfg.keep_alive {
                    task_client.pool.put_unrequested(conn);
                }
            }
        });
        let conn = match handoff.as_mut() {
            None => match (&mut rx).await {
                Ok(r) => r?,
                Err(_) => return Err(Error::with(Kind::Connect, msg("dial task ended"))),
            },
            Some(h) => {
                // A handed-over connection wins over the dial's result when both are there
                // (Go's `tryDeliver`: the first delivery counts, and the pool counted this dial
                // as spare when it handed the connection over); a dial error then does not fail
                // a request that has a connection.
                // Whatever leaves the dial's result unread (the handover, or this future being
                // dropped) sends a dialed connection to the pool instead of closing it.
                let mut dialed = ReturnOnDrop::new(rx, &client.pool);
                tokio::select! {
                    biased;
                    Some(c) = h.recv() => {
                        drop(dialed);
                        got_conn(t, &c, c.reused, false, Duration::ZERO);
                        return Ok(Conn::H1(c));
                    }
                    r = dialed.recv() => match r {
                        Some(r) => r?,
                        None => return Err(Error::with(Kind::Connect, msg("dial task ended"))),
                    },
                }
            }
        };
        // `handoff` drops here: a connection handed over while the dial won goes back to the
        // pool instead of being lost.
        got_conn(t, &conn, false, false, Duration::ZERO);
        Ok(Conn::H1(conn))
    }
}

/// Ends a dial for the pool when the dial task finishes (or unwinds): see [`Pool::dial_ended`].
struct DialEnded {
    pool: Pool,
    key: PoolKey,
    dial: Arc<Dial>,
}

impl Drop for DialEnded {
    fn drop(&mut self) {
        self.dial.end();
        self.pool.dial_ended(&self.key, &self.dial);
    }
}

/// Wait for what the pool sends on `rx`, after firing `pool_wait_start`; returns it (`None`: the
/// sender went away) and how long the wait took, for the caller's `pool_wait_done`. A value sent
/// after the request stopped waiting goes back to the pool, and a request dropped while waiting
/// still ends the wait in the trace.
async fn pool_wait<T: Returnable>(
    t: &Tracer,
    pool: &Pool,
    rx: oneshot::Receiver<T>,
    host_port: &str,
    open_conns: usize,
    reason: PoolWaitReason,
) -> (Option<T>, Duration) {
    if t.is_active() {
        t.pool_wait_start(&PoolWaitStartInfo {
            host_port: host_port.to_string(),
            open_conns,
            reason,
        });
    }
    let started = Instant::now();
    let mut rx = ReturnOnDrop::new(rx, pool);
    let mut wait = WaitReport {
        t,
        started,
        open: true,
    };
    let got = rx.recv().await;
    wait.open = false;
    (got, started.elapsed())
}

/// Fires `pool_wait_done` with a cancellation if the waiting request is dropped.
struct WaitReport<'a> {
    t: &'a Tracer,
    started: Instant,
    open: bool,
}

impl Drop for WaitReport<'_> {
    fn drop(&mut self) {
        if self.open {
            self.t.pool_wait_done(&PoolWaitDoneInfo {
                waited: self.started.elapsed(),
                err: Some(Error::with(
                    Kind::Canceled,
                    msg("request dropped while waiting for a connection"),
                )),
            });
        }
    }
}

/// Something that can travel back to the pool if its receiver goes away unread.
trait Returnable: Sized {
    fn give_back(self, pool: &Pool);
}

impl Returnable for H1Conn {
    fn give_back(self, pool: &Pool) {
        pool.put_unrequested(self);
    }
}

impl Returnable for Result<H1Conn, Error> {
    fn give_back(self, pool: &Pool) {
        if let Ok(c) = self {
            pool.put_unrequested(c);
        }
    }
}

impl Returnable for Joined {
    fn give_back(self, pool: &Pool) {
        if let Joined::Conn(c) = self {
            pool.put_unrequested(c);
        }
    }
}

impl Returnable for Handoff {
    fn give_back(self, pool: &Pool) {
        match self {
            Handoff::Conn(c) => pool.put_unrequested(c),
            // Dropping the guard frees the slot (or passes it on).
            Handoff::Slot(g) => drop(g),
        }
    }
}

/// A receiver of a handed-over connection (or slot). If the request stops waiting (it dialed
/// its own, or its future was dropped) after the pool already sent something, that is put
/// back instead of being dropped with the channel.
struct ReturnOnDrop<T: Returnable> {
    rx: Option<oneshot::Receiver<T>>,
    pool: Pool,
}

impl<T: Returnable> ReturnOnDrop<T> {
    fn new(rx: oneshot::Receiver<T>, pool: &Pool) -> Self {
        ReturnOnDrop {
            rx: Some(rx),
            pool: pool.clone(),
        }
    }

    /// The value, or `None` if the sender went away.
    async fn recv(&mut self) -> Option<T> {
        let rx = self.rx.as_mut()?;
        let v = rx.await.ok();
        self.rx = None;
        v
    }
}

impl<T: Returnable> Drop for ReturnOnDrop<T> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(v) = rx.try_recv() {
                v.give_back(&self.pool);
            }
        }
    }
}

/// Fire `got_conn` for an HTTP/1.1 connection (building the payload only when tracing).
fn got_conn(t: &Tracer, c: &H1Conn, reused: bool, was_idle: bool, idle_time: Duration) {
    if t.is_active() {
        t.got_conn(&GotConnInfo {
            conn: c.info.clone(),
            reused,
            was_idle,
            idle_time,
        });
    }
}

/// Wrap a dialed stream as an HTTP/1.1 connection.
pub(crate) fn new_h1_conn(d: Dialed, key: PoolKey, route: &Route) -> H1Conn {
    let info = conn_info(&d, route, Protocol::Http1);
    H1Conn::new(d.stream, Arc::new(info), key)
}

pub(crate) fn conn_info(d: &Dialed, route: &Route, protocol: Protocol) -> ConnInfo {
    ConnInfo {
        id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
        local_addr: d.local_addr,
        remote_addr: d.remote_addr,
        protocol,
        // Go reports the last handshake: the target's, else the HTTPS proxy's.
        tls: d.tls.clone().or_else(|| d.proxy_tls.clone()),
        proxy: route.proxy.as_ref().map(|p| p.uri.clone()),
    }
}

/// Go's `shouldRetryRequest`, for a failure on a reused connection.
fn should_retry(
    method: &Method,
    headers: &HeaderMap,
    progress: Progress,
    h2_retryable: bool,
) -> bool {
    if h2_retryable {
        return true;
    }
    match progress {
        Progress::NothingWritten => true,
        Progress::NoResponse => is_replayable_method(method, headers),
        Progress::ResponseStarted => false,
    }
}

/// GET, HEAD, OPTIONS, TRACE, or any request with an idempotency key.
fn is_replayable_method(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || headers.contains_key("idempotency-key")
        || headers.contains_key("x-idempotency-key")
}

/// `Authorization: Basic ...` for the `user:password@` of `url`, when it has one and the
/// request has no Authorization of its own (Go's `Client.send`). A userinfo with a bad `%`
/// escape or non-UTF-8 bytes is refused, as Go's URL parser refuses it.
fn url_credentials(url: &Uri, headers: &HeaderMap) -> Result<Option<HeaderValue>, Error> {
    let Some((userinfo, _)) = url.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return Ok(None);
    };
    if headers.contains_key(http::header::AUTHORIZATION) {
        return Ok(None);
    }
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = crate::dial::proxy::percent_decode;
    let (Some(user), Some(pass)) = (decode(user), decode(pass)) else {
        return Err(Error::with(
            Kind::InvalidRequest,
            msg("invalid percent-encoding or non-UTF-8 bytes in the URL's credentials"),
        ));
    };
    HeaderValue::try_from(crate::dial::proxy::basic_auth(&user, &pass))
        .map(Some)
        .map_err(|e| Error::with(Kind::InvalidRequest, e))
}

/// Refuse what cannot be sent safely, before any hook fires or byte leaves.
fn validate(method: &Method, url: &Uri, headers: &HeaderMap) -> Result<(), Error> {
    use httptrace_proto::h1::{validate_header, validate_method, validate_request_target};
    validate_method(method).map_err(|e| Error::with(Kind::InvalidRequest, e))?;
    // The host itself is checked by `Route::from_uri`, right after this.
    if url.scheme().is_none() || url.authority().is_none() {
        return Err(Error::with(
            Kind::InvalidRequest,
            msg("URL must be absolute (http://host/...)"),
        ));
    }
    if let Some(pq) = url.path_and_query() {
        validate_request_target(pq.as_str()).map_err(|e| Error::with(Kind::InvalidRequest, e))?;
    }
    for (name, value) in headers {
        validate_header(name, value).map_err(|e| Error::with(Kind::InvalidRequest, e))?;
    }
    if let Some(h) = headers.get(http::header::HOST) {
        if !valid_host_header(h.as_bytes()) {
            return Err(Error::with(
                Kind::InvalidRequest,
                msg(format!("invalid Host header {h:?}")),
            ));
        }
    }
    Ok(())
}

/// Go's `httpguts.ValidHostHeader`: the bytes a `Host` value (host, optional port, IPv6
/// literal with zone) can hold; anything else (spaces, controls, non-ASCII) is refused rather
/// than sent (HTTP/1.1) or dropped for the URL's authority (HTTP/2's `:authority`).
fn valid_host_header(h: &[u8]) -> bool {
    h.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'-'
                    | b'.'
                    | b':'
                    | b';'
                    | b'='
                    | b'['
                    | b']'
                    | b'_'
                    | b'~'
            )
    })
}

fn request_target<'u>(url: &'u Uri, route: &Route) -> Cow<'u, str> {
    let pq = url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let pq = if pq.is_empty() { "/" } else { pq };
    if route.uses_forward_proxy() {
        let host = crate::route::join_host_port(&route.host, route.port);
        let authority = if url.port().is_some() {
            host
        } else {
            bracket(&route.host)
        };
        Cow::Owned(format!("{}://{}{}", route.scheme.as_str(), authority, pq))
    } else if pq.starts_with('/') || pq == "*" {
        Cow::Borrowed(pq)
    } else {
        Cow::Owned(format!("/{pq}"))
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The `Host` value: the request's own `Host` header, else the URL's host with its port only
/// when the URL gives one (Go's rule).
pub(crate) fn host_header<'a>(url: &'a Uri, headers: &'a HeaderMap) -> Cow<'a, str> {
    if let Some(h) = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    {
        return Cow::Borrowed(h);
    }
    match url.authority() {
        // host[:port] exactly as the URL gives it (no userinfo): borrow it.
        Some(a) if !a.as_str().contains('@') => Cow::Borrowed(a.as_str()),
        _ => {
            let host = url.host().unwrap_or("");
            match url.port() {
                Some(p) => Cow::Owned(format!("{}:{}", host, p.as_str())),
                None => Cow::Borrowed(host),
            }
        }
    }
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::EXPECT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("100-continue"))
}

fn request_has_close(headers: &HeaderMap) -> bool {
    httptrace_proto::h1::connection_has_token(headers, "close")
}

impl<B> tower_service::Service<Request<B>> for Client
where
    B: Into<Body> + Send + 'static,
{
    type Response = Response<Incoming>;
    type Error = Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Incoming>, Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let client = self.clone();
        Box::pin(async move { client.execute(req).await })
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>(_: &T) {}
    let c = Client::new();
    let f = c.execute(Request::new(Body::empty()));
    is_send(&f);
    let _ = StatusCode::OK;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An explicit proxy builds with the `proxy` feature and is a builder error naming it
    /// without; the environment's proxies are not read without it; no proxy builds either way.
    #[test]
    fn proxies_follow_the_cargo_feature() {
        let r = Client::builder()
            .native_roots(false)
            .proxy("http://127.0.0.1:3128")
            .build();
        if cfg!(feature = "proxy") {
            assert!(r.is_ok(), "{:?}", r.err());
        } else {
            let Err(e) = r else {
                panic!("a proxy must not build without the feature")
            };
            assert!(e.is_builder(), "{e}");
            assert!(e.to_string().contains("`proxy` feature"), "{e}");
        }
        #[cfg(not(feature = "proxy"))]
        assert!(matches!(proxy_mode(ProxyChoice::Env), Ok(ProxyMode::None)));
        #[cfg(not(feature = "proxy"))]
        {
            // The variables it ignores, and a warning only when there are some, once.
            let env = |vars: &'static [(&'static str, &'static str)]| {
                move |k: &str| {
                    vars.iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| std::ffi::OsString::from(v))
                }
            };
            assert!(ignored_proxy_vars(env(&[])).is_empty());
            assert!(ignored_proxy_vars(env(&[("HTTPS_PROXY", ""), ("NO_PROXY", "x")])).is_empty());
            assert_eq!(
                ignored_proxy_vars(env(&[("http_proxy", "p:1"), ("HTTPS_PROXY", "p:2")])),
                ["http_proxy", "HTTPS_PROXY"]
            );
            assert!(!warn_ignored_proxy_vars(env(&[("NO_PROXY", "x")])));
            let first = warn_ignored_proxy_vars(env(&[("HTTPS_PROXY", "p:2")]));
            let second = warn_ignored_proxy_vars(env(&[("HTTPS_PROXY", "p:2")]));
            // Clients built from the process environment (`proxy_mode(Env)` above, other
            // tests) warn first if that environment names a proxy; either way, never twice.
            let env_names_one = !ignored_proxy_vars(|k| std::env::var_os(k)).is_empty();
            assert_eq!(first, !env_names_one);
            assert!(!second);
        }
        assert!(matches!(proxy_mode(ProxyChoice::None), Ok(ProxyMode::None)));
        assert!(Client::builder()
            .native_roots(false)
            .no_proxy()
            .build()
            .is_ok());
    }

    /// A request in flight costs the size of `execute`'s (or `send`'s) future, which lives in
    /// the caller's task, besides what the request holds. 3,320 bytes while the request's parts were stored
    /// once per layer of the call (an `async fn` keeps each argument twice: as the argument,
    /// and as the local it is moved to), 1,872 since (Rust 1.95). Bounded with headroom for
    /// compiler versions; a new field held across an await anywhere in the call shows here.
    #[test]
    fn a_request_future_stays_small() {
        let c = Client::builder()
            .native_roots(false)
            .no_proxy()
            .build()
            .expect("builds");
        let f = c.execute(Request::new(Body::empty()));
        let n = std::mem::size_of_val(&f);
        assert!(n <= 2048, "execute's future is {n} bytes");
        // `send` holds the builder (the client and the request) and `execute`'s future: 2,688
        // bytes when it was an `async fn`, 2,152 since.
        let f = c.get("http://127.0.0.1:1/").send();
        let n = std::mem::size_of_val(&f);
        assert!(n <= 2048 + 320, "send's future is {n} bytes");
    }
}
