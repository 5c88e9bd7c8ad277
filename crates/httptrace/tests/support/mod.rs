//! Shared helpers for every integration suite: a [`Recorder`] that sets every hook of a
//! [`ClientTrace`] and logs each call as a compact string, the requests and hang guards the
//! suites share, and the peers they start (TLS and HTTP/2 servers with a generated CA and a
//! client that trusts it, HTTP and SOCKS5 proxies).
//!
//! Event strings (one per hook call, in call order):
//!
//! | hook | string |
//! |---|---|
//! | get_conn | `get_conn HOST:PORT` |
//! | got_conn | `got_conn reused=B was_idle=B` (the full info is in [`Recorder::got_conns`]) |
//! | put_idle_conn | `put_idle_conn nil` / `put_idle_conn err` (errors in [`Recorder::put_idle_errs`]) |
//! | got_first_response_byte | `got_first_response_byte` |
//! | got_100_continue | `got_100_continue` |
//! | got_1xx_response | `got_1xx CODE` (headers in [`Recorder::got_1xx`]) |
//! | dns_start | `dns_start host=NAME` |
//! | dns_done | `dns_done coalesced=B err=nil|err addrs=[..]` |
//! | connect_start | `connect_start tcp ADDR` |
//! | connect_done | `connect_done tcp ADDR nil|err` |
//! | tls_handshake_start / done | `tls_handshake_start`, `tls_handshake_done nil|err` (states in [`Recorder::tls`]) |
//! | wrote_header_field | `wrote_header_field NAME` (values in [`Recorder::fields`]) |
//! | wrote_headers, wait_100_continue | the hook name |
//! | wrote_request | `wrote_request nil|err` |
//! | beyond Go | `request_start attempt=N hop=N`, `request_done status=S err=E`, `retry attempt=N reason=R`, `redirect STATUS`, `got_response_headers STATUS`, `response_body_done bytes=N err=E outcome=O`, `conn_closed reason=R`, `pool_wait_start reason=R`, `pool_wait_done`, `new_conn reason=R` |
//! | [`Recorder::mark`] | whatever the test pushes (`result ...`, `execute_returned`) |
#![allow(dead_code)]

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use httptrace::{
    Client, ClientBuilder, ClientTrace, DnsDoneInfo, Error, GotConnInfo, Incoming, RetryInfo,
    TlsState,
};
use httptrace_peers::{
    Proxy, ProxyConfig, ProxyHandle, Server, ServerBuilder, ServerHandle, Socks5Handle,
    Socks5Proxy, TestCa,
};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// The recorder
// ---------------------------------------------------------------------------------------------

/// The hook names Go has (plus the `headers` marker that stands for a run of
/// `wrote_header_field` calls in [`Recorder::names`]).
pub const GO_HOOKS: &[&str] = &[
    "get_conn",
    "got_conn",
    "put_idle_conn",
    "got_first_response_byte",
    "got_100_continue",
    "got_1xx",
    "dns_start",
    "dns_done",
    "connect_start",
    "connect_done",
    "tls_handshake_start",
    "tls_handshake_done",
    "headers",
    "wrote_headers",
    "wait_100_continue",
    "wrote_request",
];

// Go's hook names (as [`Recorder::go_names`] renders them) of the usual request shapes, in
// pieces that [`seq`] joins.

/// `get_conn` and a TCP connect to an address (no DNS).
pub const TCP_DIAL: &[&str] = &["get_conn", "connect_start", "connect_done"];
/// One TLS handshake.
pub const TLS_PAIR: &[&str] = &["tls_handshake_start", "tls_handshake_done"];
/// A request on a connection in hand, up to the first response byte.
pub const EXCHANGE: &[&str] = &[
    "got_conn",
    "headers",
    "wrote_headers",
    "wrote_request",
    "got_first_response_byte",
];
/// An HTTP/1.1 connection going back to the pool.
pub const PUT_IDLE: &[&str] = &["put_idle_conn"];

/// A new plain TCP connection carrying HTTP/1.1.
pub fn fresh_tcp_h1() -> Vec<String> {
    seq(&[TCP_DIAL, EXCHANGE, PUT_IDLE])
}

/// A new TLS connection carrying HTTP/1.1.
pub fn fresh_tls_h1() -> Vec<String> {
    seq(&[TCP_DIAL, TLS_PAIR, EXCHANGE, PUT_IDLE])
}

/// A new TLS connection carrying HTTP/2 (no `put_idle_conn`).
pub fn fresh_tls_h2() -> Vec<String> {
    seq(&[TCP_DIAL, TLS_PAIR, EXCHANGE])
}

/// A request on a reused HTTP/1.1 connection.
pub fn reused_h1() -> Vec<String> {
    seq(&[&["get_conn"], EXCHANGE, PUT_IDLE])
}

/// A stream on a reused HTTP/2 connection.
pub fn reused_h2() -> Vec<String> {
    seq(&[&["get_conn"], EXCHANGE])
}

/// The error a test's `got_1xx_response` hook returns; tests downcast `source()` to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError(pub String);

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hook error: {}", self.0)
    }
}

impl StdError for HookError {}

#[derive(Default)]
struct Extra {
    fields: Vec<(String, Vec<String>)>,
    got_conns: Vec<GotConnInfo>,
    put_idle_errs: Vec<Option<Error>>,
    got_1xx: Vec<(u16, HeaderMap)>,
    dns_done: Vec<DnsDoneInfo>,
    tls: Vec<(TlsState, Option<Error>)>,
    wrote_request_errs: Vec<Option<Error>>,
    retries: Vec<RetryInfo>,
    times: Vec<Duration>,
}

/// Records every hook call of one trace.
#[derive(Clone)]
pub struct Recorder {
    /// The event strings, in call order.
    pub log: Arc<Mutex<Vec<String>>>,
    extra: Arc<Mutex<Extra>>,
    start: Instant,
    /// When set, the `got_1xx_response` hook returns `Err(HookError(msg))`.
    abort_1xx: Arc<Mutex<Option<String>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn err_str(e: Option<&Error>) -> &'static str {
    if e.is_some() {
        "err"
    } else {
        "nil"
    }
}

/// The hook name of an event string (its first word).
fn name_of(event: &str) -> &str {
    event.split_whitespace().next().unwrap_or("")
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            log: Arc::new(Mutex::new(Vec::new())),
            extra: Arc::new(Mutex::new(Extra::default())),
            start: Instant::now(),
            abort_1xx: Arc::new(Mutex::new(None)),
        }
    }

    /// A recorder whose `got_1xx_response` hook fails with `HookError(msg)`.
    pub fn aborting_1xx(msg: &str) -> Recorder {
        let r = Recorder::new();
        *lock(&r.abort_1xx) = Some(msg.to_string());
        r
    }

    fn push(&self, s: String) {
        let mut log = lock(&self.log);
        lock(&self.extra).times.push(self.start.elapsed());
        log.push(s);
    }

    /// Push a marker of the test's own (e.g. `result status=200`).
    pub fn mark(&self, s: impl Into<String>) {
        self.push(s.into());
    }

    /// Record `info` into the extra data and push `event`.
    fn record(&self, save: impl FnOnce(&mut Extra), event: String) {
        save(&mut lock(&self.extra));
        self.push(event);
    }

    /// A trace with ALL hooks set, each recording into this recorder.
    pub fn trace(&self) -> ClientTrace {
        let r = || self.clone();
        ClientTrace::new()
            .on_get_conn({
                let r = r();
                move |hp| r.push(format!("get_conn {hp}"))
            })
            .on_got_conn({
                let r = r();
                move |i| {
                    let ev = format!("got_conn reused={} was_idle={}", i.reused, i.was_idle);
                    r.record(|x| x.got_conns.push(i.clone()), ev);
                }
            })
            .on_put_idle_conn({
                let r = r();
                move |e| {
                    let ev = format!("put_idle_conn {}", err_str(e));
                    r.record(|x| x.put_idle_errs.push(e.cloned()), ev);
                }
            })
            .on_got_first_response_byte({
                let r = r();
                move || r.push("got_first_response_byte".into())
            })
            .on_got_100_continue({
                let r = r();
                move || r.push("got_100_continue".into())
            })
            .on_got_1xx_response({
                let r = r();
                move |code: StatusCode, h: &HeaderMap| {
                    let ev = format!("got_1xx {}", code.as_u16());
                    r.record(|x| x.got_1xx.push((code.as_u16(), h.clone())), ev);
                    match lock(&r.abort_1xx).clone() {
                        Some(m) => Err(Box::new(HookError(m)) as httptrace::BoxError),
                        None => Ok(()),
                    }
                }
            })
            .on_dns_start({
                let r = r();
                move |i| r.push(format!("dns_start host={}", i.host))
            })
            .on_dns_done({
                let r = r();
                move |i| {
                    let ev = format!(
                        "dns_done coalesced={} err={} addrs={:?}",
                        i.coalesced,
                        err_str(i.err.as_ref()),
                        i.addrs
                    );
                    r.record(|x| x.dns_done.push(i.clone()), ev);
                }
            })
            .on_connect_start({
                let r = r();
                move |net, addr| r.push(format!("connect_start {net} {addr}"))
            })
            .on_connect_done({
                let r = r();
                move |net, addr, e| r.push(format!("connect_done {net} {addr} {}", err_str(e)))
            })
            .on_tls_handshake_start({
                let r = r();
                move || r.push("tls_handshake_start".into())
            })
            .on_tls_handshake_done({
                let r = r();
                move |st, e| {
                    let ev = format!("tls_handshake_done {}", err_str(e));
                    r.record(|x| x.tls.push((st.clone(), e.cloned())), ev);
                }
            })
            .on_wrote_header_field({
                let r = r();
                move |name: &str, v: httptrace::HeaderValues<'_>| {
                    let ev = format!("wrote_header_field {name}");
                    r.record(|x| x.fields.push((name.to_string(), v.to_strings())), ev);
                }
            })
            .on_wrote_headers({
                let r = r();
                move || r.push("wrote_headers".into())
            })
            .on_wait_100_continue({
                let r = r();
                move || r.push("wait_100_continue".into())
            })
            .on_wrote_request({
                let r = r();
                move |i| {
                    let ev = format!("wrote_request {}", err_str(i.err.as_ref()));
                    r.record(|x| x.wrote_request_errs.push(i.err.clone()), ev);
                }
            })
            // Beyond Go.
            .on_request_start({
                let r = r();
                move |i| {
                    r.push(format!(
                        "request_start attempt={} hop={}",
                        i.attempt, i.redirect_hop
                    ))
                }
            })
            .on_request_done({
                let r = r();
                move |i| {
                    r.push(format!(
                        "request_done status={} err={}",
                        i.status
                            .map(|s| s.as_u16().to_string())
                            .unwrap_or("none".into()),
                        err_str(i.err.as_ref())
                    ))
                }
            })
            .on_retry({
                let r = r();
                move |i| {
                    let ev = format!("retry attempt={} reason={:?}", i.attempt, i.reason);
                    r.record(|x| x.retries.push(i.clone()), ev);
                }
            })
            .on_redirect({
                let r = r();
                move |i| r.push(format!("redirect {}", i.status.as_u16()))
            })
            .on_got_response_headers({
                let r = r();
                move |i| r.push(format!("got_response_headers {}", i.status.as_u16()))
            })
            .on_response_body_done({
                let r = r();
                move |i| {
                    r.push(format!(
                        "response_body_done bytes={} err={} outcome={:?}",
                        i.bytes,
                        err_str(i.err.as_ref()),
                        i.conn_outcome
                    ))
                }
            })
            .on_conn_closed({
                let r = r();
                move |i| r.push(format!("conn_closed reason={:?}", i.reason))
            })
            .on_pool_wait_start({
                let r = r();
                move |i| r.push(format!("pool_wait_start reason={}", i.reason.as_str()))
            })
            .on_pool_wait_done({
                let r = r();
                move |_| r.push("pool_wait_done".into())
            })
            .on_new_conn({
                let r = r();
                move |i| r.push(format!("new_conn reason={:?}", i.reason))
            })
    }

    /// All event strings, in order.
    pub fn events(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    /// The event strings of Go's sixteen hooks only (no beyond-Go events, no markers), in
    /// order; `wrote_header_field` events are kept one by one.
    pub fn go_events(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| {
                let n = name_of(e);
                n == "wrote_header_field" || GO_HOOKS.contains(&n)
            })
            .collect()
    }

    /// The hook names (first word of each event), with each run of `wrote_header_field`
    /// collapsed into one `headers` marker.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.events() {
            let name = name_of(&e).to_string();
            if name == "wrote_header_field" {
                if out.last().map(String::as_str) != Some("headers") {
                    out.push("headers".into());
                }
            } else {
                out.push(name);
            }
        }
        out
    }

    /// [`names`](Self::names) restricted to Go's sixteen hooks.
    pub fn go_names(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| GO_HOOKS.contains(&n.as_str()))
            .collect()
    }

    /// How many events equal `s` or start with `s` followed by a space (so `count("got_conn")`
    /// counts that hook, `count("put_idle_conn nil")` its successful calls).
    pub fn count(&self, s: &str) -> usize {
        self.events().iter().filter(|e| is_event(e, s)).count()
    }

    /// How many events start with `prefix` (so `count_prefix("tls_")` counts both TLS hooks).
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }

    /// True when exactly this event string was recorded.
    pub fn has(&self, event: &str) -> bool {
        self.events().iter().any(|e| e == event)
    }

    /// Index of the first event equal to `s` or starting with `s` followed by a space.
    pub fn pos(&self, s: &str) -> Option<usize> {
        self.events().iter().position(|e| is_event(e, s))
    }

    /// Time since the recorder was created at which event `i` was recorded.
    pub fn time_of(&self, i: usize) -> Duration {
        lock(&self.extra).times[i]
    }

    /// `(name, values)` of every `wrote_header_field` call, in order.
    pub fn fields(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.extra).fields.clone()
    }

    /// The names of every `wrote_header_field` call, in order.
    pub fn field_names(&self) -> Vec<String> {
        self.fields().into_iter().map(|(n, _)| n).collect()
    }

    /// Values reported for header field `name` (first call with that name, case-insensitive).
    pub fn field(&self, name: &str) -> Option<Vec<String>> {
        self.fields()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn got_conns(&self) -> Vec<GotConnInfo> {
        lock(&self.extra).got_conns.clone()
    }

    pub fn put_idle_errs(&self) -> Vec<Option<Error>> {
        lock(&self.extra).put_idle_errs.clone()
    }

    pub fn got_1xx(&self) -> Vec<(u16, HeaderMap)> {
        lock(&self.extra).got_1xx.clone()
    }

    pub fn dns_done(&self) -> Vec<DnsDoneInfo> {
        lock(&self.extra).dns_done.clone()
    }

    /// The state and error of every `tls_handshake_done` call, in order.
    pub fn tls(&self) -> Vec<(TlsState, Option<Error>)> {
        lock(&self.extra).tls.clone()
    }

    pub fn wrote_request_errs(&self) -> Vec<Option<Error>> {
        lock(&self.extra).wrote_request_errs.clone()
    }

    pub fn retries(&self) -> Vec<RetryInfo> {
        lock(&self.extra).retries.clone()
    }

    /// The events joined one per line, for assertion messages.
    pub fn dump(&self) -> String {
        self.events().join("\n  ")
    }
}

/// `event` is `s`, or `s` followed by a space and more.
fn is_event(event: &str, s: &str) -> bool {
    event
        .strip_prefix(s)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// `["a", "b"]` as owned strings.
pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `parts` joined into one sequence of owned strings (a shape plus the events after it).
pub fn seq(parts: &[&[&str]]) -> Vec<String> {
    parts.iter().flat_map(|p| strs(p)).collect()
}

// ---------------------------------------------------------------------------------------------
// Guards against hangs
// ---------------------------------------------------------------------------------------------

/// The generous guard of one operation: nothing may hang.
pub const GUARD: Duration = Duration::from_secs(10);

/// Bound on a whole test body (TLS, HTTP/2, proxy and interop suites).
pub const TEST_LIMIT: Duration = Duration::from_secs(20);

/// Run `f`; panic (test failure) if it does not finish within `limit`.
pub async fn within<F: Future>(limit: Duration, what: &str, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {limit:?} (hang)"),
    }
}

/// Run `f` under the 10 s [`GUARD`].
pub async fn guard<F: Future>(f: F) -> F::Output {
    within(GUARD, "operation", f).await
}

/// Run a test body `f` under the 20 s [`TEST_LIMIT`].
pub async fn bounded<F: Future>(f: F) -> F::Output {
    within(TEST_LIMIT, "test", f).await
}

// ---------------------------------------------------------------------------------------------
// Clients and requests
// ---------------------------------------------------------------------------------------------

/// A client builder with no proxy (the environment must not redirect loopback tests).
pub fn builder() -> ClientBuilder {
    Client::builder().no_proxy()
}

/// A default client (no proxy).
pub fn client() -> Client {
    builder().build().expect("client builds")
}

/// A client builder that ignores proxy environment variables and trusts only `ca`.
pub fn builder_trusting(ca: &TestCa) -> ClientBuilder {
    builder()
        .native_roots(false)
        .add_root_certificate_der(ca.ca_der().to_vec())
}

/// A client whose every request goes through `proxy` (a proxy URL).
pub fn proxied_client(proxy: &str) -> Client {
    Client::builder()
        .proxy(proxy)
        .build()
        .expect("client builds")
}

/// `HTTP/1.1 200 OK` with a Content-Length body.
pub fn ok_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    )
}

/// Read a response body to its end under the guard.
pub async fn read_body(body: Incoming) -> Result<bytes::Bytes, Error> {
    guard(body.bytes()).await
}

/// GET `url` with `rec`'s trace under the guard; read the body; mark `result status=S body=N`
/// or `result err`. Returns the status and body.
pub async fn get_traced(
    client: &Client,
    url: &str,
    rec: &Recorder,
) -> Result<(StatusCode, bytes::Bytes), Error> {
    let res = guard(async {
        let resp = client.get(url).trace(rec.trace()).send().await?;
        let status = resp.status();
        let body = resp.into_body().bytes().await?;
        Ok::<_, Error>((status, body))
    })
    .await;
    match &res {
        Ok((s, b)) => rec.mark(format!("result status={} body={}", s.as_u16(), b.len())),
        Err(_) => rec.mark("result err"),
    }
    res
}

/// POST `body` to `url` with `Expect: 100-continue` and `rec`'s trace, under the guard.
pub async fn post_expecting_continue(
    client: &Client,
    url: &str,
    body: impl Into<httptrace::Body>,
    rec: &Recorder,
) -> Result<http::Response<Incoming>, Error> {
    guard(
        client
            .post(url)
            .header("Expect", "100-continue")
            .body(body)
            .trace(rec.trace())
            .send(),
    )
    .await
}

/// [`get_traced`] with a fresh recorder; returns the status, the body and the recorder.
pub async fn get(client: &Client, url: &str) -> (Result<(u16, Vec<u8>), Error>, Recorder) {
    let rec = Recorder::new();
    let res = get_traced(client, url, &rec)
        .await
        .map(|(s, b)| (s.as_u16(), b.to_vec()));
    (res, rec)
}

/// The value of `res`, or a panic with the error and `rec`'s events.
pub fn ok_or_dump<T>(res: Result<T, Error>, rec: &Recorder) -> T {
    res.unwrap_or_else(|e| panic!("{e:?}\n  {}", rec.dump()))
}

/// `n` concurrent GETs of `url` on clones of `client`, each with its own recorder.
pub async fn get_concurrently(
    client: &Client,
    url: &str,
    n: usize,
) -> Vec<(Result<(u16, Vec<u8>), Error>, Recorder)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = client.clone();
            let url = url.to_string();
            tokio::spawn(async move { get(&c, &url).await })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

/// Base64 of `s` (standard alphabet, padded), for expected `Proxy-Authorization` values.
pub fn base64(s: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

/// ALPN lists a TLS server offers: none, HTTP/1.1 only, HTTP/2 then HTTP/1.1.
pub const ALPN_NONE: &[&[u8]] = &[];
pub const ALPN_H1: &[&[u8]] = &[b"http/1.1"];
pub const ALPN_H2: &[&[u8]] = &[b"h2", b"http/1.1"];

/// `server` started over TLS with the `localhost`/127.0.0.1 leaf of a new CA, offering
/// `alpn`; returns the CA, the server and a client (no proxy) that trusts only that CA.
pub async fn tls_server(server: ServerBuilder, alpn: &[&[u8]]) -> (TestCa, ServerHandle, Client) {
    let ca = TestCa::new();
    let config = ca.server_config(alpn);
    finish_tls_server(ca, server, config).await
}

/// [`tls_server`] with a leaf minted for `names` only (e.g. a wrong host).
pub async fn tls_server_for(
    names: &[&str],
    server: ServerBuilder,
    alpn: &[&[u8]],
) -> (TestCa, ServerHandle, Client) {
    let ca = TestCa::new();
    let config = ca.server_config_with_leaf(&ca.leaf_for(names), alpn);
    finish_tls_server(ca, server, config).await
}

async fn finish_tls_server(
    ca: TestCa,
    server: ServerBuilder,
    config: Arc<rustls::ServerConfig>,
) -> (TestCa, ServerHandle, Client) {
    let srv = server.tls(config).start().await.expect("TLS server starts");
    let client = builder_trusting(&ca).build().expect("client builds");
    (ca, srv, client)
}

/// [`tls_server`] offering `h2` then `http/1.1`.
pub async fn h2_server(server: ServerBuilder) -> (TestCa, ServerHandle, Client) {
    tls_server(server, ALPN_H2).await
}

/// A plain HTTP server answering `Hello, world!`.
pub async fn hello_server() -> ServerHandle {
    Server::hello().start().await.expect("server starts")
}

/// `Some((user, pass))` as the peers' proxies take credentials.
pub fn creds(user: &str, pass: &str) -> Option<(String, String)> {
    Some((user.to_string(), pass.to_string()))
}

/// An HTTP proxy (forwarding and CONNECT), requiring `auth` when given.
pub async fn http_proxy(auth: Option<(String, String)>) -> ProxyHandle {
    Proxy::start(ProxyConfig {
        auth,
        ..ProxyConfig::default()
    })
    .await
    .expect("proxy starts")
}

/// A SOCKS5 proxy, requiring `auth` when given.
pub async fn socks5_proxy(auth: Option<(String, String)>) -> Socks5Handle {
    Socks5Proxy::start(auth).await.expect("SOCKS5 proxy starts")
}

/// The in-process HTTP/1.1 peer (`Hello, world!`, 13 bytes) on its own OS thread and runtime:
/// its work happens outside the test's runtime (allocation counts; task interleavings as with
/// a real server on another core).
pub struct ThreadPeer {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadPeer {
    /// Start it; `url` is its `/`.
    pub fn hello() -> ThreadPeer {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("thread-peer".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let srv = httptrace_peers::http1::Server::hello()
                        .start()
                        .await
                        .unwrap();
                    url_tx.send(srv.url("/")).unwrap();
                    let _ = stop_rx.await;
                    drop(srv);
                });
            })
            .unwrap();
        ThreadPeer {
            url: url_rx.recv().unwrap(),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for ThreadPeer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
