//! Shared helpers for the TLS, HTTP/2, proxy and interop suites: a recording trace whose every
//! hook pushes one compact string, plus client and timeout helpers.
//!
//! Event strings, in call order:
//!
//! | hook | string |
//! |---|---|
//! | get_conn | `get_conn HOST:PORT` |
//! | got_conn | `got_conn reused=B was_idle=B` (full infos in [`Rec::got_conns`]) |
//! | put_idle_conn | `put_idle_conn nil|err` |
//! | got_first_response_byte | `first_byte` |
//! | got_100_continue | `got_100_continue` |
//! | got_1xx_response | `got_1xx CODE` |
//! | dns_start / dns_done | `dns_start HOST`, `dns_done nil|err` |
//! | connect_start / done | `connect_start ADDR`, `connect_done ADDR nil|err` |
//! | tls_handshake_start / done | `tls_start`, `tls_done nil|err` (states in [`Rec::tls`]) |
//! | wrote_header_field | `field NAME=V1,V2` |
//! | wrote_headers, wait_100_continue | the hook name |
//! | wrote_request | `wrote_request nil|err` |
//! | retry | `retry REASON` (Debug of the reason) |
//! | conn_closed | `conn_closed REASON` |
#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use httptrace::{ClientBuilder, ClientTrace, Error, GotConnInfo, RetryInfo, TlsState};

/// Bound on every test body.
pub const TEST_LIMIT: Duration = Duration::from_secs(20);

/// Run `f`, failing the test if it takes longer than [`TEST_LIMIT`].
pub async fn bounded<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(TEST_LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("test exceeded {TEST_LIMIT:?}"),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Data {
    log: Vec<String>,
    got_conns: Vec<GotConnInfo>,
    tls: Vec<(TlsState, Option<Error>)>,
    fields: Vec<(String, Vec<String>)>,
    retries: Vec<RetryInfo>,
    wrote_request_errs: Vec<Option<Error>>,
}

/// A recording trace.
#[derive(Clone, Default)]
pub struct Rec {
    data: Arc<Mutex<Data>>,
    abort_1xx: bool,
}

fn nil(e: Option<&Error>) -> &'static str {
    if e.is_some() {
        "err"
    } else {
        "nil"
    }
}

impl Rec {
    pub fn new() -> Rec {
        Rec::default()
    }

    /// A recorder whose `got_1xx_response` hook returns an error.
    pub fn aborting_1xx() -> Rec {
        Rec {
            abort_1xx: true,
            ..Rec::default()
        }
    }

    fn push(&self, s: String) {
        lock(&self.data).log.push(s);
    }

    /// Push a test marker.
    pub fn mark(&self, s: &str) {
        self.push(s.to_string());
    }

    /// A trace with every hook recording here.
    pub fn trace(&self) -> ClientTrace {
        let r = || self.clone();
        let abort = self.abort_1xx;
        ClientTrace::new()
            .on_get_conn({
                let r = r();
                move |hp| r.push(format!("get_conn {hp}"))
            })
            .on_got_conn({
                let r = r();
                move |i| {
                    let mut d = lock(&r.data);
                    d.got_conns.push(i.clone());
                    d.log.push(format!(
                        "got_conn reused={} was_idle={}",
                        i.reused, i.was_idle
                    ));
                }
            })
            .on_put_idle_conn({
                let r = r();
                move |e| r.push(format!("put_idle_conn {}", nil(e)))
            })
            .on_got_first_response_byte({
                let r = r();
                move || r.push("first_byte".into())
            })
            .on_got_100_continue({
                let r = r();
                move || r.push("got_100_continue".into())
            })
            .on_got_1xx_response({
                let r = r();
                move |code, _h| {
                    r.push(format!("got_1xx {}", code.as_u16()));
                    if abort {
                        Err("rejected by the test's 1xx hook".into())
                    } else {
                        Ok(())
                    }
                }
            })
            .on_dns_start({
                let r = r();
                move |i| r.push(format!("dns_start {}", i.host))
            })
            .on_dns_done({
                let r = r();
                move |i| r.push(format!("dns_done {}", nil(i.err.as_ref())))
            })
            .on_connect_start({
                let r = r();
                move |_net, a| r.push(format!("connect_start {a}"))
            })
            .on_connect_done({
                let r = r();
                move |_net, a, e| r.push(format!("connect_done {a} {}", nil(e)))
            })
            .on_tls_handshake_start({
                let r = r();
                move || r.push("tls_start".into())
            })
            .on_tls_handshake_done({
                let r = r();
                move |st, e| {
                    let mut d = lock(&r.data);
                    d.tls.push((st.clone(), e.cloned()));
                    d.log.push(format!("tls_done {}", nil(e)));
                }
            })
            .on_wrote_header_field({
                let r = r();
                move |k, v| {
                    let vals = v.to_strings();
                    let mut d = lock(&r.data);
                    d.log.push(format!("field {}={}", k, vals.join(",")));
                    d.fields.push((k.to_string(), vals));
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
                    let mut d = lock(&r.data);
                    d.wrote_request_errs.push(i.err.clone());
                    d.log.push(format!("wrote_request {}", nil(i.err.as_ref())));
                }
            })
            .on_retry({
                let r = r();
                move |i| {
                    let mut d = lock(&r.data);
                    d.retries.push(i.clone());
                    d.log.push(format!("retry {:?}", i.reason));
                }
            })
            .on_conn_closed({
                let r = r();
                move |i| r.push(format!("conn_closed {:?}", i.reason))
            })
    }

    /// Every event string.
    pub fn events(&self) -> Vec<String> {
        lock(&self.data).log.clone()
    }

    /// Event names (first word), with runs of `field` collapsed into one `fields`, and the
    /// beyond-Go events (`retry`, `conn_closed`) and markers left out.
    pub fn go_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.events() {
            let name = e.split(' ').next().unwrap_or("").to_string();
            match name.as_str() {
                "retry" | "conn_closed" | "mark" => continue,
                "field" => {
                    if out.last().map(String::as_str) != Some("fields") {
                        out.push("fields".into());
                    }
                }
                _ => out.push(name),
            }
        }
        out
    }

    /// How many events start with `prefix`.
    /// True when exactly this event string was recorded.
    pub fn has(&self, event: &str) -> bool {
        self.events().iter().any(|e| e == event)
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }

    /// Index of the first event starting with `prefix`.
    pub fn pos(&self, prefix: &str) -> Option<usize> {
        self.events().iter().position(|e| e.starts_with(prefix))
    }

    pub fn got_conns(&self) -> Vec<GotConnInfo> {
        lock(&self.data).got_conns.clone()
    }

    pub fn tls(&self) -> Vec<(TlsState, Option<Error>)> {
        lock(&self.data).tls.clone()
    }

    pub fn fields(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.data).fields.clone()
    }

    pub fn field_names(&self) -> Vec<String> {
        self.fields().into_iter().map(|(k, _)| k).collect()
    }

    pub fn field(&self, name: &str) -> Option<Vec<String>> {
        self.fields()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn retries(&self) -> Vec<RetryInfo> {
        lock(&self.data).retries.clone()
    }

    pub fn wrote_request_errs(&self) -> Vec<Option<Error>> {
        lock(&self.data).wrote_request_errs.clone()
    }

    /// The log, one event per line, for assertion messages.
    pub fn dump(&self) -> String {
        self.events().join("\n  ")
    }
}

/// `["a", "b"]` as owned strings.
/// Go's hook names (as `Rec::go_names` renders them) of the usual request shapes.
pub const FRESH_TLS_H1: &[&str] = &[
    "get_conn",
    "connect_start",
    "connect_done",
    "tls_start",
    "tls_done",
    "got_conn",
    "fields",
    "wrote_headers",
    "wrote_request",
    "first_byte",
    "put_idle_conn",
];
/// A new TLS connection carrying HTTP/2 (no `put_idle_conn`).
pub const FRESH_TLS_H2: &[&str] = &[
    "get_conn",
    "connect_start",
    "connect_done",
    "tls_start",
    "tls_done",
    "got_conn",
    "fields",
    "wrote_headers",
    "wrote_request",
    "first_byte",
];
/// A new plain TCP connection carrying HTTP/1.1.
pub const FRESH_TCP_H1: &[&str] = &[
    "get_conn",
    "connect_start",
    "connect_done",
    "got_conn",
    "fields",
    "wrote_headers",
    "wrote_request",
    "first_byte",
    "put_idle_conn",
];
/// A stream on a reused HTTP/2 connection.
pub const REUSED_H2: &[&str] = &[
    "get_conn",
    "got_conn",
    "fields",
    "wrote_headers",
    "wrote_request",
    "first_byte",
];
/// A request on a reused HTTP/1.1 connection.
pub const REUSED_H1: &[&str] = &[
    "get_conn",
    "got_conn",
    "fields",
    "wrote_headers",
    "wrote_request",
    "first_byte",
    "put_idle_conn",
];

/// `n` concurrent GETs of `url` on clones of `client`, each with its own recorder.
pub async fn get_concurrently(
    client: &httptrace::Client,
    url: &str,
    n: usize,
) -> Vec<(Result<(u16, Vec<u8>), Error>, Rec)> {
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

pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A client builder that ignores proxy environment variables and trusts only `ca`.
pub fn builder_trusting(ca: &httptrace_peers::TestCa) -> ClientBuilder {
    httptrace::Client::builder()
        .no_proxy()
        .native_roots(false)
        .add_root_certificate_der(ca.ca_der().to_vec())
}

/// GET `url` with a fresh recorder; returns the status, the body length and the recorder.
pub async fn get(client: &httptrace::Client, url: &str) -> (Result<(u16, Vec<u8>), Error>, Rec) {
    let rec = Rec::new();
    let res = async {
        let resp = client.get(url).trace(rec.trace()).send().await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().bytes().await?;
        Ok((status, body.to_vec()))
    }
    .await;
    (res, rec)
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
