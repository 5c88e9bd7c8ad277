//! Redirect following (and retries on a redirect hop) against Go's net/http client rules:
//! methods and bodies per status, Location resolution, headers that do or do not follow,
//! Referer, limits and errors.
//! Every test here stays on 127.0.0.1.

mod support;

use std::time::Duration;

use httptrace::Client;
use httptrace_peers::{Response, Server, ServerHandle};
use support::{guard, Recorder};

/// A server whose handler answers `/r...` paths per `route`, and 200 "final" elsewhere.
async fn server<F>(route: F) -> ServerHandle
where
    F: Fn(&httptrace_peers::Request) -> Option<Response> + Send + Sync + 'static,
{
    Server::builder()
        .handler(move |req| route(&req).unwrap_or_else(|| Response::text("final")))
        .start()
        .await
        .unwrap()
}

fn redirect(status: u16, loc: &str) -> Response {
    Response::new(status).header("Location", loc)
}

async fn send(
    client: &Client,
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: httptrace::Body,
    rec: &Recorder,
) -> Result<(u16, bytes::Bytes), httptrace::Error> {
    guard(async {
        let mut b = client.request(method, url).body(body).trace(rec.trace());
        for (k, v) in headers {
            b = b.header(k, v);
        }
        let resp = b.send().await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().bytes().await?;
        Ok((status, body))
    })
    .await
}

// ------------------------------------------------------------------------------------------
// Method and body
// ------------------------------------------------------------------------------------------

/// Go's redirectBehavior: on 301/302/303 every method other than GET and HEAD becomes GET
/// (issue 18570), with no body. PUT and DELETE included, not only POST.
#[tokio::test]
async fn put_302_becomes_get_without_body() {
    let srv = server(|r| (r.path() == "/r").then(|| redirect(302, "/next"))).await;
    let client = support::client();
    let rec = Recorder::new();
    let (status, _) = send(
        &client,
        http::Method::PUT,
        &srv.url("/r"),
        &[("Content-Type", "text/plain")],
        httptrace::Body::from("payload"),
        &rec,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].path(), "/next");
    assert_eq!(reqs[1].body.len(), 0);
    assert_eq!(
        reqs[1].method,
        http::Method::GET,
        "Go turns a PUT answered with 302 into a GET"
    );
}

#[tokio::test]
async fn delete_301_becomes_get() {
    let srv = server(|r| (r.path() == "/r").then(|| redirect(301, "/next"))).await;
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::DELETE,
        &srv.url("/r"),
        &[],
        httptrace::Body::empty(),
        &rec,
    )
    .await
    .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].method,
        http::Method::GET,
        "Go: 301 on DELETE -> GET"
    );
}

/// Go's rules: POST 302 -> GET, HEAD 303 -> HEAD, POST 307 keeps method and body.
#[tokio::test]
async fn method_rules() {
    let srv = server(|r| match r.path() {
        "/r302" => Some(redirect(302, "/next")),
        "/r303" => Some(redirect(303, "/next")),
        "/r307" => Some(redirect(307, "/next")),
        "/r308" => Some(redirect(308, "/next")),
        _ => None,
    })
    .await;
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::POST,
        &srv.url("/r302"),
        &[],
        "abc".into(),
        &rec,
    )
    .await
    .unwrap();
    send(
        &client,
        http::Method::HEAD,
        &srv.url("/r303"),
        &[],
        ().into(),
        &rec,
    )
    .await
    .unwrap();
    send(
        &client,
        http::Method::POST,
        &srv.url("/r307"),
        &[],
        "xyz".into(),
        &rec,
    )
    .await
    .unwrap();
    send(
        &client,
        http::Method::PUT,
        &srv.url("/r308"),
        &[],
        "uvw".into(),
        &rec,
    )
    .await
    .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 8);
    assert_eq!(reqs[1].method, http::Method::GET);
    assert!(reqs[1].body.is_empty());
    assert!(reqs[1].header("content-length").is_none());
    assert_eq!(reqs[3].method, http::Method::HEAD);
    assert_eq!(reqs[5].method, http::Method::POST);
    assert_eq!(&reqs[5].body[..], b"xyz");
    assert_eq!(reqs[7].method, http::Method::PUT);
    assert_eq!(&reqs[7].body[..], b"uvw");
}

/// A 307 with a streamed (non-replayable) body is returned as is (Go: GetBody nil).
#[tokio::test]
async fn a_307_with_a_streamed_body_is_not_followed() {
    let srv = server(|r| (r.path() == "/r").then(|| redirect(307, "/next"))).await;
    let client = support::client();
    let rec = Recorder::new();
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(
        "streamed",
    ))]);
    let (status, _) = send(
        &client,
        http::Method::POST,
        &srv.url("/r"),
        &[],
        httptrace::Body::from_stream(stream),
        &rec,
    )
    .await
    .unwrap();
    assert_eq!(status, 307);
    assert_eq!(srv.requests().len(), 1);
}

// ------------------------------------------------------------------------------------------
// Headers across hosts
// ------------------------------------------------------------------------------------------

/// Go's shouldCopyHeaderOnRedirect drops Authorization, Www-Authenticate, Cookie and Cookie2
/// when the host:port changes. Here 127.0.0.1:A -> 127.0.0.1:B.
#[tokio::test]
async fn cookie2_dropped_on_redirect_to_other_host() {
    let target = server(|_| None).await;
    let to = target.url("/landed");
    let origin = server(move |r| (r.path() == "/r").then(|| redirect(302, &to))).await;
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::GET,
        &origin.url("/r"),
        &[
            ("Authorization", "Bearer secret"),
            ("Cookie", "a=b"),
            ("Cookie2", "$Version=1"),
            ("WWW-Authenticate", "Basic"),
            ("Proxy-Authorization", "Basic cHJveHk="),
            ("X-Other", "kept"),
        ],
        ().into(),
        &rec,
    )
    .await
    .unwrap();
    let reqs = target.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.header("x-other"), Some("kept"));
    // Go's shouldCopyHeaderOnRedirect: only the origin's credentials are sensitive; the proxy's
    // follow the request.
    assert_eq!(r.header("proxy-authorization"), Some("Basic cHJveHk="));
    assert!(r.header("authorization").is_none());
    assert!(r.header("cookie").is_none());
    assert!(r.header("www-authenticate").is_none());
    assert!(
        r.header("cookie2").is_none(),
        "Cookie2 followed the request to another host: {:?}",
        r.header("cookie2")
    );
}

/// Go adds a Referer (the previous hop's URL) on every redirect but https -> http.
#[tokio::test]
async fn referer_set_on_redirect() {
    let srv = server(|r| (r.path() == "/r").then(|| redirect(302, "/next"))).await;
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::GET,
        &srv.url("/r?q=1"),
        &[],
        ().into(),
        &rec,
    )
    .await
    .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].header("referer"),
        Some(srv.url("/r?q=1").as_str()),
        "Go's Client.do sets Referer from refererForURL"
    );
}

// ------------------------------------------------------------------------------------------
// Location resolution
// ------------------------------------------------------------------------------------------

/// GET `base_path`, answered once with a 302 to `loc`; every later request gets 200.
async fn follow_to(base_path: &'static str, loc: &'static str) -> (u16, Vec<String>) {
    let first = std::sync::atomic::AtomicBool::new(true);
    let srv = server(move |r| {
        (r.target == base_path && first.swap(false, std::sync::atomic::Ordering::SeqCst))
            .then(|| redirect(302, loc))
    })
    .await;
    let client = support::client();
    let rec = Recorder::new();
    let res = send(
        &client,
        http::Method::GET,
        &srv.url(base_path),
        &[],
        ().into(),
        &rec,
    )
    .await;
    let status = match res {
        Ok((s, _)) => s,
        Err(e) => panic!("{e:?} {}", rec.dump()),
    };
    (
        status,
        srv.requests().into_iter().map(|r| r.target).collect(),
    )
}

/// A fragment-only Location is the same document (RFC 3986 5.2.2; Go's ResolveReference keeps
/// the base path and query).
#[tokio::test]
async fn location_fragment_only_keeps_path_and_query() {
    let (_, targets) = follow_to("/b/c?x=1", "#frag").await;
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1], "/b/c?x=1");
}

/// Empty path segments are kept (Go's resolvePath keeps "//").
#[tokio::test]
async fn location_keeps_empty_path_segments() {
    let (_, targets) = follow_to("/r", "/a//b").await;
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1], "/a//b");
}

/// A Location with raw UTF-8 is followed (Go's url.Parse accepts it; the request escapes it).
#[tokio::test]
async fn location_with_utf8_is_followed() {
    let (status, targets) = follow_to("/r", "/caf\u{e9}").await;
    assert_eq!(status, 200, "the 302 was returned instead of followed");
    assert_eq!(targets[1], "/caf%C3%A9");
}

/// A Location with a space is followed, escaped (Go: url.Parse accepts, EscapedPath %20).
#[tokio::test]
async fn location_with_space_is_followed() {
    let (status, targets) = follow_to("/r", "/a b").await;
    assert_eq!(status, 200, "the 302 was returned instead of followed");
    assert_eq!(targets[1], "/a%20b");
}

/// Location forms: relative, dot segments, query-only.
#[tokio::test]
async fn location_forms() {
    assert_eq!(follow_to("/a/b/c", "../d?e=1").await.1[1], "/a/d?e=1");
    assert_eq!(follow_to("/a/b?q=1", "?z=2").await.1[1], "/a/b?z=2");
    assert_eq!(follow_to("/a/b", "./x/./y/../z").await.1[1], "/a/x/z");
    assert_eq!(follow_to("/a/b", "/p#frag").await.1[1], "/p");
}

/// Go: an unparsable Location is an error ("failed to parse Location header"), not the 3xx.
#[tokio::test]
async fn invalid_location_is_an_error() {
    let srv = server(|r| (r.path() == "/r").then(|| redirect(302, "http://[::1/x"))).await;
    let client = support::client();
    let rec = Recorder::new();
    let res = send(
        &client,
        http::Method::GET,
        &srv.url("/r"),
        &[],
        ().into(),
        &rec,
    )
    .await;
    assert!(res.is_err(), "Go fails the call; got {res:?}");
}

// ------------------------------------------------------------------------------------------
// Limits, loop, connection reuse
// ------------------------------------------------------------------------------------------

/// Documents the limit as implemented: `max_redirects(10)` follows 10 redirects (11
/// requests). Go's defaultCheckRedirect (`len(via) >= 10`) sends 10 requests and fails on the
/// 10th redirect response; the builder documents "follow at most n", so this is not counted
/// as a bug here.
#[tokio::test]
async fn redirect_loop_stops_after_10() {
    let srv = server(|r| (r.path() == "/loop").then(|| redirect(302, "/loop"))).await;
    let client = support::client();
    let rec = Recorder::new();
    let err = send(
        &client,
        http::Method::GET,
        &srv.url("/loop"),
        &[],
        ().into(),
        &rec,
    )
    .await
    .unwrap_err();
    assert_eq!(srv.requests().len(), 11);
    assert_eq!(rec.count("redirect 302"), 10);
    assert!(err.to_string().contains("10 redirects"), "{err}");
    // Every hop reused the one connection (the small redirect bodies were drained).
    assert_eq!(srv.connections_accepted(), 1, "{}", rec.dump());
}

/// A redirect whose body is small but chunked is drained, its connection reused.
#[tokio::test]
async fn redirect_body_drained_conn_reused() {
    let srv = server(|r| {
        (r.path() == "/r").then(|| {
            redirect(302, "/next").chunked(
                vec![bytes::Bytes::from("moved "), bytes::Bytes::from("here")],
                Duration::from_millis(5),
            )
        })
    })
    .await;
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::GET,
        &srv.url("/r"),
        &[],
        ().into(),
        &rec,
    )
    .await
    .unwrap();
    assert_eq!(srv.connections_accepted(), 1, "{}", rec.dump());
}

/// Dot segments of an absolute Location are removed (Go's ResolveReference runs resolvePath
/// on absolute references too).
#[tokio::test]
async fn absolute_location_dot_segments_removed() {
    let srv = ServerCell::new();
    let s2 = srv.clone();
    let handle =
        server(move |r| (r.path() == "/r").then(|| redirect(302, &format!("{}/a/../b", s2.get()))))
            .await;
    srv.set(format!("http://127.0.0.1:{}", handle.port()));
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::GET,
        &handle.url("/r"),
        &[],
        ().into(),
        &rec,
    )
    .await
    .unwrap();
    let reqs = handle.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].target, "/b");
}

/// A Location with another scheme (an app callback, mailto:) is an absolute URI reference;
/// Go resolves it to that URL and the transport fails with `unsupported protocol scheme`.
/// It must never become a path on the server that answered.
#[tokio::test]
async fn location_with_other_scheme_not_fetched_as_path() {
    let srv =
        server(|r| (r.path() == "/r").then(|| redirect(302, "myapp://callback?code=SECRET"))).await;
    let client = support::client();
    let rec = Recorder::new();
    let res = send(
        &client,
        http::Method::GET,
        &srv.url("/r"),
        &[],
        ().into(),
        &rec,
    )
    .await;
    let reqs = srv.requests();
    assert_eq!(
        reqs.len(),
        1,
        "second request sent to {:?}; result {res:?}",
        reqs.get(1).map(|r| r.target.clone())
    );
}

/// Go keeps a caller's custom Host only when the Location is relative (issue 22233); an
/// absolute Location sends the Location's host.
#[tokio::test]
async fn custom_host_not_kept_for_absolute_location() {
    let srv = ServerCell::new();
    let s2 = srv.clone();
    let handle =
        server(move |r| (r.path() == "/r").then(|| redirect(302, &format!("{}/next", s2.get()))))
            .await;
    let base = format!("http://127.0.0.1:{}", handle.port());
    srv.set(base.clone());
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::GET,
        &handle.url("/r"),
        &[("Host", "virtual.test")],
        ().into(),
        &rec,
    )
    .await
    .unwrap();
    let reqs = handle.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("host"), Some("virtual.test"));
    assert_eq!(
        reqs[1].header("host"),
        Some(&base["http://".len()..]),
        "Go drops the custom Host when following an absolute Location"
    );
}

/// Go checks for an empty Location before the redirect limit: a 3xx without a usable
/// Location is returned as is, even at the limit.
#[tokio::test]
async fn empty_location_at_limit_returns_response() {
    let srv = server(|r| match r.path() {
        "/r" => Some(redirect(302, "/b")),
        "/b" => Some(redirect(302, "")),
        _ => None,
    })
    .await;
    let client = support::builder().max_redirects(1).build().unwrap();
    let rec = Recorder::new();
    let res = send(
        &client,
        http::Method::GET,
        &srv.url("/r"),
        &[],
        ().into(),
        &rec,
    )
    .await;
    assert_eq!(srv.requests().len(), 2);
    assert!(
        matches!(res, Ok((302, _))),
        "Go returns the 302 (no Location to follow); got {res:?}"
    );
}

/// The trace of a redirect chain.
#[tokio::test]
async fn redirect_trace_events() {
    let srv = server(|r| match r.path() {
        "/r" => Some(redirect(301, "/s")),
        "/s" => Some(redirect(307, "/t")),
        _ => None,
    })
    .await;
    let client = support::client();
    let rec = Recorder::new();
    send(
        &client,
        http::Method::POST,
        &srv.url("/r"),
        &[],
        "body".into(),
        &rec,
    )
    .await
    .unwrap();
    let ev = rec.events();
    let starts: Vec<&String> = ev
        .iter()
        .filter(|e| e.starts_with("request_start"))
        .collect();
    assert_eq!(starts.len(), 3, "{}", rec.dump());
    assert_eq!(rec.count_prefix("redirect "), 2, "{}", rec.dump());
    assert_eq!(rec.count_prefix("request_done"), 1, "{}", rec.dump());
    assert_eq!(srv.connections_accepted(), 1, "{}", rec.dump());
    let reqs = srv.requests();
    assert_eq!(reqs[1].method, http::Method::GET);
    assert_eq!(reqs[2].method, http::Method::GET);
    assert!(reqs[2].body.is_empty());
}

/// A late-set string shared with a handler (the URL of the server the handler runs in).
#[derive(Clone)]
struct ServerCell(std::sync::Arc<std::sync::Mutex<String>>);
impl ServerCell {
    fn new() -> Self {
        ServerCell(Default::default())
    }
    fn set(&self, s: String) {
        *self.0.lock().unwrap() = s;
    }
    fn get(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------------------------------------
// Retries
// ------------------------------------------------------------------------------------------

use httptrace_peers::{Script, ScriptedPeer};

/// Go: retries go on while reused connections fail (no other limit); two dead idle
/// connections then a fresh one: two retries, the answer from the third connection.
#[tokio::test]
async fn retry_across_two_dead_idle_conns() {
    let dying = || {
        Script::new()
            .read_request()
            .write(support::ok_response("first"))
            .read_head()
            .close()
    };
    let good = Script::new()
        .read_request()
        .write(support::ok_response("fresh"))
        .hold();
    let peer = ScriptedPeer::start(vec![dying(), dying(), good])
        .await
        .unwrap();
    let client = support::client();
    // Two connections in use at once, then both idle.
    let a = guard(client.get(&peer.url("/")).send()).await.unwrap();
    let b = guard(client.get(&peer.url("/")).send()).await.unwrap();
    guard(a.into_body().bytes()).await.unwrap();
    guard(b.into_body().bytes()).await.unwrap();
    assert_eq!(peer.connections_accepted(), 2);
    let rec = Recorder::new();
    let (status, body) = support::get_traced(&client, &peer.url("/"), &rec)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", rec.dump()));
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"fresh", "{}", rec.dump());
    assert_eq!(rec.count_prefix("retry"), 2, "{}", rec.dump());
    let attempts: Vec<u32> = rec.retries().iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, vec![1, 2]);
}

/// An unsolicited 408 + close on an idle connection is not taken as the next response.
#[tokio::test]
async fn idle_408_not_taken_as_response() {
    let s0 = Script::new()
        .read_request()
        .write(support::ok_response("first"))
        .sleep(Duration::from_millis(50))
        .write("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .close();
    let s1 = Script::new()
        .read_request()
        .write(support::ok_response("second"))
        .hold();
    let peer = ScriptedPeer::start(vec![s0, s1]).await.unwrap();
    let client = support::client();
    support::get_traced(&client, &peer.url("/"), &Recorder::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rec = Recorder::new();
    let (status, body) = support::get_traced(&client, &peer.url("/"), &rec)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", rec.dump()));
    assert_eq!(status, 200, "{}", rec.dump());
    assert_eq!(&body[..], b"second");
}

/// A redirect hop that lands on a dead reused connection is retried like a first hop
/// (307 keeps the POST body, which is replayable).
#[tokio::test]
async fn retry_on_redirect_hop_replays_body() {
    // conn 0: answer a first GET (kept alive), then the POST with a 307 to /next, then read
    // the next head and die. conn 1: answer the replayed POST.
    let s0 = Script::new()
        .read_request()
        .write(support::ok_response("warm"))
        .read_request()
        .write("HTTP/1.1 307 Temporary Redirect\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
        .read_head()
        .close();
    let s1 = Script::new()
        .read_request()
        .write(support::ok_response("done"))
        .hold();
    let peer = ScriptedPeer::start(vec![s0, s1]).await.unwrap();
    let client = support::client();
    support::get_traced(&client, &peer.url("/"), &Recorder::new())
        .await
        .unwrap();
    let rec = Recorder::new();
    let res = send(
        &client,
        http::Method::POST,
        &peer.url("/start"),
        &[("Idempotency-Key", "k1")],
        "payload".into(),
        &rec,
    )
    .await;
    let (status, body) = res.unwrap_or_else(|e| panic!("{e:?}\n{}", rec.dump()));
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"done");
    let got = peer.received_string(1);
    assert!(got.starts_with("POST /next "), "{got}");
    assert!(got.ends_with("payload"), "{got}");
}
