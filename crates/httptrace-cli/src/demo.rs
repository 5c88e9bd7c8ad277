//! `httptrace demo`: start local servers and trace a tour of requests against them, printing
//! every hook as it fired. Nothing leaves the machine: servers listen on loopback and names are
//! answered by a hosts-file resolver with a built-in table.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use httptrace::dns::HostsResolver;
use httptrace::{Body, Client, ClientBuilder, RequestTraceExt};
use httptrace_peers::{Proxy, ProxyConfig, Response, Server, ServerHandle, TestCa};
use serde_json::Value;

use crate::events::{describe, error_chain, Event, Recorded, Recorder, Sink, BEYOND_GO_EVENTS};
use crate::hooks::{self, HookOptions};
use crate::human::Style;

/// `println!` that ignores a closed stdout (`httptrace demo | head`) instead of panicking.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The tour's stops, in order (headings print as `== N/8  <title>`).
pub const STOPS: [&str; 8] = [
    "Fresh connection",
    "Connection reuse",
    "DNS lookup of localhost",
    "POST with Expect: 100-continue",
    "103 Early Hints",
    "HTTPS (TLS, HTTP/1.1)",
    "HTTP/2: two multiplexed requests",
    "HTTPS through a CONNECT proxy",
];

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One traced request: status and body size, or the error.
type Fetched = Result<(u16, u64), String>;

/// Perform `req` traced as request `i` into `rec`, read the body, record `result`.
async fn fetch(client: &Client, rec: &Arc<Recorder>, i: usize, req: Request<Body>) -> Fetched {
    let opts = HookOptions {
        beyond_go: true,
        abort_on_1xx: false,
    };
    let req = req.with_trace(hooks::trace(rec, i, opts));
    let (status, bytes, err) = match client.execute(req).await {
        Err(e) => (None, 0, Some(error_chain(&e))),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            let mut n = 0u64;
            let mut err = None;
            loop {
                match body.chunk().await {
                    Ok(Some(c)) => n += c.len() as u64,
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(error_chain(&e));
                        break;
                    }
                }
            }
            drop(body);
            (Some(status), n, err)
        }
    };
    rec.emit(
        i,
        Event::new("result")
            .with("status", status)
            .with("err", err.clone().map(Value::String).unwrap_or(Value::Null))
            .with("body_bytes", bytes),
    );
    match (status, err) {
        (Some(s), None) => Ok((s, bytes)),
        (_, Some(e)) => Err(e),
        (None, None) => Err("no response".into()),
    }
}

fn get(url: &str) -> Result<Request<Body>, String> {
    Request::get(url)
        .body(Body::empty())
        .map_err(|e| format!("bad request for {url}: {e}"))
}

/// The demo's client settings: hosts resolver with a fixed table, no proxy from the
/// environment, trust only the demo CA.
fn base(ca: Option<&TestCa>) -> ClientBuilder {
    let mut b = Client::builder()
        .resolver(HostsResolver::from_contents(
            "127.0.0.1 localhost\n::1 localhost\n",
        ))
        .no_proxy()
        .native_roots(false)
        .timeout(Some(STOP_TIMEOUT))
        .max_idle_per_host(2);
    if let Some(ca) = ca {
        b = b.add_root_certificate_der(ca.ca_der().to_vec());
    }
    b
}

fn build(b: ClientBuilder) -> Result<Client, String> {
    b.build()
        .map_err(|e| format!("building the client: {}", error_chain(&e)))
}

struct Tour {
    st: Style,
    n: usize,
    ok: usize,
}

impl Tour {
    /// Run one stop: print its heading, run `body` (which records into `rec`), print the
    /// events.
    async fn stop(
        &mut self,
        what: &str,
        look_for: &str,
        rec: &Recorder,
        body: impl Future<Output = Result<(), String>>,
    ) {
        let title = STOPS.get(self.n).copied().unwrap_or("?");
        self.n += 1;
        say!();
        say!(
            "{}",
            self.st
                .bold(&format!("== {}/{}  {title}", self.n, STOPS.len()))
        );
        say!("   {}", self.st.dim(what));
        say!("   {}", self.st.dim(&format!("look for: {look_for}")));
        let res = match tokio::time::timeout(STOP_TIMEOUT, body).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {}s", STOP_TIMEOUT.as_secs())),
        };
        rec.settle(Duration::from_millis(20), Duration::from_millis(300))
            .await;
        let events = rec.collected();
        let multi = events.iter().any(|r| r.req > 0);
        for r in &events {
            say!("{}", self.line(r, multi));
        }
        match res {
            Ok(()) => self.ok += 1,
            Err(e) => say!(
                "   {} {e}",
                self.st.red("this stop failed (the tour continues):")
            ),
        }
    }

    fn line(&self, r: &Recorded, multi: bool) -> String {
        let go = !BEYOND_GO_EVENTS.contains(&r.event.name);
        let off = format!("{:>+9.3}ms", r.t.as_secs_f64() * 1000.0);
        let req = if multi {
            format!("[{}] ", r.req)
        } else {
            String::new()
        };
        let text = describe(&r.event);
        if go {
            format!("  {}  {req}{text}", self.st.cyan(&off))
        } else {
            format!(
                "  {}  {req}{}",
                self.st.cyan(&off),
                self.st.dim(&format!("* {text}"))
            )
        }
    }
}

/// A fresh recorder for one stop (its clock starts now).
fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder::new(Sink::Collect))
}

fn demo_handler(req: httptrace_peers::Request) -> Response {
    match req.path() {
        "/hints" => Response::hello()
            .early_hints(&["</style.css>; rel=preload; as=style"])
            .early_hints(&["</script.js>; rel=preload; as=script"]),
        "/upload" => Response::text(format!("received {} bytes\n", req.body.len())),
        _ => Response::hello(),
    }
}

fn started<T>(what: &str, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("starting the {what}: {e}"))
}

/// Run the tour; returns the exit code (0: the tour ran, even if some stops failed).
pub async fn run() -> u8 {
    let st = Style::detect();
    say!(
        "{}",
        st.bold("httptrace demo: every hook of a request, against servers on this machine")
    );
    say!(
        "{}",
        st.dim(
            "Times are offsets from the start of each stop. Lines marked `*` are httptrace's \
             hooks beyond Go's net/http/httptrace."
        )
    );

    let ca = TestCa::new();
    let plain = Server::builder()
        .dual_stack(true)
        .handler(demo_handler)
        .start()
        .await;
    let tls_h1 = Server::builder()
        .tls(ca.server_config(&[b"http/1.1"]))
        .handler(demo_handler)
        .start()
        .await;
    let tls_h2 = Server::builder()
        .tls(ca.server_config(&[b"h2", b"http/1.1"]))
        .handler(demo_handler)
        .start()
        .await;
    let proxy = Proxy::start(ProxyConfig::default()).await;

    let plain: Result<ServerHandle, String> = started("HTTP/1.1 server", plain);
    let plain_client = build(base(None).http1_only());
    let mut tour = Tour { st, n: 0, ok: 0 };

    let url = |s: &Result<ServerHandle, String>, path: &str| match s {
        Ok(s) => s.url(path),
        Err(_) => format!("(server not started){path}"),
    };

    // 1. Fresh connection.
    let u = url(&plain, "/");
    let rec = recorder();
    tour.stop(
        &format!("GET {u} on a new client: no pooled connection, so it dials."),
        "connect_start/connect_done, then got_conn reused=false, every header written, \
         put_idle_conn err=null once the body is read",
        &rec,
        async {
            plain.as_ref().map_err(Clone::clone)?;
            let c = plain_client.as_ref().map_err(Clone::clone)?;
            fetch(c, &rec, 0, get(&u)?).await.map(drop)
        },
    )
    .await;

    // 2. Reuse.
    let rec = recorder();
    tour.stop(
        &format!("GET {u} again on the same client."),
        "no connect events; got_conn reused=true was_idle=true with its idle time",
        &rec,
        async {
            plain.as_ref().map_err(Clone::clone)?;
            let c = plain_client.as_ref().map_err(Clone::clone)?;
            fetch(c, &rec, 0, get(&u)?).await.map(drop)
        },
    )
    .await;

    // 3. localhost: DNS hooks.
    let ul = match &plain {
        Ok(s) => s.url_localhost("/"),
        Err(_) => "http://localhost/".into(),
    };
    let rec = recorder();
    tour.stop(
        &format!("GET {ul}: a name, so it is resolved (hosts resolver, no DNS packet)."),
        "dns_start host=localhost, dns_done with the addresses; a new connection (new pool key)",
        &rec,
        async {
            plain.as_ref().map_err(Clone::clone)?;
            let c = plain_client.as_ref().map_err(Clone::clone)?;
            fetch(c, &rec, 0, get(&ul)?).await.map(drop)
        },
    )
    .await;

    // 4. Expect: 100-continue.
    let up = url(&plain, "/upload");
    let rec = recorder();
    tour.stop(
        &format!("POST 1 KiB to {up} with Expect: 100-continue; the server answers 100."),
        "wait_100_continue after the headers, got_first_response_byte, got_100_continue, \
         got_1xx_response 100, then wrote_request once the body is sent",
        &rec,
        async {
            plain.as_ref().map_err(Clone::clone)?;
            let c = plain_client.as_ref().map_err(Clone::clone)?;
            let body: Vec<u8> = (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect();
            let req = Request::post(&up)
                .header("Expect", "100-continue")
                .header("Content-Type", "application/octet-stream")
                .body(Body::full(Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            fetch(c, &rec, 0, req).await.map(drop)
        },
    )
    .await;

    // 5. 103 Early Hints.
    let uh = url(&plain, "/hints");
    let rec = recorder();
    tour.stop(
        &format!("GET {uh}: the server sends two 103 Early Hints before the 200."),
        "got_1xx_response 103 twice, each with its Link header",
        &rec,
        async {
            plain.as_ref().map_err(Clone::clone)?;
            let c = plain_client.as_ref().map_err(Clone::clone)?;
            fetch(c, &rec, 0, get(&uh)?).await.map(drop)
        },
    )
    .await;

    // 6. HTTPS, HTTP/1.1.
    let tls_h1 = started("HTTPS server", tls_h1);
    let ut = url(&tls_h1, "/");
    let rec = recorder();
    tour.stop(
        &format!("GET {ut}: TLS with a certificate from the demo's own CA."),
        "tls_handshake_start, tls_handshake_done version=TLS1.3 (server_name is empty for an \
         IP address), then the request",
        &rec,
        async {
            tls_h1.as_ref().map_err(Clone::clone)?;
            let c = build(base(Some(&ca)).http1_only())?;
            fetch(&c, &rec, 0, get(&ut)?).await.map(drop)
        },
    )
    .await;

    // 7. HTTP/2, two concurrent requests.
    let tls_h2 = started("HTTP/2 server", tls_h2);
    let u2 = url(&tls_h2, "/");
    let rec = recorder();
    tour.stop(
        &format!("Two concurrent GETs to {u2}; ALPN selects h2, both share one connection."),
        "alpn=h2, pseudo-header fields (:authority, :method, ...), no put_idle_conn",
        &rec,
        async {
            tls_h2.as_ref().map_err(Clone::clone)?;
            let c = build(base(Some(&ca)))?;
            let (a, b) = tokio::join!(fetch(&c, &rec, 0, get(&u2)?), fetch(&c, &rec, 1, get(&u2)?));
            a.and(b).map(drop)
        },
    )
    .await;

    // 8. Through a CONNECT proxy.
    let proxy = started("proxy", proxy);
    let proxy_url = match &proxy {
        Ok(p) => p.url(),
        Err(_) => "(proxy not started)".into(),
    };
    let rec = recorder();
    tour.stop(
        &format!("GET {ut} through the HTTP proxy {proxy_url} (CONNECT tunnel, then TLS)."),
        "get_conn and connect_* show the proxy's address; TLS to the target after the tunnel",
        &rec,
        async {
            tls_h1.as_ref().map_err(Clone::clone)?;
            proxy.as_ref().map_err(Clone::clone)?;
            let c = build(base(Some(&ca)).http1_only().proxy(&proxy_url))?;
            fetch(&c, &rec, 0, get(&ut)?).await.map(drop)
        },
    )
    .await;

    say!();
    say!(
        "{}",
        st.bold(&format!(
            "Tour done: {} of {} stops succeeded.",
            tour.ok,
            STOPS.len()
        ))
    );
    say!(
        "{}",
        st.dim("Try it on your own URL: httptrace -v URL, or httptrace --events ndjson URL")
    );
    0
}
