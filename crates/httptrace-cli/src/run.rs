//! Performing the requests of one command line: the plan (URL, method, headers, body), the
//! client, the workers, and the `result` of every request.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use httptrace::dns::{HostsResolver, Resolve, StaticResolver, SystemResolver};
use httptrace::{Body, Client, ConnInfo, RequestTraceExt};
use serde_json::Value;

use crate::args::{DnsMode, EventsFormat, RequestArgs};
use crate::events::{error_chain, Event, Recorder, Sink};
use crate::hooks::{self, HookOptions};
use crate::human;

/// A command-line problem found before anything is sent (exit code 2), or a failure (1).
#[derive(Debug)]
pub enum Fail {
    /// Bad arguments.
    Usage(String),
    /// Something went wrong at run time.
    Runtime(String),
}

/// How results are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Status line, connection facts and phases for a person.
    Human {
        /// Also list every hook and the response headers.
        verbose: bool,
    },
    /// One JSON summary per request.
    Json,
    /// NDJSON hook events.
    Events(EventsFormat),
}

/// Where the response body goes.
#[derive(Clone, Debug)]
pub enum BodyOut {
    /// Discarded (counted only).
    Discard,
    /// Written to stdout.
    Stdout,
    /// Written to this file (request 0 only).
    File(PathBuf),
}

/// Everything needed to build each request.
#[derive(Debug)]
pub struct Plan {
    /// Target URL.
    pub url: Uri,
    /// Method.
    pub method: Method,
    /// Header fields in command-line order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request body, if any.
    pub body: Option<Bytes>,
    /// Number of requests.
    pub repeat: usize,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Output mode.
    pub mode: Mode,
    /// Body destination.
    pub body_out: BodyOut,
    /// Hook behaviour.
    pub hooks: HookOptions,
    /// `-L --max-redirs 0`: a redirect is an error, as curl's "Maximum (0) redirects followed"
    /// (without `-L` a 3xx is the answer).
    pub refuse_redirects: bool,
}

/// What became of one request.
#[derive(Debug)]
pub struct Outcome {
    /// 0-based index.
    pub req: usize,
    /// When the request started (recorder clock).
    pub start: Duration,
    /// When the body was read to its end or the request failed.
    pub end: Duration,
    /// Final status, when a response arrived.
    pub status: Option<StatusCode>,
    /// Response version.
    pub version: Option<Version>,
    /// Response headers.
    pub headers: Option<HeaderMap>,
    /// The connection that served the response, when the client reported it.
    pub conn: Option<ConnInfo>,
    /// Body bytes read.
    pub body_bytes: u64,
    /// The error that ended the request, if any.
    pub err: Option<String>,
}

/// Read `-d` / `--data-binary` data: a literal, `@FILE` or `@-` (stdin).
fn read_data(arg: &str, strip_newlines: bool) -> Result<Vec<u8>, Fail> {
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(arg.as_bytes().to_vec());
    };
    let mut data = if path == "-" {
        let mut v = Vec::new();
        io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| Fail::Runtime(format!("reading data from stdin: {e}")))?;
        v
    } else {
        std::fs::read(path).map_err(|e| Fail::Runtime(format!("reading {path}: {e}")))?
    };
    if strip_newlines {
        data.retain(|b| *b != b'\r' && *b != b'\n');
    }
    Ok(data)
}

/// `Name: value`; curl's `Name;` for an empty value; curl's `Name:` (nothing after the colon)
/// for no such field at all, the client's own included (`None`).
fn parse_header(h: &str) -> Result<(HeaderName, Option<HeaderValue>), Fail> {
    let (name, value) = match h.split_once(':') {
        Some((n, v)) => (n.trim(), Some(v.trim()).filter(|v| !v.is_empty())),
        None => match h.trim().strip_suffix(';') {
            Some(n) => (n.trim(), Some("")),
            None => {
                return Err(Fail::Usage(format!(
                    "bad header {h:?}: expected `Name: value`"
                )))
            }
        },
    };
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Fail::Usage(format!("bad header name in {h:?}")))?;
    let value = value
        .map(HeaderValue::from_str)
        .transpose()
        .map_err(|_| Fail::Usage(format!("bad header value in {h:?}")))?;
    Ok((name, value))
}

/// Header fields in command-line order.
type Fields = Vec<(HeaderName, HeaderValue)>;

/// The fields `-H` asks for, in order, and the names it removes (`Name:`): a removed name drops
/// the fields given before it and the client's default (an empty `User-Agent` is how the
/// library is told to send none; a removed `Host` leaves the URL's).
fn header_args(args: &[String]) -> Result<(Fields, Vec<HeaderName>), Fail> {
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut removed: Vec<HeaderName> = Vec::new();
    for h in args {
        match parse_header(h)? {
            (name, Some(value)) => {
                removed.retain(|n| *n != name);
                headers.push((name, value));
            }
            (name, None) => {
                headers.retain(|(n, _)| *n != name);
                if name == http::header::USER_AGENT {
                    headers.push((name.clone(), HeaderValue::from_static("")));
                }
                removed.push(name);
            }
        }
    }
    Ok((headers, removed))
}

/// The URL, with `http://` assumed when no scheme is given (as curl does).
fn parse_url(raw: &str) -> Result<Uri, Fail> {
    let s = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let uri: Uri = s
        .parse()
        .map_err(|e| Fail::Usage(format!("bad URL {raw:?}: {e}")))?;
    if uri.host().is_none() {
        return Err(Fail::Usage(format!("bad URL {raw:?}: no host")));
    }
    Ok(uri)
}

fn secs(flag: &str, v: f64) -> Result<Duration, Fail> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| Fail::Usage(format!("{flag} {v}: expected a number of seconds >= 0")))
}

/// Build the plan from the arguments.
pub fn plan(a: &RequestArgs) -> Result<Plan, Fail> {
    let url = parse_url(a.url.as_deref().unwrap_or_default())?;
    let (mut headers, removed) = header_args(&a.headers)?;
    let body = if !a.data.is_empty() {
        let parts = a
            .data
            .iter()
            .map(|d| read_data(d, true))
            .collect::<Result<Vec<_>, _>>()?;
        if !headers.iter().any(|(n, _)| *n == CONTENT_TYPE) && !removed.contains(&CONTENT_TYPE) {
            headers.push((
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            ));
        }
        Some(Bytes::from(parts.join(&b'&')))
    } else if !a.data_binary.is_empty() {
        let parts = a
            .data_binary
            .iter()
            .map(|d| read_data(d, false))
            .collect::<Result<Vec<_>, _>>()?;
        Some(Bytes::from(parts.join(&b'&')))
    } else {
        None
    };
    let method = match &a.method {
        Some(m) => Method::from_bytes(m.as_bytes())
            .map_err(|_| Fail::Usage(format!("bad method {m:?}")))?,
        None if body.is_some() => Method::POST,
        None => Method::GET,
    };
    let mode = match (a.events, a.json) {
        (Some(f), _) => Mode::Events(f),
        (None, true) => Mode::Json,
        (None, false) => Mode::Human { verbose: a.verbose },
    };
    let body_out = match &a.output {
        None => BodyOut::Discard,
        Some(p) if p.as_os_str() == "-" => {
            if !matches!(mode, Mode::Human { .. }) {
                return Err(Fail::Usage(
                    "-o - would mix the body with the JSON on stdout; give a file name".into(),
                ));
            }
            BodyOut::Stdout
        }
        Some(p) => BodyOut::File(p.clone()),
    };
    Ok(Plan {
        url,
        method,
        headers,
        body,
        repeat: a.repeat as usize,
        concurrency: a.concurrency as usize,
        mode,
        body_out,
        hooks: HookOptions {
            beyond_go: !matches!(mode, Mode::Events(EventsFormat::Ndjson)),
            abort_on_1xx: a.abort_on_1xx,
        },
        refuse_redirects: a.location && a.max_redirs == 0,
    })
}

/// `HOST:PORT:ADDR[,ADDR]...` (ADDR may be bracketed).
fn parse_resolve(s: &str) -> Result<(String, Vec<std::net::IpAddr>), Fail> {
    let bad = || Fail::Usage(format!("bad --resolve {s:?}: expected HOST:PORT:ADDR"));
    let (host, rest) = s.split_once(':').ok_or_else(bad)?;
    let (port, addrs) = rest.split_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    let addrs = addrs
        .split(',')
        .map(|a| {
            a.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((host.to_string(), addrs))
}

/// Build the client from the arguments.
pub fn client(a: &RequestArgs) -> Result<Client, Fail> {
    let mut b = Client::builder()
        .keep_alive(!a.no_keepalive)
        .max_idle_per_host(go_max_idle_per_host(a.max_idle_per_host))
        .expect_continue_timeout(Duration::from_millis(a.expect_100_timeout))
        .max_redirects(match (a.location, a.max_redirs) {
            (false, _) => 0,
            // curl's -1: no limit.
            (true, n) => u32::try_from(n).unwrap_or(u32::MAX),
        })
        .tls_session_resumption(a.tls_resume);
    // As in curl, 0 means no limit (`--connect-timeout 0`: the default one).
    if let Some(s) = a.connect_timeout.filter(|s| *s != 0.0) {
        b = b.connect_timeout(Some(secs("--connect-timeout", s)?));
    }
    if let Some(s) = a.max_time.filter(|s| *s != 0.0) {
        b = b.timeout(Some(secs("--max-time", s)?));
    }
    let base: Arc<dyn Resolve> = match a.dns {
        DnsMode::System => Arc::new(SystemResolver::new()),
        DnsMode::Hosts => Arc::new(HostsResolver::new()),
    };
    if a.resolve.is_empty() {
        b = b.resolver_arc(base);
    } else {
        let mut r = StaticResolver::new(base);
        for entry in &a.resolve {
            let (host, addrs) = parse_resolve(entry)?;
            r = r.add(&host, addrs);
        }
        b = b.resolver(r);
    }
    match a.proxy.as_deref() {
        Some("") => b = b.no_proxy(),
        Some(p) => b = b.proxy(p),
        None => {}
    }
    if let Some(ca) = &a.cacert {
        b = b.ca_file(ca.clone()).native_roots(false);
    }
    if a.insecure {
        eprintln!("httptrace: warning: -k/--insecure: server certificates are not verified");
        b = b.danger_accept_invalid_certs(true);
    }
    if a.http1_1 {
        b = b.http1_only();
    } else if a.http2_prior_knowledge {
        b = b.http2_prior_knowledge();
    }
    let client = b
        .build()
        .map_err(|e| Fail::Runtime(format!("configuring the client: {}", error_chain(&e))))?;
    // The library builds its TLS configuration (system roots included) at the first TLS
    // handshake; a timing tool wants that done before the clock starts.
    let https = |u: &str| {
        u.get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    };
    if a.url.as_deref().is_some_and(https) || a.proxy.as_deref().is_some_and(https) {
        client
            .prepare_tls()
            .map_err(|e| Fail::Runtime(format!("configuring the client: {}", error_chain(&e))))?;
    }
    Ok(client)
}

struct Ctx {
    plan: Plan,
    client: Client,
    rec: Arc<Recorder>,
}

/// Run the command line: returns the process exit code.
pub async fn main(args: RequestArgs) -> Result<u8, Fail> {
    let plan = plan(&args)?;
    let client = client(&args)?;
    let sink = match plan.mode {
        Mode::Events(f) => Sink::Ndjson {
            go_only: f == EventsFormat::Ndjson,
        },
        _ => Sink::Collect,
    };
    let rec = Arc::new(Recorder::new(sink));
    let ctx = Arc::new(Ctx { plan, client, rec });
    let next = Arc::new(AtomicUsize::new(0));
    let workers = ctx.plan.concurrency.min(ctx.plan.repeat).max(1);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let ctx = ctx.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut outs = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ctx.plan.repeat {
                    break;
                }
                outs.push(one(&ctx, i).await);
            }
            outs
        }));
    }
    let mut outcomes = Vec::with_capacity(ctx.plan.repeat);
    let mut crashed = false;
    for h in handles {
        match h.await {
            Ok(o) => outcomes.extend(o),
            Err(e) => {
                eprintln!("httptrace: a request worker failed: {e}");
                crashed = true;
            }
        }
    }
    outcomes.sort_by_key(|o| o.req);
    ctx.client.close_idle_connections();
    if let Mode::Events(_) = ctx.plan.mode {
        ctx.rec
            .settle(Duration::from_millis(50), Duration::from_secs(1))
            .await;
        if let Err(e) = ctx.rec.flush() {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return Err(Fail::Runtime(format!("writing events: {e}")));
            }
        }
    }
    let failed = crashed || outcomes.iter().any(|o| o.err.is_some());
    match ctx.plan.mode {
        Mode::Human { verbose } => {
            human::print_human(&ctx.plan, &outcomes, &ctx.rec.collected(), verbose)
        }
        Mode::Json => human::print_json(&ctx.plan, &outcomes, &ctx.rec.collected()),
        Mode::Events(_) => {}
    }
    Ok(u8::from(failed))
}

/// Build request `i` with its trace.
fn request(plan: &Plan, trace: httptrace::ClientTrace) -> Result<http::Request<Body>, String> {
    let mut b = http::Request::builder()
        .method(plan.method.clone())
        .uri(plan.url.clone());
    for (n, v) in &plan.headers {
        b = b.header(n, v);
    }
    let body = match &plan.body {
        Some(bytes) => Body::full(bytes.clone()),
        None => Body::empty(),
    };
    b.body(body)
        .map(|r| r.with_trace(trace))
        .map_err(|e| format!("building the request: {e}"))
}

/// Perform request `i`, read its body, record its `result`.
async fn one(ctx: &Ctx, i: usize) -> Outcome {
    let rec = &ctx.rec;
    let start = rec.now();
    let mut out = Outcome {
        req: i,
        start,
        end: start,
        status: None,
        version: None,
        headers: None,
        conn: None,
        body_bytes: 0,
        err: None,
    };
    let trace = hooks::trace(rec, i, ctx.plan.hooks);
    let res = match request(&ctx.plan, trace) {
        Ok(req) => ctx.client.execute(req).await.map_err(|e| error_chain(&e)),
        Err(e) => Err(e),
    };
    match res {
        Err(e) => out.err = Some(e),
        Ok(resp) => {
            out.status = Some(resp.status());
            out.version = Some(resp.version());
            out.headers = Some(resp.headers().clone());
            out.conn = resp.body().conn_info().cloned();
            if ctx.plan.refuse_redirects
                && matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308)
                && resp.headers().contains_key(http::header::LOCATION)
            {
                out.err = Some("maximum (0) redirects followed".into());
            }
            let mut body = resp.into_body();
            let mut sink = match out.err {
                Some(_) => None,
                None => match open_body_out(&ctx.plan.body_out, i) {
                    Ok(s) => s,
                    Err(e) => {
                        out.err = Some(e);
                        None
                    }
                },
            };
            if out.err.is_none() {
                loop {
                    match body.chunk().await {
                        Ok(Some(c)) => {
                            out.body_bytes += c.len() as u64;
                            if let Some((w, name)) = &mut sink {
                                if let Err(e) = w.write_all(&c) {
                                    out.err = Some(format!("writing {name}: {e}"));
                                    break;
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            out.err = Some(error_chain(&e));
                            break;
                        }
                    }
                }
            }
            // Close the body (returning or closing the connection) before the result line.
            drop(body);
            if let Some((mut w, name)) = sink {
                if let Err(e) = w.flush() {
                    out.err.get_or_insert(format!("writing {name}: {e}"));
                }
            }
        }
    }
    out.end = rec.now();
    rec.emit(
        i,
        Event::new("result")
            .with("status", out.status.map(|s| s.as_u16()))
            .with(
                "err",
                out.err.clone().map(Value::String).unwrap_or(Value::Null),
            )
            .with("body_bytes", out.body_bytes),
    );
    if let Mode::Events(_) = ctx.plan.mode {
        // Stream the lines as requests finish; a closed stdout is not worth a second error.
        let _ = rec.flush();
    }
    if let Some(e) = &out.err {
        if ctx.plan.repeat > 1 {
            eprintln!("httptrace: request {i}: {e}");
        } else {
            eprintln!("httptrace: {e}");
        }
    }
    out
}

type BodySink = (Box<dyn Write + Send>, String);

fn open_body_out(out: &BodyOut, i: usize) -> Result<Option<BodySink>, String> {
    match out {
        BodyOut::Discard => Ok(None),
        BodyOut::File(_) | BodyOut::Stdout if i != 0 => Ok(None),
        BodyOut::Stdout => Ok(Some((Box::new(io::stdout()), "stdout".into()))),
        BodyOut::File(p) => {
            let f = File::create(p).map_err(|e| format!("creating {}: {e}", p.display()))?;
            Ok(Some((
                Box::new(io::BufWriter::new(f)),
                p.display().to_string(),
            )))
        }
    }
}

/// Go's `MaxIdleConnsPerHost`: 0 means the default (2), negative means no pooling.
fn go_max_idle_per_host(n: i64) -> usize {
    match n {
        0 => 2,
        n if n < 0 => 0,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let (n, v) = parse_header("X-A:  b c ").unwrap();
        assert_eq!(n.as_str(), "x-a");
        assert_eq!(v.unwrap(), "b c");
        let (n, v) = parse_header("X-Empty;").unwrap();
        assert_eq!((n.as_str(), v.unwrap().as_bytes()), ("x-empty", &b""[..]));
        let (n, v) = parse_header("X-Gone:  ").unwrap();
        assert_eq!((n.as_str(), v), ("x-gone", None));
        assert!(parse_header("nocolon").is_err());
    }

    #[test]
    fn removed_headers() {
        let args: Vec<String> = [
            "X-A: 1",
            "X-B: 2",
            "X-A:",
            "User-Agent:",
            "X-C;",
            "X-B:",
            "X-B: 3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (h, removed) = header_args(&args).unwrap();
        let h: Vec<_> = h
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(h, [("user-agent", ""), ("x-c", ""), ("x-b", "3")]);
        let removed: Vec<_> = removed.iter().map(|n| n.as_str()).collect();
        assert_eq!(removed, ["x-a", "user-agent"]);
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("example.com/x").unwrap().to_string(),
            "http://example.com/x"
        );
        assert!(parse_url("http://").is_err());
    }

    #[test]
    fn resolve_entries() {
        let (h, a) = parse_resolve("example.com:443:127.0.0.1,[::1]").unwrap();
        assert_eq!(h, "example.com");
        assert_eq!(a.len(), 2);
        assert!(parse_resolve("example.com:443").is_err());
        assert!(parse_resolve("example.com:x:127.0.0.1").is_err());
    }
}
