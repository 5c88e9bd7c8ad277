//! One benchmark run of one HTTP client against one URL; prints one JSON line.
//!
//! ```text
//! bench-client --client {httptrace,httptrace-traced,hyper,reqwest,raw} --url URL
//!              [--concurrency N] [--duration SECS | --requests N] [--h2] [--new-conn]
//!              [--cacert PEM] [--body-len BYTES] [--warmup SECS] [--warmup-requests N]
//!              [--scenario NAME] [--rep N] [--attach client|request] [--stamp tsc|instant]
//!              [--turns N]
//! ```
//!
//! `httptrace-traced` sets all 16 of Go's hooks, each storing a timestamp into a slot. By default
//! the trace is installed once with `ClientBuilder::trace` (how a program traces every request
//! of a client; `--attach request` attaches a clone to each request instead, which adds the
//! `http::Extensions` map the request then carries), and a hook's timestamp is a TSC read
//! (`--stamp instant` uses `Instant::elapsed`, ~80 ns a call on the benchmark VM against ~25 ns
//! for the TSC: eight such calls per keep-alive request would be most of a 5% budget by
//! themselves, which measures the clock, not the library).
//!
//! Runtime: every Rust client runs on a tokio **current_thread** runtime (the client process is
//! pinned to one core by `bench/run`, so one thread does all the work and nothing is handed
//! between threads; Go gets GOMAXPROCS=1 from the same pinning).
//!
//! Method: one probe request (must be 200; learns the body length unless `--body-len`), a
//! warm-up (`--warmup` seconds or `--warmup-requests` requests, whichever ends first), then the
//! measured window with `concurrency` tasks each looping request → full body read. Every
//! response is checked (status 200, exact body length); failures are counted in `errors`.
//! CPU is `getrusage(RUSAGE_SELF)` (all threads) taken around the measured window only; peak
//! RSS is `ru_maxrss` at the end of the process's run.
//!
//! `--turns N` (used by `bench/run` through `bench-util turns`): the client takes turns on the
//! core with other clients. It prints `ready` once started, and after its probe and warm-up, and
//! after each of N slices of `--duration / N` seconds but the last; each step starts when a line
//! arrives on stdin. The JSON line follows the last slice.

// A binary built with a subset of the clients (bench/run builds one per client) leaves the
// other clients' helpers unused.
#![cfg_attr(
    not(all(
        feature = "c-httptrace",
        feature = "c-hyper",
        feature = "c-reqwest",
        feature = "c-raw"
    )),
    allow(unused)
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Httptrace,
    HttptraceTraced,
    Hyper,
    Reqwest,
    Raw,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Httptrace => "httptrace",
            Kind::HttptraceTraced => "httptrace-traced",
            Kind::Hyper => "hyper",
            Kind::Reqwest => "reqwest",
            Kind::Raw => "raw",
        }
    }
}

struct Args {
    kind: Kind,
    url: String,
    concurrency: usize,
    duration: Option<f64>,
    requests: Option<u64>,
    h2: bool,
    new_conn: bool,
    cacert: Option<String>,
    attach_per_request: bool,
    stamp_instant: bool,
    body_len: Option<u64>,
    warmup: f64,
    warmup_requests: u64,
    scenario: String,
    rep: u64,
    /// Take turns with other clients (`bench-util turns`): the measured window in this many
    /// slices; 0 runs it in one piece.
    turns: u32,
}

fn usage(msg: &str) -> ! {
    eprintln!("bench-client: {msg}");
    eprintln!(
        "usage: bench-client --client {{httptrace,httptrace-traced,hyper,reqwest,raw}} --url URL \
         [--concurrency N] [--duration SECS | --requests N] [--h2] [--new-conn] [--cacert PEM] \
         [--body-len BYTES] [--warmup SECS] [--warmup-requests N] [--scenario NAME] [--rep N] \
         [--turns N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        kind: Kind::Httptrace,
        url: String::new(),
        concurrency: 1,
        duration: None,
        requests: None,
        h2: false,
        new_conn: false,
        cacert: None,
        attach_per_request: false,
        stamp_instant: false,
        body_len: None,
        warmup: 1.0,
        warmup_requests: 1000,
        scenario: String::new(),
        rep: 0,
        turns: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let flag = flag.trim_start_matches('-').to_string();
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("--{flag} needs a value")))
        };
        match flag.as_str() {
            "client" => {
                a.kind = match val().as_str() {
                    "httptrace" => Kind::Httptrace,
                    "httptrace-traced" => Kind::HttptraceTraced,
                    "hyper" => Kind::Hyper,
                    "reqwest" => Kind::Reqwest,
                    "raw" => Kind::Raw,
                    other => usage(&format!("unknown client {other}")),
                }
            }
            "url" => a.url = val(),
            "concurrency" | "c" => a.concurrency = val().parse().unwrap_or_else(|_| usage("bad N")),
            "duration" => a.duration = Some(val().parse().unwrap_or_else(|_| usage("bad SECS"))),
            "requests" => a.requests = Some(val().parse().unwrap_or_else(|_| usage("bad N"))),
            "h2" => a.h2 = true,
            "new-conn" => a.new_conn = true,
            "cacert" => a.cacert = Some(val()),
            "body-len" => a.body_len = Some(val().parse().unwrap_or_else(|_| usage("bad BYTES"))),
            "warmup" => a.warmup = val().parse().unwrap_or_else(|_| usage("bad SECS")),
            "warmup-requests" => {
                a.warmup_requests = val().parse().unwrap_or_else(|_| usage("bad N"))
            }
            "attach" => {
                a.attach_per_request = match val().as_str() {
                    "client" => false,
                    "request" => true,
                    _ => usage("--attach client|request"),
                }
            }
            "stamp" => {
                a.stamp_instant = match val().as_str() {
                    "tsc" => false,
                    "instant" => true,
                    _ => usage("--stamp tsc|instant"),
                }
            }
            "scenario" => a.scenario = val(),
            "rep" => a.rep = val().parse().unwrap_or_else(|_| usage("bad N")),
            "turns" => a.turns = val().parse().unwrap_or_else(|_| usage("bad N")),
            "help" | "h" => usage("help"),
            other => usage(&format!("unknown flag --{other}")),
        }
    }
    if a.url.is_empty() {
        usage("--url is required");
    }
    if a.duration.is_none() && a.requests.is_none() {
        a.duration = Some(3.0);
    }
    if a.turns > 0 && a.duration.is_none() {
        usage("--turns needs --duration");
    }
    a.concurrency = a.concurrency.max(1);
    a
}

// ----- latency histogram: log-linear, 32 sub-buckets per power of two (~3% resolution) -----

const NB: usize = 64 + 42 * 32;

struct Hist(Box<[u64; NB]>);

impl Hist {
    fn new() -> Hist {
        Hist(Box::new([0; NB]))
    }
    fn idx(v: u64) -> usize {
        if v < 64 {
            v as usize
        } else {
            let e = 63 - v.leading_zeros() as usize;
            let m = ((v >> (e - 5)) & 31) as usize;
            (64 + (e - 6) * 32 + m).min(NB - 1)
        }
    }
    fn value(i: usize) -> u64 {
        if i < 64 {
            i as u64
        } else {
            let e = (i - 64) / 32 + 6;
            let m = ((i - 64) % 32) as u64;
            ((32 + m) << (e - 5)) + ((1u64 << (e - 5)) / 2)
        }
    }
    #[inline]
    fn record(&mut self, ns: u64) {
        self.0[Self::idx(ns)] += 1;
    }
    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += *b;
        }
    }
    fn quantile_us(&self, q: f64) -> f64 {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let want = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut acc = 0;
        for (i, c) in self.0.iter().enumerate() {
            acc += c;
            if acc >= want {
                return Self::value(i) as f64 / 1000.0;
            }
        }
        0.0
    }
}

// ----- clients -----

#[cfg(feature = "c-hyper")]
type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

#[allow(clippy::large_enum_variant)] // one instance, in an Arc
enum Bench {
    #[cfg(feature = "c-httptrace")]
    Ht(httptrace::Client),
    #[cfg(feature = "c-hyper")]
    Hyper(HyperClient),
    #[cfg(feature = "c-reqwest")]
    Reqwest(reqwest::Client, reqwest::Url),
    #[cfg(feature = "c-raw")]
    Raw {
        addr: SocketAddr,
        req: Vec<u8>,
        new_conn: bool,
    },
}

#[cfg(any(feature = "c-hyper", feature = "c-reqwest"))]
fn tls_config(cacert: Option<&str>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(p) = cacert {
        for c in rustls_pki_types::CertificateDer::pem_file_iter(p)
            .unwrap_or_else(|e| usage(&format!("--cacert {p}: {e}")))
        {
            roots
                .add(c.unwrap_or_else(|e| usage(&format!("--cacert {p}: {e}"))))
                .unwrap_or_else(|e| usage(&format!("--cacert {p}: {e}")));
        }
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("rustls versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

fn build(a: &Args, uri: &http::Uri, client_trace: Option<httptrace::ClientTrace>) -> Bench {
    let idle = if a.new_conn { 0 } else { a.concurrency };
    match a.kind {
        #[cfg(feature = "c-httptrace")]
        Kind::Httptrace | Kind::HttptraceTraced => {
            // A new connection per request: no idle connection kept, the knob hyper-util and
            // reqwest get below (`keep_alive(false)` would also send `Connection: close`, as Go's
            // DisableKeepAlives does, and the server would close first; see bench/README.md).
            let mut b = httptrace::Client::builder()
                .no_proxy()
                .native_roots(false)
                .max_idle_per_host(idle);
            if let Some(p) = &a.cacert {
                b = b.ca_file(p);
            }
            b = if a.h2 {
                b.http2_prior_knowledge()
            } else {
                b.http1_only()
            };
            if let Some(t) = client_trace {
                b = b.trace(t);
            }
            Bench::Ht(
                b.build()
                    .unwrap_or_else(|e| usage(&format!("httptrace client: {e}"))),
            )
        }
        #[cfg(feature = "c-hyper")]
        Kind::Hyper => {
            use hyper_util::client::legacy::connect::HttpConnector;
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true); // as httptrace, reqwest and Go do
                                    // hyper-rustls wants a config without ALPN; enable_http1/2 below sets it.
            let tls = tls_config(a.cacert.as_deref(), &[]);
            let b = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http();
            // enable_http2 sets ALPN [h2]; enable_http1 leaves ALPN empty (HTTP/1.1).
            let conn = if a.h2 {
                b.enable_http2().wrap_connector(http)
            } else {
                b.enable_http1().wrap_connector(http)
            };
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .pool_max_idle_per_host(idle)
                    .http2_only(a.h2)
                    .build(conn);
            Bench::Hyper(client)
        }
        #[cfg(feature = "c-reqwest")]
        Kind::Reqwest => {
            let alpn: &[&[u8]] = if a.h2 { &[b"h2"] } else { &[b"http/1.1"] };
            let mut b = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(idle)
                .tls_backend_preconfigured(tls_config(a.cacert.as_deref(), alpn));
            b = if a.h2 {
                b.http2_prior_knowledge()
            } else {
                b.http1_only()
            };
            let url = reqwest::Url::parse(&a.url).unwrap_or_else(|e| usage(&e.to_string()));
            Bench::Reqwest(
                b.build()
                    .unwrap_or_else(|e| usage(&format!("reqwest client: {e}"))),
                url,
            )
        }
        #[cfg(feature = "c-raw")]
        Kind::Raw => {
            if uri.scheme_str() != Some("http") || a.h2 {
                usage("raw speaks plain HTTP/1.1 only");
            }
            let host = uri.authority().map(|a| a.as_str()).unwrap_or("");
            let addr: SocketAddr = host
                .parse()
                .unwrap_or_else(|_| usage("raw needs an IP:port URL"));
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            // The same request with a connection per request: the client closes after the
            // response, as the others do.
            let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
            Bench::Raw {
                addr,
                req,
                new_conn: a.new_conn,
            }
        }
        #[allow(unreachable_patterns)]
        k => usage(&format!(
            "client {} is not compiled into this binary (see bench/Cargo.toml features)",
            k.name()
        )),
    }
}

/// Per-task state, reused across requests.
struct Worker {
    trace: Option<httptrace::ClientTrace>,
    raw: RawConn,
    hist: Hist,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Default)]
struct RawConn {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Total bytes of one response (head + body), learnt from the first response.
    resp_len: usize,
    body_len: usize,
}

/// A timestamp for a hook: the TSC (x86_64; `Instant` elsewhere), or `Instant::elapsed`.
#[inline(always)]
fn now_stamp(base: Instant, instant: bool) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if !instant {
        // SAFETY: RDTSC has no preconditions on x86_64.
        #[allow(unused_unsafe)]
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    let _ = instant;
    base.elapsed().as_nanos() as u64
}

/// A trace with all 16 of Go's hooks, each storing a timestamp into its slot.
fn full_trace(slots: Arc<[AtomicU64; 16]>, base: Instant, instant: bool) -> httptrace::ClientTrace {
    #[inline(always)]
    fn stamp(s: &[AtomicU64; 16], i: usize, base: Instant, instant: bool) {
        s[i].store(now_stamp(base, instant), Ordering::Relaxed);
    }
    macro_rules! h {
        ($i:expr; $($a:pat_param),*) => {{
            let s = slots.clone();
            move |$($a),*| stamp(&s, $i, base, instant)
        }};
    }
    httptrace::ClientTrace::new()
        .on_get_conn(h!(0; _))
        .on_got_conn(h!(1; _))
        .on_put_idle_conn(h!(2; _))
        .on_got_first_response_byte(h!(3;))
        .on_got_100_continue(h!(4;))
        .on_got_1xx_response({
            let s = slots.clone();
            move |_, _| {
                stamp(&s, 5, base, instant);
                Ok(())
            }
        })
        .on_dns_start(h!(6; _))
        .on_dns_done(h!(7; _))
        .on_connect_start(h!(8; _, _))
        .on_connect_done(h!(9; _, _, _))
        .on_tls_handshake_start(h!(10;))
        .on_tls_handshake_done(h!(11; _, _))
        .on_wrote_header_field(h!(12; _, _))
        .on_wrote_headers(h!(13;))
        .on_wait_100_continue(h!(14;))
        .on_wrote_request(h!(15; _))
}

impl Bench {
    /// One request; returns the body length.
    async fn one(&self, uri: &http::Uri, w: &mut Worker) -> Result<u64, String> {
        match self {
            #[cfg(feature = "c-httptrace")]
            Bench::Ht(c) => {
                let mut req = http::Request::new(httptrace::Body::empty());
                *req.uri_mut() = uri.clone();
                if let Some(t) = &w.trace {
                    use httptrace::RequestTraceExt;
                    req = req.with_trace(t.clone());
                }
                let resp = c.execute(req).await.map_err(|e| e.to_string())?;
                if resp.status() != http::StatusCode::OK {
                    return Err(format!("status {}", resp.status()));
                }
                resp.into_body().drain().await.map_err(|e| e.to_string())
            }
            #[cfg(feature = "c-hyper")]
            Bench::Hyper(c) => {
                let mut req = http::Request::new(Empty::<Bytes>::new());
                *req.uri_mut() = uri.clone();
                let resp = c.request(req).await.map_err(|e| format!("{e:?}"))?;
                if resp.status() != http::StatusCode::OK {
                    return Err(format!("status {}", resp.status()));
                }
                let mut body = resp.into_body();
                let mut n = 0u64;
                while let Some(f) = body.frame().await {
                    if let Ok(d) = f.map_err(|e| e.to_string())?.into_data() {
                        n += d.len() as u64;
                    }
                }
                Ok(n)
            }
            #[cfg(feature = "c-reqwest")]
            Bench::Reqwest(c, url) => {
                let mut resp = c
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                if resp.status() != reqwest::StatusCode::OK {
                    return Err(format!("status {}", resp.status()));
                }
                let mut n = 0u64;
                while let Some(d) = resp.chunk().await.map_err(|e| e.to_string())? {
                    n += d.len() as u64;
                }
                Ok(n)
            }
            #[cfg(feature = "c-raw")]
            Bench::Raw {
                addr,
                req,
                new_conn,
            } => {
                let r = raw_one(*addr, req, &mut w.raw).await;
                if r.is_err() || *new_conn {
                    w.raw.stream = None;
                }
                r.map_err(|e| e.to_string())
            }
        }
    }
}

fn find(h: &[u8], pat: &[u8]) -> Option<usize> {
    h.windows(pat.len()).position(|w| w == pat)
}

/// Raw HTTP/1.1: write the pre-serialized request, read exactly one response's bytes. The first
/// response is parsed (status, Content-Length); later ones are only counted (nginx's responses
/// for one file have a constant length) and their status line checked.
async fn raw_one(addr: SocketAddr, req: &[u8], rc: &mut RawConn) -> std::io::Result<u64> {
    use std::io::{Error, ErrorKind};
    if rc.buf.is_empty() {
        rc.buf = vec![0; 64 * 1024];
    }
    if rc.stream.is_none() {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        rc.stream = Some(s);
    }
    let s = rc.stream.as_mut().unwrap();
    s.write_all(req).await?;
    let mut got;
    if rc.resp_len == 0 {
        let mut head = Vec::new();
        loop {
            let n = s.read(&mut rc.buf).await?;
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "eof in head"));
            }
            head.extend_from_slice(&rc.buf[..n]);
            if let Some(p) = find(&head, b"\r\n\r\n") {
                let h = String::from_utf8_lossy(&head[..p]).to_ascii_lowercase();
                if !h.starts_with("http/1.1 200 ") {
                    return Err(Error::other(format!(
                        "bad status line: {}",
                        h.lines().next().unwrap_or("")
                    )));
                }
                let cl: usize = h
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| Error::other("no content-length"))?;
                rc.resp_len = p + 4 + cl;
                rc.body_len = cl;
                got = head.len();
                break;
            }
        }
    } else {
        // The status line: accumulate the first 13 bytes ("HTTP/1.1 200 ").
        let mut first = [0u8; 13];
        got = 0;
        while got < first.len() {
            let n = s.read(&mut rc.buf).await?;
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "eof"));
            }
            let take = n.min(first.len() - got);
            first[got..got + take].copy_from_slice(&rc.buf[..take]);
            got += n;
        }
        if &first != b"HTTP/1.1 200 " {
            return Err(Error::other("bad status line"));
        }
    }
    while got < rc.resp_len {
        let n = s.read(&mut rc.buf).await?;
        if n == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "eof in body"));
        }
        got += n;
    }
    if got != rc.resp_len {
        rc.resp_len = 0; // relearn
        return Err(Error::other("response length changed"));
    }
    Ok(rc.body_len as u64)
}

/// When a phase ends: a deadline and/or a shared request budget.
#[derive(Clone)]
struct Stop {
    deadline: Option<Instant>,
    budget: Option<Arc<AtomicU64>>,
}

impl Stop {
    #[inline]
    fn go_on(&self, now: Instant) -> bool {
        if let Some(d) = self.deadline {
            if now >= d {
                return false;
            }
        }
        match &self.budget {
            Some(b) => b
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            None => true,
        }
    }
}

async fn phase(
    bench: &Arc<Bench>,
    uri: &http::Uri,
    workers: Vec<Worker>,
    stop: Stop,
    expect: u64,
) -> Vec<Worker> {
    let mut handles = Vec::with_capacity(workers.len());
    for mut w in workers {
        let bench = bench.clone();
        let uri = uri.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let mut now = Instant::now();
            while stop.go_on(now) {
                let r = bench.one(&uri, &mut w).await;
                let end = Instant::now();
                match r {
                    Ok(n) if n == expect => {
                        w.ok += 1;
                        w.hist.record((end - now).as_nanos() as u64);
                    }
                    Ok(n) => {
                        w.errors += 1;
                        w.first_error
                            .get_or_insert_with(|| format!("body length {n}, expected {expect}"));
                    }
                    Err(e) => {
                        w.errors += 1;
                        w.first_error.get_or_insert(e);
                        // Do not spin on a dead server.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                now = end;
            }
            w
        }));
    }
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("worker panicked"));
    }
    out
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the struct; zeroed is a valid initial value.
    unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        r
    }
}

/// `RssAnon` of /proc/self/status (Linux): resident anonymous memory now, in KiB.
fn rss_anon_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn main() {
    let a = parse_args();
    // hyper-rustls and reqwest users install a process-wide rustls provider; httptrace passes
    // its provider to rustls itself and needs none (installing one would make a plain-HTTP
    // httptrace run touch rustls code it never uses).
    #[cfg(any(feature = "c-hyper", feature = "c-reqwest"))]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let turns = a.turns;
    if turns > 0 {
        // Started: the coordinator starts the next client after this line, then hands out turns.
        next_turn();
    }
    let mut p = rt.block_on(prepare(a));
    if turns > 0 {
        next_turn();
    }
    let m = measured_window(&rt, &mut p);
    report(&p, m);
}

/// The client, its workers after the probe and the warm-up, and what the report needs.
struct Prepared {
    a: Args,
    uri: http::Uri,
    bench: Arc<Bench>,
    workers: Vec<Worker>,
    expect: u64,
    slots_all: Vec<Arc<[AtomicU64; 16]>>,
}

/// What the measured window took.
struct Measured {
    workers: Vec<Worker>,
    wall: f64,
    r0: libc::rusage,
    r1: libc::rusage,
}

/// The measured window, as a function of its own that is never inlined: `bench/instructions`
/// runs callgrind with `--toggle-collect=*measured_window*`, so that only the requests of this
/// window are counted (the tasks run inside this `block_on` on the current-thread runtime).
///
/// With `--turns N` the window is N slices of `--duration / N` seconds, the process blocked on
/// its stdin between them while other clients take their turns (see `next_turn`). CPU is counted
/// from the start of the first slice to the end of the last (whatever the process does between
/// slices counts too: for Go, its runtime's background work); the wall time is the slices'.
#[inline(never)]
fn measured_window(rt: &tokio::runtime::Runtime, p: &mut Prepared) -> Measured {
    let slices = p.a.turns.max(1);
    let slice = p.a.duration.map(|d| d / f64::from(slices));
    let budget = p.a.requests.map(|n| Arc::new(AtomicU64::new(n)));
    let mut workers = std::mem::take(&mut p.workers);
    let mut wall = 0.0;
    let r0 = rusage();
    for i in 0..slices {
        if i > 0 {
            next_turn();
        }
        let stop = Stop {
            deadline: slice.map(|d| Instant::now() + Duration::from_secs_f64(d)),
            budget: budget.clone(),
        };
        let t0 = Instant::now();
        workers = rt.block_on(phase(&p.bench, &p.uri, workers, stop, p.expect));
        wall += t0.elapsed().as_secs_f64();
    }
    let r1 = rusage();
    Measured {
        workers,
        wall,
        r0,
        r1,
    }
}

/// Turn-taking with `bench-util turns` (`--turns`): end this step and wait for the next turn.
fn next_turn() {
    turn_done();
    wait_turn();
}

/// Tell the coordinator this step is done (a line on stdout), so that it hands the core to the
/// next client.
fn turn_done() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "ready").and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

/// Block until the coordinator gives this client its next turn (a line on stdin); exit when it
/// is gone.
fn wait_turn() {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(n) if n > 0 => {}
        _ => std::process::exit(1),
    }
}

/// Probe and warm-up.
async fn prepare(a: Args) -> Prepared {
    let uri: http::Uri = a.url.parse().unwrap_or_else(|_| usage("bad --url"));
    let base = Instant::now();
    let mut slots_all = Vec::new();
    let traced = a.kind == Kind::HttptraceTraced;
    let client_trace = (traced && !a.attach_per_request).then(|| {
        let slots: Arc<[AtomicU64; 16]> = Arc::new(Default::default());
        slots_all.push(slots.clone());
        full_trace(slots, base, a.stamp_instant)
    });
    let bench = Arc::new(build(&a, &uri, client_trace));
    let mut workers: Vec<Worker> = (0..a.concurrency)
        .map(|_| {
            let trace = (traced && a.attach_per_request).then(|| {
                let slots: Arc<[AtomicU64; 16]> = Arc::new(Default::default());
                slots_all.push(slots.clone());
                full_trace(slots, base, a.stamp_instant)
            });
            Worker {
                trace,
                raw: RawConn::default(),
                hist: Hist::new(),
                ok: 0,
                errors: 0,
                first_error: None,
            }
        })
        .collect();

    // Probe: must succeed; gives the body length when not given.
    let probe = bench.one(&uri, &mut workers[0]).await;
    let expect = match (probe, a.body_len) {
        (Ok(n), Some(want)) if n != want => {
            eprintln!("bench-client: probe body length {n}, expected {want}");
            std::process::exit(1)
        }
        (Ok(n), _) => n,
        (Err(e), _) => {
            eprintln!("bench-client: probe request to {} failed: {e}", a.url);
            std::process::exit(1)
        }
    };

    // Warm-up.
    let warm = Stop {
        deadline: Some(Instant::now() + Duration::from_secs_f64(a.warmup)),
        budget: Some(Arc::new(AtomicU64::new(a.warmup_requests))),
    };
    let mut workers = phase(&bench, &uri, workers, warm, expect).await;
    for w in &mut workers {
        w.hist = Hist::new();
        w.ok = 0;
        w.errors = 0;
        w.first_error = None;
    }

    Prepared {
        a,
        uri,
        bench,
        workers,
        expect,
        slots_all,
    }
}

/// One JSON line for the measured window.
fn report(p: &Prepared, m: Measured) {
    let Measured {
        workers,
        wall,
        r0,
        r1,
    } = m;
    let a = &p.a;
    let slots_all = &p.slots_all;
    let mut hist = Hist::new();
    let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
    for w in &workers {
        hist.merge(&w.hist);
        ok += w.ok;
        errors += w.errors;
        if first_error.is_none() {
            first_error = w.first_error.clone();
        }
    }
    let user = tv(r1.ru_utime) - tv(r0.ru_utime);
    let sys = tv(r1.ru_stime) - tv(r0.ru_stime);
    let cpu = user + sys;
    let hooks_seen = (0..16)
        .filter(|&i| slots_all.iter().any(|s| s[i].load(Ordering::Relaxed) != 0))
        .count();
    let out = serde_json::json!({
        "scenario": a.scenario,
        "rep": a.rep,
        "client": a.kind.name(),
        "url": a.url,
        "concurrency": a.concurrency,
        "h2": a.h2,
        "new_conn": a.new_conn,
        "requests": ok,
        "errors": errors,
        "first_error": first_error,
        "wall_s": wall,
        "rps": ok as f64 / wall,
        "p50_us": hist.quantile_us(0.50),
        "p99_us": hist.quantile_us(0.99),
        "cpu_user_s": user,
        "cpu_sys_s": sys,
        "cpu_us_per_req": if ok > 0 { cpu * 1e6 / ok as f64 } else { 0.0 },
        "max_rss_kb": r1.ru_maxrss,
        "rss_anon_kb": rss_anon_kb(),
        "hooks_seen": if a.kind == Kind::HttptraceTraced { Some(hooks_seen) } else { None },
    });
    println!("{out}");
    // Diagnostics: BENCH_SMAPS=path copies this process's memory map (per-mapping RSS) there.
    if let Ok(path) = std::env::var("BENCH_SMAPS") {
        if let Ok(m) = std::fs::read("/proc/self/smaps") {
            let _ = std::fs::write(&path, m);
        }
        // And which pages of the executable's own mappings are resident: "offset present" lines,
        // file offsets in hex (for mapping to symbols with `nm`).
        let _ = std::fs::write(format!("{path}.pages"), resident_exe_pages());
    }
}

/// For each page of this executable's file mappings, its file offset when it is resident
/// (from /proc/self/pagemap, bit 63).
fn resident_exe_pages() -> String {
    use std::io::{Read, Seek, SeekFrom};
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let exe = exe.to_string_lossy().into_owned();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Ok(mut pm) = std::fs::File::open("/proc/self/pagemap") else {
        return String::new();
    };
    let mut out = String::new();
    for line in maps.lines() {
        if !line.ends_with(exe.as_str()) {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let (range, perms, off) = (f[0], f[1], u64::from_str_radix(f[2], 16).unwrap_or(0));
        let (a, b) = range.split_once('-').unwrap_or(("0", "0"));
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap_or(0),
            u64::from_str_radix(b, 16).unwrap_or(0),
        );
        let mut page = a;
        while page < b {
            let mut e = [0u8; 8];
            if pm.seek(SeekFrom::Start(page / 4096 * 8)).is_ok()
                && pm.read_exact(&mut e).is_ok()
                && u64::from_le_bytes(e) >> 63 == 1
            {
                out.push_str(&format!("{perms} {:x}\n", off + (page - a)));
            }
            page += 4096;
        }
    }
    out
}
