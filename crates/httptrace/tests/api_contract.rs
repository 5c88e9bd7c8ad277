//! The public API's contract: trace composition, the 1xx abort rule, Error predicates and
//! source chains on real failures, no credentials in errors or Debug output, panicking hooks.

mod support;

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httptrace::{Body, ClientTrace, Error, RequestTraceExt, TimeoutKind};
use httptrace_peers::{Response, Script, ScriptedPeer, Server};
use support::{bounded, guard, h2_server, HookError};

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/// Every error in the `source()` chain, starting with `e` itself.
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut v = vec![e];
    let mut cur = e;
    while let Some(s) = cur.source() {
        v.push(s);
        cur = s;
    }
    v
}

fn find_io(e: &Error) -> Option<std::io::ErrorKind> {
    chain(e)
        .into_iter()
        .find_map(|s| s.downcast_ref::<std::io::Error>().map(|io| io.kind()))
}

/// The predicates, as a string of names that are true.
fn preds(e: &Error) -> Vec<&'static str> {
    let mut v = Vec::new();
    macro_rules! p {
        ($($n:ident),*) => { $( if e.$n() { v.push(stringify!($n)); } )* };
    }
    p!(
        is_request,
        is_builder,
        is_dns,
        is_connect,
        is_tls,
        is_proxy,
        is_timeout,
        is_protocol,
        is_io,
        is_body,
        is_request_body,
        is_hook,
        is_too_many_1xx,
        is_redirect,
        is_too_many_idle,
        is_conn_broken,
        is_pool_closed,
        is_canceled,
        is_http2
    );
    v
}

/// A port on 127.0.0.1 nobody listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

fn log_trace(log: &Arc<Mutex<Vec<String>>>, tag: &'static str) -> ClientTrace {
    let l1 = log.clone();
    let l2 = log.clone();
    ClientTrace::new()
        .on_get_conn(move |_| l1.lock().unwrap().push(format!("get_conn {tag}")))
        .on_got_first_response_byte(move || l2.lock().unwrap().push(format!("first_byte {tag}")))
}

fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn failing_1xx(tag: &'static str) -> ClientTrace {
    ClientTrace::new().on_got_1xx_response(move |_, _| {
        Err(Box::new(HookError(tag.to_string())) as httptrace::BoxError)
    })
}

fn hook_source(err: &Error) -> Option<HookError> {
    err.source()
        .and_then(|s| s.downcast_ref::<HookError>())
        .cloned()
}

// ---------------------------------------------------------------------------------------------
// Composition
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_level_trace_runs_after_request_trace_and_builder_trace_composes() {
    let srv = Server::hello().start().await.unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let client = support::builder()
        .trace(log_trace(&log, "client1"))
        .trace(log_trace(&log, "client2"))
        .build()
        .unwrap();
    // No request trace: only the client's, newer first.
    let resp = guard(client.get(&srv.url("/")).send()).await.unwrap();
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(
        taken(&log),
        support::strs(&[
            "get_conn client2",
            "get_conn client1",
            "first_byte client2",
            "first_byte client1"
        ])
    );
    // Request traces: the request's (newest first), then the client's.
    let resp = guard(
        client
            .get(&srv.url("/"))
            .trace(log_trace(&log, "req1"))
            .trace(log_trace(&log, "req2"))
            .send(),
    )
    .await
    .unwrap();
    guard(resp.into_body().bytes()).await.unwrap();
    let got: Vec<_> = taken(&log)
        .into_iter()
        .filter(|s| s.starts_with("get_conn"))
        .collect();
    assert_eq!(
        got,
        support::strs(&[
            "get_conn req2",
            "get_conn req1",
            "get_conn client2",
            "get_conn client1"
        ])
    );
}

#[tokio::test]
async fn a_trace_attached_twice_runs_twice() {
    let srv = Server::hello().start().await.unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = log_trace(&log, "t");
    let req = http::Request::get(srv.url("/"))
        .body(Body::empty())
        .unwrap()
        .with_trace(t.clone())
        .with_trace(t);
    let resp = guard(support::client().execute(req)).await.unwrap();
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(
        taken(&log),
        support::strs(&["get_conn t", "get_conn t", "first_byte t", "first_byte t"])
    );
}

#[tokio::test]
async fn got_1xx_two_failing_traces_newer_error_wins_over_h2() {
    bounded(async {
        let (_, srv, c) = h2_server(
            Server::builder().handler(|_| Response::hello().early_hints(&["</a>; rel=preload"])),
        )
        .await;
        let err = c
            .get(&srv.url("/"))
            .trace(failing_1xx("old"))
            .trace(failing_1xx("new"))
            .send()
            .await
            .expect_err("aborted");
        assert!(err.is_hook(), "{err:?}");
        assert_eq!(
            hook_source(&err),
            Some(HookError("new".into())),
            "the hook's own error must be source(): {err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn got_1xx_request_trace_error_wins_over_client_trace_error_h1() {
    let srv = Server::builder()
        .handler(|_| Response::hello().early_hints(&["</a>; rel=preload"]))
        .start()
        .await
        .unwrap();
    let client = support::builder()
        .trace(failing_1xx("client"))
        .build()
        .unwrap();
    // The client's hook alone aborts.
    let err = guard(client.get(&srv.url("/")).send())
        .await
        .expect_err("aborted");
    assert!(err.is_hook(), "{err:?}");
    assert_eq!(hook_source(&err), Some(HookError("client".into())));
    // The request's trace runs first, so its error wins.
    let err = guard(client.get(&srv.url("/")).trace(failing_1xx("req")).send())
        .await
        .expect_err("aborted");
    assert_eq!(hook_source(&err), Some(HookError("req".into())), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Credentials in errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn error_display_and_debug_do_not_leak_url_password() {
    let port = closed_port();
    let url = format!("http://alice:s3cr3tpw@127.0.0.1:{port}/x");
    let err = guard(support::client().get(&url).send())
        .await
        .expect_err("refused");
    let shown = format!("{err}");
    let debugged = format!("{err:?}");
    assert!(
        !shown.contains("s3cr3tpw"),
        "Display leaks the password: {shown}"
    );
    assert!(
        !debugged.contains("s3cr3tpw"),
        "Debug leaks the password: {debugged}"
    );
}

#[tokio::test]
async fn body_error_display_does_not_leak_url_password() {
    // Content-Length 10, 3 bytes, then close: the body read fails.
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        .close()])
    .await
    .unwrap();
    let url = peer.url("/").replace("http://", "http://bob:hunter2pw@");
    let resp = guard(support::client().get(&url).send()).await.unwrap();
    let err = guard(resp.into_body().bytes())
        .await
        .expect_err("truncated");
    assert!(err.is_body(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2pw"), "password leaked: {shown}");
}

// ---------------------------------------------------------------------------------------------
// Predicates and source chains on real failures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn connection_refused_is_connect_with_io_source_and_url() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let err = guard(support::client().get(&url).send())
        .await
        .expect_err("refused");
    assert_eq!(preds(&err), ["is_connect"], "{err:?}");
    assert_eq!(
        find_io(&err),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert_eq!(err.url().map(|u| u.to_string()), Some(url));
    assert_eq!(err.timeout_kind(), None);
}

#[tokio::test]
async fn connect_timeout_is_timeout_and_connect() {
    // A listener whose accept queue is full: further SYNs are dropped, connects hang.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let client = support::builder()
        .connect_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let err = guard(client.get(&format!("http://{addr}/")).send())
        .await
        .expect_err("connect times out");
    assert_eq!(
        err.timeout_kind(),
        Some(TimeoutKind::Connect),
        "{err:?} (fillers: {})",
        fillers.len()
    );
    assert!(err.is_timeout() && err.is_connect(), "{err:?}");
    assert!(!err.is_tls() && !err.is_io() && !err.is_body(), "{err:?}");
    assert!(err.url().is_some(), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn tls_handshake_timeout_is_tls_and_timeout_not_connect() {
    // Accepts TCP, never answers the ClientHello.
    let peer = ScriptedPeer::start(vec![Script::new().hold()])
        .await
        .unwrap();
    let client = support::builder()
        .tls_handshake_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let url = format!("https://{}/", peer.addr());
    let err = guard(client.get(&url).send())
        .await
        .expect_err("tls timeout");
    assert_eq!(
        err.timeout_kind(),
        Some(TimeoutKind::TlsHandshake),
        "{err:?}"
    );
    assert_eq!(preds(&err), ["is_tls", "is_timeout"], "{err:?}");
}

#[tokio::test]
async fn bad_certificate_is_tls_with_rustls_source() {
    bounded(async {
        let (_, srv, c) =
            support::tls_server_for(&["wrong.example"], Server::hello(), support::ALPN_H2).await;
        let url = format!("https://127.0.0.1:{}/", srv.port());
        let err = c.get(&url).send().await.expect_err("bad cert");
        assert_eq!(preds(&err), ["is_tls"], "{err:?}");
        let has_rustls = chain(&err)
            .into_iter()
            .any(|s| s.downcast_ref::<rustls::Error>().is_some());
        assert!(
            has_rustls,
            "source chain must reach the rustls error: {err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn response_header_timeout_predicates() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().hold()])
        .await
        .unwrap();
    let client = support::builder()
        .response_header_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = guard(client.get(&peer.url("/")).send())
        .await
        .expect_err("timeout");
    assert_eq!(preds(&err), ["is_timeout"], "{err:?}");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::ResponseHeader));
    assert!(err.url().is_some());
}

#[tokio::test]
async fn invalid_requests_are_is_request_only() {
    let client = support::client();
    // No scheme/host.
    let req = http::Request::get("/relative").body(Body::empty()).unwrap();
    let err = guard(client.execute(req)).await.expect_err("invalid");
    assert_eq!(preds(&err), ["is_request"], "{err:?}");
    // A bad header value through the builder.
    let err = guard(client.get("http://127.0.0.1:1/").header("x", "a\nb").send())
        .await
        .expect_err("invalid");
    assert_eq!(preds(&err), ["is_request"], "{err:?}");
    // An unsupported scheme.
    let err = guard(client.get("ftp://127.0.0.1:1/").send())
        .await
        .expect_err("invalid");
    assert_eq!(preds(&err), ["is_request"], "{err:?}");
}

#[tokio::test]
async fn reset_mid_body_is_body_with_io_source() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc")
        .sleep(Duration::from_millis(50))
        .reset()])
    .await
    .unwrap();
    let resp = guard(support::client().get(&peer.url("/")).send())
        .await
        .unwrap();
    let err = guard(resp.into_body().bytes()).await.expect_err("reset");
    assert_eq!(preds(&err), ["is_body"], "{err:?}");
    assert!(find_io(&err).is_some(), "io::Error in the chain: {err:?}");
    assert!(err.url().is_some());
}

#[tokio::test]
async fn truncated_body_is_body() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        .close()])
    .await
    .unwrap();
    let resp = guard(support::client().get(&peer.url("/")).send())
        .await
        .unwrap();
    let err = guard(resp.into_body().bytes())
        .await
        .expect_err("truncated");
    assert_eq!(preds(&err), ["is_body"], "{err:?}");
    assert!(err.source().is_some(), "{err:?}");
}

#[derive(Debug)]
struct UserBodyError;
impl std::fmt::Display for UserBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("user body error")
    }
}
impl StdError for UserBodyError {}

#[tokio::test]
async fn failing_request_body_is_request_body_with_user_source() {
    let srv = Server::hello().start().await.unwrap();
    let stream = futures_util::stream::iter(vec![
        Ok::<_, UserBodyError>(bytes::Bytes::from_static(b"abc")),
        Err(UserBodyError),
    ]);
    let err = guard(
        support::client()
            .post(&srv.url("/"))
            .body(Body::from_stream(stream))
            .send(),
    )
    .await
    .expect_err("body fails");
    assert_eq!(preds(&err), ["is_request_body"], "{err:?}");
    let found = chain(&err)
        .into_iter()
        .any(|s| s.downcast_ref::<UserBodyError>().is_some());
    assert!(found, "the user's error in the chain: {err:?}");
}

// ---------------------------------------------------------------------------------------------
// Panicking hooks
// ---------------------------------------------------------------------------------------------

fn panicking_got_conn() -> ClientTrace {
    ClientTrace::new().on_got_conn(|_| panic!("hook panics (test)"))
}

#[tokio::test]
async fn h1_panicking_got_conn_hook_leaves_the_client_usable() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let c = client.clone();
    let url = srv.url("/");
    let j = tokio::spawn(async move { c.get(&url).trace(panicking_got_conn()).send().await });
    let r = guard(j).await;
    assert!(
        r.as_ref().err().is_some_and(|e| e.is_panic()),
        "the hook's panic reaches the caller"
    );
    let (res, rec) = support::get(&client, &srv.url("/")).await;
    assert_eq!(res.map(|r| r.0).ok(), Some(200), "{}", rec.dump());
}

#[tokio::test]
async fn h1_panicking_connect_hook_on_the_dial_task_fails_the_request_without_hanging() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let c = client.clone();
    let url = srv.url("/");
    let j = tokio::spawn(async move {
        c.get(&url)
            .trace(ClientTrace::new().on_connect_start(|_, _| panic!("hook panics (test)")))
            .send()
            .await
            .map(|r| r.status())
    });
    let r = guard(j).await;
    // Either the panic or an error; never a hang.
    if let Ok(res) = r {
        assert!(res.is_err(), "{res:?}");
    }
    let (res, rec) = support::get(&client, &srv.url("/")).await;
    assert_eq!(res.map(|r| r.0).ok(), Some(200), "{}", rec.dump());
}

#[tokio::test]
async fn h1_panicking_put_idle_conn_hook_leaves_the_client_usable() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder()
        .max_conns_per_host(Some(1))
        .build()
        .unwrap();
    let c = client.clone();
    let url = srv.url("/");
    let j = tokio::spawn(async move {
        let resp = c
            .get(&url)
            .trace(ClientTrace::new().on_put_idle_conn(|_| panic!("hook panics (test)")))
            .send()
            .await?;
        resp.into_body().bytes().await
    });
    let r = guard(j).await;
    assert!(r.as_ref().err().is_some_and(|e| e.is_panic()));
    let (res, rec) = support::get(&client, &srv.url("/")).await;
    assert_eq!(res.map(|r| r.0).ok(), Some(200), "{}", rec.dump());
}

#[tokio::test]
async fn h2_panicking_got_conn_hook_does_not_leave_a_phantom_open_stream() {
    bounded(async {
        let (_, srv, client) = h2_server(Server::hello()).await;
        // Warm the connection.
        let (res, rec) = support::get(&client, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200, "{}", rec.dump());
        // A request on the cached connection whose got_conn hook panics.
        let c = client.clone();
        let url = srv.url("/");
        let j = tokio::spawn(async move { c.get(&url).trace(panicking_got_conn()).send().await });
        assert!(guard(j).await.err().is_some_and(|e| e.is_panic()));
        // The next request on the idle connection: Go's h2 rule gives was_idle=true.
        let (res, rec) = support::get(&client, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200, "{}", rec.dump());
        assert_eq!(srv.connections_accepted(), 1, "{}", rec.dump());
        assert!(
            rec.has("got_conn reused=true was_idle=true"),
            "no stream is open, so the connection was idle: {}",
            rec.dump()
        );
    })
    .await;
}

#[tokio::test]
async fn h2_panicking_first_byte_hook_leaves_the_connection_usable() {
    bounded(async {
        let (_, srv, client) = h2_server(Server::hello()).await;
        let (res, _) = support::get(&client, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200);
        let c = client.clone();
        let url = srv.url("/");
        let j = tokio::spawn(async move {
            c.get(&url)
                .trace(
                    ClientTrace::new().on_got_first_response_byte(|| panic!("hook panics (test)")),
                )
                .send()
                .await
                .map(|r| r.status())
        });
        let _ = guard(j).await;
        let (res, rec) = support::get(&client, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200, "{}", rec.dump());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Hook timing over both protocols
// ---------------------------------------------------------------------------------------------

async fn sequence_for(client: &httptrace::Client, url: &str) -> Vec<String> {
    let rec = support::Recorder::new();
    let resp = guard(client.get(url).trace(rec.trace()).send())
        .await
        .unwrap();
    rec.mark("execute_returned");
    guard(resp.into_body().bytes()).await.unwrap();
    rec.mark("body_read");
    rec.events()
}

fn before(ev: &[String], a: &str, b: &str) -> bool {
    let pa = ev.iter().position(|e| e.starts_with(a));
    let pb = ev.iter().position(|e| e.starts_with(b));
    matches!((pa, pb), (Some(x), Some(y)) if x < y)
}

#[tokio::test]
async fn beyond_go_hooks_order_h1_and_h2() {
    bounded(async {
        let (_, srv1, c1) = support::tls_server(Server::hello(), support::ALPN_H1).await;
        let (_, srv2, c2) = h2_server(Server::hello()).await;
        for (c, srv, proto) in [(&c1, &srv1, "h1"), (&c2, &srv2, "h2")] {
            for round in 0..2 {
                let ev = sequence_for(c, &srv.url("/")).await;
                let ctx = format!("{proto} round {round}: {ev:#?}");
                assert!(before(&ev, "request_start", "get_conn"), "{ctx}");
                assert!(before(&ev, "got_response_headers", "request_done"), "{ctx}");
                assert!(before(&ev, "request_done", "execute_returned"), "{ctx}");
                assert!(
                    before(&ev, "got_first_response_byte", "got_response_headers"),
                    "{ctx}"
                );
                assert!(before(&ev, "response_body_done", "body_read"), "{ctx}");
                if round == 0 {
                    assert!(before(&ev, "get_conn", "new_conn"), "{ctx}");
                    assert!(before(&ev, "new_conn", "connect_start"), "{ctx}");
                } else {
                    assert!(!ev.iter().any(|e| e.starts_with("new_conn")), "{ctx}");
                }
                if proto == "h1" {
                    assert!(before(&ev, "put_idle_conn", "response_body_done"), "{ctx}");
                }
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// More predicates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fresh_connection_closed_before_response_is_io() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().close()])
        .await
        .unwrap();
    let err = guard(support::client().get(&peer.url("/")).send())
        .await
        .expect_err("closed");
    assert_eq!(preds(&err), ["is_io"], "{err:?}");
    assert!(err.url().is_some());
}

#[tokio::test]
async fn malformed_response_is_protocol() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
        .hold()])
    .await
    .unwrap();
    let err = guard(support::client().get(&peer.url("/")).send())
        .await
        .expect_err("malformed");
    assert_eq!(preds(&err), ["is_protocol"], "{err:?}");
}

#[tokio::test]
async fn dns_failure_predicates() {
    let client = support::builder()
        .resolver(httptrace::dns::HostsResolver::from_contents(
            "127.0.0.1 known.test\n",
        ))
        .build()
        .unwrap();
    let err = guard(client.get("http://unknown.test:1/").send())
        .await
        .expect_err("no such host");
    // is_connect is also true (its doc names TCP connections and proxy tunnels only).
    assert_eq!(preds(&err), ["is_dns", "is_connect"], "{err:?}");
}

#[tokio::test]
async fn proxy_refusal_predicates() {
    let proxy = httptrace_peers::Proxy::start(httptrace_peers::ProxyConfig {
        connect_status: Some(403),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = support::builder().proxy(&proxy.url()).build().unwrap();
    let err = guard(client.get("https://127.0.0.1:9/").send())
        .await
        .expect_err("refused");
    assert!(err.is_proxy(), "{err:?}");
    assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(403), "{err:?}");
    assert_eq!(preds(&err), ["is_connect", "is_proxy"], "{err:?}");
}

#[tokio::test]
async fn too_many_redirects_is_redirect() {
    let srv = Server::builder()
        .handler(|_| Response::new(302).header("Location", "/again"))
        .start()
        .await
        .unwrap();
    let client = support::builder().max_redirects(3).build().unwrap();
    let err = guard(client.get(&srv.url("/")).send())
        .await
        .expect_err("loop");
    assert_eq!(preds(&err), ["is_redirect"], "{err:?}");
    assert!(err.url().is_some());
}

#[tokio::test]
async fn h2_too_many_1xx_is_too_many_1xx() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|_| {
            let mut r = Response::hello();
            for _ in 0..8 {
                r = r.informational(103, vec![("link".into(), "</a>".into())]);
            }
            r
        }))
        .await;
        let rec = support::Recorder::new();
        let res = c.get(&srv.url("/")).trace(rec.trace()).send().await;
        let err = res.expect_err("too many 1xx");
        assert_eq!(preds(&err), ["is_too_many_1xx"], "{err:?}");
        assert_eq!(rec.count("got_1xx 103"), 5, "{}", rec.dump());
    })
    .await;
}

#[tokio::test]
async fn h1_bodyless_response_fires_put_idle_and_body_done_before_return() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = support::Recorder::new();
    let resp = guard(client.head(&srv.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    rec.mark("execute_returned");
    guard(resp.into_body().bytes()).await.unwrap();
    let ev = rec.events();
    assert!(before(&ev, "put_idle_conn", "execute_returned"), "{ev:#?}");
    assert!(
        before(&ev, "response_body_done", "execute_returned"),
        "{ev:#?}"
    );
}

#[tokio::test]
async fn h1_connection_close_response_reports_conn_closed_and_no_put_idle() {
    let srv = Server::builder()
        .handler(|_| Response::hello().close())
        .start()
        .await
        .unwrap();
    let (res, rec) = support::get(&support::client(), &srv.url("/")).await;
    assert_eq!(res.unwrap().0, 200);
    assert_eq!(rec.count_prefix("put_idle_conn"), 0, "{}", rec.dump());
    assert!(rec.has("conn_closed reason=NotReusable"), "{}", rec.dump());
    assert!(
        rec.events()
            .iter()
            .any(|e| e.starts_with("response_body_done") && e.ends_with("outcome=Closed")),
        "{}",
        rec.dump()
    );
}

#[tokio::test]
async fn wait_100_continue_with_zero_timeout_h1_fires_h2_does_not() {
    bounded(async {
        // h1: fires even with a zero timeout.
        let srv = Server::hello().start().await.unwrap();
        let client = support::builder()
            .expect_continue_timeout(Duration::ZERO)
            .build()
            .unwrap();
        let rec = support::Recorder::new();
        let resp = support::post_expecting_continue(&client, &srv.url("/"), "body", &rec)
            .await
            .unwrap();
        guard(resp.into_body().bytes()).await.unwrap();
        assert_eq!(rec.count("wait_100_continue"), 1, "{}", rec.dump());
        // h2: not with a zero timeout.
        let ca = httptrace_peers::TestCa::new();
        let srv2 = Server::hello()
            .tls(ca.server_config(support::ALPN_H2))
            .start()
            .await
            .unwrap();
        let c2 = support::builder_trusting(&ca)
            .expect_continue_timeout(Duration::ZERO)
            .build()
            .unwrap();
        let rec2 = support::Recorder::new();
        let resp = support::post_expecting_continue(&c2, &srv2.url("/"), "body", &rec2)
            .await
            .unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        guard(resp.into_body().bytes()).await.unwrap();
        assert_eq!(rec2.count("wait_100_continue"), 0, "{}", rec2.dump());
    })
    .await;
}

#[tokio::test]
async fn hook_errors_satisfy_the_predicates_their_docs_name() {
    // connect_done's error on a refused connect; dns_done's on a failed lookup.
    let port = closed_port();
    let rec = support::Recorder::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s1 = seen.clone();
    let s2 = seen.clone();
    let t = ClientTrace::new()
        .on_connect_done(move |_, _, e| {
            s1.lock()
                .unwrap()
                .push(format!("connect {:?}", e.map(preds)))
        })
        .on_dns_done(move |i| {
            s2.lock()
                .unwrap()
                .push(format!("dns {:?}", i.err.as_ref().map(preds)))
        });
    let client = support::builder()
        .resolver(httptrace::dns::HostsResolver::from_contents(
            "127.0.0.1 known.test\n",
        ))
        .build()
        .unwrap();
    let _ = guard(
        client
            .get(&format!("http://127.0.0.1:{port}/"))
            .trace(t.clone())
            .send(),
    )
    .await;
    let _ = guard(
        client
            .get("http://unknown.test/")
            .trace(t)
            .trace(rec.trace())
            .send(),
    )
    .await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        support::strs(&[
            "connect Some([\"is_connect\"])",
            "dns Some([\"is_dns\", \"is_connect\"])"
        ]),
    );
}

#[tokio::test]
async fn h2_dial_whose_hook_panics_does_not_strand_a_request_that_joined_it() {
    bounded(async {
        let (_, srv, client) = h2_server(Server::hello()).await;
        let c = client.clone();
        let url = srv.url("/");
        let a = tokio::spawn(async move {
            c.get(&url)
                .trace(
                    ClientTrace::new().on_tls_handshake_done(|_, _| panic!("hook panics (test)")),
                )
                .send()
                .await
                .map(|r| r.status())
        });
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let (res, rec) = support::get(&client, &srv.url("/")).await;
        assert_eq!(res.map(|r| r.0).ok(), Some(200), "{}", rec.dump());
        let _ = guard(a).await;
    })
    .await;
}

/// `RequestBuilder`'s Debug output hides the URL's password and the header values.
#[test]
fn request_builder_debug_hides_secrets() {
    let client = support::client();
    let b = client
        .get("http://alice:s3cr3tpw@127.0.0.1:9/x")
        .header("Authorization", "Bearer t0ps3cret");
    let d = format!("{b:?}");
    assert!(!d.contains("s3cr3tpw") && !d.contains("t0ps3cret"), "{d}");
    assert!(
        d.contains("127.0.0.1:9") && d.contains("authorization"),
        "{d}"
    );
}
