//! Shared helpers for the integration tests: a [`Recorder`] that sets every hook of a
//! [`ClientTrace`] and logs each call as a compact string, plus small utilities.
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
//! | tls_handshake_start / done | `tls_handshake_start`, `tls_handshake_done nil|err` |
//! | wrote_header_field | `wrote_header_field NAME` (values in [`Recorder::fields`]) |
//! | wrote_headers, wait_100_continue | the hook name |
//! | wrote_request | `wrote_request nil|err` |
//! | beyond Go | `request_start attempt=N hop=N`, `request_done status=S err=E`, `retry attempt=N reason=R`, `redirect STATUS`, `got_response_headers STATUS`, `response_body_done bytes=N err=E outcome=O`, `conn_closed reason=R`, `pool_wait_start`, `pool_wait_done`, `new_conn reason=R` |
//! | [`Recorder::mark`] | whatever the test pushes (`result ...`, `execute_returned`) |
#![allow(dead_code)]

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use httptrace::{ClientBuilder, ClientTrace, DnsDoneInfo, Error, GotConnInfo, Incoming, RetryInfo};
use tokio::time::Instant;

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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn err_str(e: Option<&Error>) -> &'static str {
    if e.is_some() {
        "err"
    } else {
        "nil"
    }
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

    /// A trace with ALL hooks set, each recording into this recorder.
    pub fn trace(&self) -> ClientTrace {
        let r = self.clone();
        let t = ClientTrace::new();
        let t = {
            let r = r.clone();
            t.on_get_conn(move |hp| r.push(format!("get_conn {hp}")))
        };
        let t = {
            let r = r.clone();
            t.on_got_conn(move |i| {
                lock(&r.extra).got_conns.push(i.clone());
                r.push(format!(
                    "got_conn reused={} was_idle={}",
                    i.reused, i.was_idle
                ));
            })
        };
        let t = {
            let r = r.clone();
            t.on_put_idle_conn(move |e| {
                lock(&r.extra).put_idle_errs.push(e.cloned());
                r.push(format!("put_idle_conn {}", err_str(e)));
            })
        };
        let t = {
            let r = r.clone();
            t.on_got_first_response_byte(move || r.push("got_first_response_byte".into()))
        };
        let t = {
            let r = r.clone();
            t.on_got_100_continue(move || r.push("got_100_continue".into()))
        };
        let t = {
            let r = r.clone();
            t.on_got_1xx_response(move |code: StatusCode, h: &HeaderMap| {
                lock(&r.extra).got_1xx.push((code.as_u16(), h.clone()));
                r.push(format!("got_1xx {}", code.as_u16()));
                match lock(&r.abort_1xx).clone() {
                    Some(m) => Err(Box::new(HookError(m)) as httptrace::BoxError),
                    None => Ok(()),
                }
            })
        };
        let t = {
            let r = r.clone();
            t.on_dns_start(move |i| r.push(format!("dns_start host={}", i.host)))
        };
        let t = {
            let r = r.clone();
            t.on_dns_done(move |i| {
                lock(&r.extra).dns_done.push(i.clone());
                r.push(format!(
                    "dns_done coalesced={} err={} addrs={:?}",
                    i.coalesced,
                    err_str(i.err.as_ref()),
                    i.addrs
                ));
            })
        };
        let t = {
            let r = r.clone();
            t.on_connect_start(move |net, addr| r.push(format!("connect_start {net} {addr}")))
        };
        let t = {
            let r = r.clone();
            t.on_connect_done(move |net, addr, e| {
                r.push(format!("connect_done {net} {addr} {}", err_str(e)))
            })
        };
        let t = {
            let r = r.clone();
            t.on_tls_handshake_start(move || r.push("tls_handshake_start".into()))
        };
        let t = {
            let r = r.clone();
            t.on_tls_handshake_done(move |_s, e| {
                r.push(format!("tls_handshake_done {}", err_str(e)))
            })
        };
        let t = {
            let r = r.clone();
            t.on_wrote_header_field(move |name: &str, v: httptrace::HeaderValues<'_>| {
                lock(&r.extra)
                    .fields
                    .push((name.to_string(), v.to_strings()));
                r.push(format!("wrote_header_field {name}"));
            })
        };
        let t = {
            let r = r.clone();
            t.on_wrote_headers(move || r.push("wrote_headers".into()))
        };
        let t = {
            let r = r.clone();
            t.on_wait_100_continue(move || r.push("wait_100_continue".into()))
        };
        let t = {
            let r = r.clone();
            t.on_wrote_request(move |i| {
                lock(&r.extra).wrote_request_errs.push(i.err.clone());
                r.push(format!("wrote_request {}", err_str(i.err.as_ref())));
            })
        };
        // Beyond Go.
        let t = {
            let r = r.clone();
            t.on_request_start(move |i| {
                r.push(format!(
                    "request_start attempt={} hop={}",
                    i.attempt, i.redirect_hop
                ))
            })
        };
        let t = {
            let r = r.clone();
            t.on_request_done(move |i| {
                r.push(format!(
                    "request_done status={} err={}",
                    i.status
                        .map(|s| s.as_u16().to_string())
                        .unwrap_or("none".into()),
                    err_str(i.err.as_ref())
                ))
            })
        };
        let t = {
            let r = r.clone();
            t.on_retry(move |i| {
                lock(&r.extra).retries.push(i.clone());
                r.push(format!("retry attempt={} reason={:?}", i.attempt, i.reason));
            })
        };
        let t = {
            let r = r.clone();
            t.on_redirect(move |i| r.push(format!("redirect {}", i.status.as_u16())))
        };
        let t = {
            let r = r.clone();
            t.on_got_response_headers(move |i| {
                r.push(format!("got_response_headers {}", i.status.as_u16()))
            })
        };
        let t = {
            let r = r.clone();
            t.on_response_body_done(move |i| {
                r.push(format!(
                    "response_body_done bytes={} err={} outcome={:?}",
                    i.bytes,
                    err_str(i.err.as_ref()),
                    i.conn_outcome
                ))
            })
        };
        let t = {
            let r = r.clone();
            t.on_conn_closed(move |i| r.push(format!("conn_closed reason={:?}", i.reason)))
        };
        let t = {
            let r = r.clone();
            t.on_pool_wait_start(move |_| r.push("pool_wait_start".into()))
        };
        let t = {
            let r = r.clone();
            t.on_pool_wait_done(move |_| r.push("pool_wait_done".into()))
        };
        let t = {
            let r = r.clone();
            t.on_new_conn(move |i| r.push(format!("new_conn reason={:?}", i.reason)))
        };
        t
    }

    /// All event strings, in order.
    pub fn events(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    /// The hook names (first word of each event), with each run of `wrote_header_field`
    /// collapsed into one `headers` marker.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.events() {
            let name = e.split_whitespace().next().unwrap_or("").to_string();
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

    /// How many events have this hook name (first word).
    pub fn count(&self, name: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.split_whitespace().next() == Some(name))
            .count()
    }

    /// Index of the first event equal to `s` or starting with `s` followed by a space.
    pub fn pos(&self, s: &str) -> Option<usize> {
        self.events()
            .iter()
            .position(|e| e == s || e.starts_with(&format!("{s} ")))
    }

    /// Time since the recorder was created at which event `i` was recorded.
    pub fn time_of(&self, i: usize) -> Duration {
        lock(&self.extra).times[i]
    }

    /// `(name, values)` of every `wrote_header_field` call, in order.
    pub fn fields(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.extra).fields.clone()
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

/// The generous guard every test uses: nothing may hang.
pub const GUARD: Duration = Duration::from_secs(10);

/// Run `f` under the 10 s guard; panic (test failure) if it does not finish.
pub async fn guard<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(GUARD, f).await {
        Ok(v) => v,
        Err(_) => panic!("operation did not finish within {GUARD:?} (hang)"),
    }
}

/// A client builder with no proxy (the environment must not redirect loopback tests).
pub fn builder() -> ClientBuilder {
    httptrace::Client::builder().no_proxy()
}

/// A default client (no proxy).
pub fn client() -> httptrace::Client {
    builder().build().expect("client builds")
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

/// GET `url` with `rec`'s trace; read the body; mark `result status=S body=N` or
/// `result err`. Returns the status and body.
pub async fn get_traced(
    client: &httptrace::Client,
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

/// Strings of a `got_conn`-free sequence comparison helper: `["a", "b"]` as owned strings.
pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
