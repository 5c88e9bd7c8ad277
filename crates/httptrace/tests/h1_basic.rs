//! HTTP/1.1 basics: Go's scenarios (a), (b) and (l), request bodies.

mod support;

use std::time::Duration;

use bytes::Bytes;
use httptrace::Body;
use httptrace_peers::Server;
use support::{fresh_tcp_h1, get_traced, guard, reused_h1, strs, Recorder};

#[tokio::test]
async fn get_on_fresh_connection_exact_go_sequence() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let (status, body) = get_traced(&client, &srv.url("/"), &rec).await.expect("GET");
    assert_eq!(status, 200);
    assert_eq!(body.len(), 13);
    assert_eq!(&body[..], b"Hello, world!");

    assert_eq!(rec.go_names(), fresh_tcp_h1(), "events:\n  {}", rec.dump());
    let port = srv.port();
    let ev = rec.events();
    assert!(
        ev.contains(&format!("get_conn 127.0.0.1:{port}")),
        "{}",
        rec.dump()
    );
    assert!(
        ev.contains(&format!("connect_start tcp 127.0.0.1:{port}")),
        "{}",
        rec.dump()
    );
    assert!(
        ev.contains(&format!("connect_done tcp 127.0.0.1:{port} nil")),
        "{}",
        rec.dump()
    );
    assert!(
        ev.contains(&"got_conn reused=false was_idle=false".to_string()),
        "{}",
        rec.dump()
    );
    assert!(
        ev.contains(&"wrote_request nil".to_string()),
        "{}",
        rec.dump()
    );
    assert!(
        ev.contains(&"put_idle_conn nil".to_string()),
        "{}",
        rec.dump()
    );
    // IP literal: no DNS at all.
    assert_eq!(rec.count("dns_start") + rec.count("dns_done"), 0);
    // put_idle_conn fires before the final body read returns, i.e. before our result marker.
    assert!(rec.pos("put_idle_conn").unwrap() < rec.pos("result").unwrap());
    let gc = &rec.got_conns()[0];
    assert_eq!(gc.conn.remote_addr, srv.addr());
    assert!(gc.conn.local_addr.is_some());
    assert_eq!(gc.idle_time, Duration::ZERO);
}

#[tokio::test]
async fn header_fields_host_first_then_user_agent_with_port() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(
        client
            .get(&srv.url("/x"))
            .header("X-Zeta", "z")
            .header("Accept", "text/plain")
            .trace(rec.trace())
            .send(),
    )
    .await
    .unwrap();
    guard(resp.into_body().bytes()).await.unwrap();

    let fields = rec.fields();
    assert!(fields.len() >= 2, "{fields:?}");
    let host = format!("127.0.0.1:{}", srv.port());
    assert_eq!(
        fields[0],
        ("Host".to_string(), vec![host.clone()]),
        "{fields:?}"
    );
    assert_eq!(fields[1].0, "User-Agent", "{fields:?}");
    assert_eq!(fields[1].1.len(), 1);
    // The user's fields are reported too (canonical names), exactly once each.
    assert_eq!(
        rec.field("X-Zeta"),
        Some(vec!["z".to_string()]),
        "{fields:?}"
    );
    assert_eq!(fields.iter().filter(|(n, _)| n == "X-Zeta").count(), 1);
    assert_eq!(rec.field("Accept"), Some(vec!["text/plain".to_string()]));
    // A bodiless GET has no framing field.
    assert!(rec.field("Content-Length").is_none() && rec.field("Transfer-Encoding").is_none());
    // Every field reported precedes wrote_headers.
    let last_field = rec
        .events()
        .iter()
        .rposition(|e| e.starts_with("wrote_header_field"))
        .unwrap();
    assert!(last_field < rec.pos("wrote_headers").unwrap());
    // What the hook says is what went on the wire.
    let req = &srv.requests()[0];
    assert_eq!(req.header("host"), Some(host.as_str()));
    assert_eq!(
        req.header("user-agent").map(str::to_string),
        Some(fields[1].1[0].clone())
    );
}

#[tokio::test]
async fn second_request_reuses_the_idle_connection() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let r1 = Recorder::new();
    get_traced(&client, &srv.url("/1"), &r1).await.unwrap();
    let r2 = Recorder::new();
    let (status, body) = get_traced(&client, &srv.url("/2"), &r2).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"Hello, world!");

    assert_eq!(r2.go_names(), reused_h1(), "events:\n  {}", r2.dump());
    assert!(
        r2.has("got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("connect_start") + r2.count("connect_done"), 0);
    assert!(r2.has("put_idle_conn nil"));
    assert_eq!(r1.got_conns()[0].conn.id, r2.got_conns()[0].conn.id);
    assert_eq!(srv.connections_accepted(), 1);
}

#[tokio::test]
async fn keep_alive_disabled_sends_connection_close_and_never_pools() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::builder().keep_alive(false).build().unwrap();
    let mut recs = Vec::new();
    for i in 0..2 {
        let rec = Recorder::new();
        let (status, body) = get_traced(&client, &srv.url(&format!("/{i}")), &rec)
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(body.len(), 13);
        recs.push(rec);
    }
    for rec in &recs {
        assert_eq!(
            rec.field("Connection"),
            Some(vec!["close".to_string()]),
            "{:?}",
            rec.fields()
        );
        assert_eq!(
            rec.fields()
                .iter()
                .filter(|(n, _)| n == "Connection")
                .count(),
            1
        );
        assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
        assert!(rec
            .events()
            .contains(&"got_conn reused=false was_idle=false".to_string()));
        assert_eq!(rec.count("connect_start"), 1);
    }
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
    assert_eq!(srv.connections_accepted(), 2);
    for req in srv.requests() {
        assert_eq!(req.header("connection"), Some("close"));
    }
}

#[tokio::test]
async fn post_with_body_sends_content_length_and_exact_bytes() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let payload: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    let resp = guard(
        client
            .post(&srv.url("/upload"))
            .header("Content-Type", "application/octet-stream")
            .body(payload.clone())
            .trace(rec.trace())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();

    assert_eq!(
        rec.field("Content-Length"),
        Some(vec!["3000".to_string()]),
        "{:?}",
        rec.fields()
    );
    assert!(rec.field("Transfer-Encoding").is_none());
    let names: Vec<String> = rec.fields().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        &names[..3],
        &strs(&["Host", "User-Agent", "Content-Length"])[..],
        "{names:?}"
    );
    let req = &srv.requests()[0];
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(&req.body[..], &payload[..]);
    assert_eq!(req.header("content-length"), Some("3000"));
    assert!(rec.pos("wrote_request").unwrap() > rec.pos("wrote_headers").unwrap());
}

#[tokio::test]
async fn post_empty_body_sends_content_length_zero() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.post(&srv.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(
        rec.field("Content-Length"),
        Some(vec!["0".to_string()]),
        "{:?}",
        rec.fields()
    );
    assert_eq!(srv.requests()[0].header("content-length"), Some("0"));
}

#[tokio::test]
async fn streamed_body_is_sent_chunked() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let parts: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"first;")),
        Ok(Bytes::from_static(b"")),
        Ok(Bytes::from(vec![b'z'; 5000])),
        Ok(Bytes::from_static(b";last")),
    ];
    let body = Body::from_stream(futures_util::stream::iter(parts));
    assert!(!body.is_replayable());
    assert_eq!(body.len(), None);
    let resp = guard(
        client
            .put(&srv.url("/s"))
            .body(body)
            .trace(rec.trace())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();

    assert_eq!(
        rec.field("Transfer-Encoding"),
        Some(vec!["chunked".to_string()]),
        "{:?}",
        rec.fields()
    );
    assert!(rec.field("Content-Length").is_none());
    let req = &srv.requests()[0];
    assert_eq!(req.header("transfer-encoding"), Some("chunked"));
    let mut expected = b"first;".to_vec();
    expected.extend(std::iter::repeat_n(b'z', 5000));
    expected.extend_from_slice(b";last");
    assert_eq!(req.body.len(), expected.len());
    assert_eq!(&req.body[..], &expected[..]);
    assert!(rec.has("wrote_request nil"));
    assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());
}

/// A request body that declares an exact length (`size_hint`) and yields `data`, without
/// saying it ended until polled to the end.
struct Declared {
    data: Option<Bytes>,
    declared: u64,
}

impl http_body::Body for Declared {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.data.take().map(|d| Ok(http_body::Frame::data(d))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.declared)
    }
}

/// A streamed body whose size hint says 0 is read to its end, not trusted: one that then
/// yields data fails the request (a request error, reported in wrote_request), with a method
/// that sends `Content-Length: 0` and with one that sends no framing at all; one that yields
/// nothing goes out as an empty body.
#[tokio::test]
async fn a_stream_declaring_zero_bytes_is_checked() {
    let srv = Server::hello().start().await.unwrap();
    let client = support::client();
    for method in [http::Method::GET, http::Method::POST] {
        let rec = Recorder::new();
        let body = Body::wrap(Declared {
            data: Some(Bytes::from_static(b"12345")),
            declared: 0,
        });
        let res = guard(
            client
                .request(method.clone(), &srv.url("/z"))
                .body(body)
                .trace(rec.trace())
                .send(),
        )
        .await;
        let err = match res {
            Ok(r) => panic!(
                "{method}: a 5-byte body declared as 0 bytes was accepted: {}\n  {}",
                r.status(),
                rec.dump()
            ),
            Err(e) => e,
        };
        assert!(err.is_request(), "{method}: {err:?}\n  {}", rec.dump());
        assert!(
            matches!(rec.wrote_request_errs().first(), Some(Some(_))),
            "{method}: wrote_request must report the mismatch\n  {}",
            rec.dump()
        );

        let body = Body::wrap(Declared {
            data: None,
            declared: 0,
        });
        let resp = guard(
            client
                .request(method.clone(), &srv.url("/e"))
                .body(body)
                .send(),
        )
        .await
        .unwrap_or_else(|e| panic!("{method} with an empty stream: {e:?}"));
        assert_eq!(resp.status(), 200);
        guard(resp.into_body().bytes()).await.unwrap();
    }
    let reqs = srv.requests();
    let empties: Vec<_> = reqs.iter().filter(|r| r.path() == "/e").collect();
    assert_eq!(empties.len(), 2, "{reqs:?}");
    assert!(empties.iter().all(|r| r.body.is_empty()));
}

/// Go's `Client.send`: `user:password@` in the URL goes out as `Authorization: Basic`
/// (percent-escapes decoded), unless the request has its own Authorization. Per hop: a relative
/// Location keeps the URL's credentials (Go's `ResolveReference` keeps the userinfo), an
/// absolute one without credentials gets no Authorization (it was never one of the caller's
/// headers, which are what Go copies).
#[tokio::test]
async fn url_credentials_are_sent_as_basic_auth() {
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let p2 = port.clone();
    let srv = Server::builder()
        .handler(move |req| match req.path() {
            "/old" => httptrace_peers::Response::new(302).header("Location", "/new"),
            "/abs" => httptrace_peers::Response::new(302).header(
                "Location",
                format!(
                    "http://127.0.0.1:{}/new2",
                    p2.load(std::sync::atomic::Ordering::SeqCst)
                ),
            ),
            _ => httptrace_peers::Response::hello(),
        })
        .start()
        .await
        .unwrap();
    port.store(srv.port(), std::sync::atomic::Ordering::SeqCst);
    let client = support::client();
    let port = srv.port();
    let url = |creds: &str, path: &str| format!("http://{creds}@127.0.0.1:{port}{path}");
    // base64("us@er:p:ss")
    guard(client.get(&url("us%40er:p%3Ass", "/a")).send())
        .await
        .unwrap();
    // base64("user:")
    guard(client.get(&url("user", "/b")).send()).await.unwrap();
    guard(
        client
            .get(&url("user:pw", "/c"))
            .header("Authorization", "Bearer t")
            .send(),
    )
    .await
    .unwrap();
    guard(client.get(&url("user:pw", "/old")).send())
        .await
        .unwrap();
    guard(client.get(&url("user:pw", "/abs")).send())
        .await
        .unwrap();
    // A bad escape is refused before anything is sent, as Go's URL parser refuses it.
    let err = guard(client.get(&url("us%zzer:pw", "/d")).send())
        .await
        .unwrap_err();
    assert!(err.is_request(), "{err:?}");

    let reqs = srv.requests();
    let auth: Vec<(String, Option<String>)> = reqs
        .iter()
        .map(|r| {
            (
                r.path().to_string(),
                r.header("authorization").map(String::from),
            )
        })
        .collect();
    let want = |p: &str, a: Option<&str>| (p.to_string(), a.map(String::from));
    assert_eq!(
        auth,
        [
            want("/a", Some("Basic dXNAZXI6cDpzcw==")),
            want("/b", Some("Basic dXNlcjo=")),
            want("/c", Some("Bearer t")),
            want("/old", Some("Basic dXNlcjpwdw==")),
            want("/new", Some("Basic dXNlcjpwdw==")),
            want("/abs", Some("Basic dXNlcjpwdw==")),
            want("/new2", None),
        ]
    );
}
