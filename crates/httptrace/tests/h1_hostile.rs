//! Hostile servers (product.md §6): every malformed or hostile response ends in a typed error
//! within the guard, never a panic, hang, short body or poisoned pooled connection. Requests
//! that cannot be sent safely are refused before any byte leaves.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use httptrace::{Body, Client, Error, Incoming};
use httptrace_peers::{PeerHandle, Script, ScriptedPeer, Server};
use support::{guard, ok_response, Recorder};

/// Connection 0 reads the request head and runs `hostile`; connection 1 answers `good`.
async fn peer_with(hostile: Script) -> PeerHandle {
    let s0 = Script {
        steps: [Script::new().read_head().steps, hostile.steps].concat(),
    };
    ScriptedPeer::start(vec![
        s0,
        Script::new().read_head().write(ok_response("good")).hold(),
    ])
    .await
    .unwrap()
}

/// After the hostile exchange: the same client gets a correct answer from the same peer on a
/// NEW connection, and from an unrelated good server.
async fn follow_up(client: &Client, peer: &PeerHandle) {
    let rec = Recorder::new();
    let (status, body) = support::get_traced(client, &peer.url("/after"), &rec)
        .await
        .expect("a request after the hostile response must succeed");
    assert_eq!(status, 200);
    assert_eq!(
        &body[..],
        b"good",
        "the hostile connection must not be reused"
    );
    assert!(
        rec.has("got_conn reused=false was_idle=false"),
        "the hostile connection must not be pooled: {}",
        rec.dump()
    );
    assert_eq!(peer.connections_accepted(), 2);

    let srv = Server::hello().start().await.unwrap();
    let resp = guard(client.get(&srv.url("/")).send())
        .await
        .expect("good server");
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&body[..], b"Hello, world!");
}

/// A response whose head is hostile: `execute` must fail with an error satisfying `pred`.
async fn head_error(raw: impl Into<Bytes>, what: &str, pred: fn(&Error) -> bool) {
    let peer = peer_with(Script::new().write(raw.into()).hold()).await;
    let client = support::client();
    let rec = Recorder::new();
    let res = guard(client.get(&peer.url("/")).trace(rec.trace()).send()).await;
    let err = match res {
        Ok(r) => panic!("{what}: expected an error, got status {}", r.status()),
        Err(e) => e,
    };
    assert!(pred(&err), "{what}: wrong error kind: {err:?}");
    assert_eq!(rec.count("put_idle_conn"), 0, "{what}: {}", rec.dump());
    assert_eq!(rec.count("retry"), 0, "{what}: {}", rec.dump());
    follow_up(&client, &peer).await;
}

/// A response whose head is fine but whose body is hostile: `execute` succeeds, reading the
/// body must fail with an error satisfying `pred` (never a short `Ok`).
async fn body_error(
    hostile: Script,
    what: &str,
    pred: fn(&Error) -> bool,
) -> (Recorder, PeerHandle, Client) {
    let peer = peer_with(hostile).await;
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .unwrap_or_else(|e| panic!("{what}: the head is valid, execute must succeed: {e:?}"));
    assert_eq!(resp.status(), 200);
    expect_body_err(resp.into_body(), what, pred).await;
    assert_eq!(rec.count("put_idle_conn"), 0, "{what}: {}", rec.dump());
    follow_up(&client, &peer).await;
    (rec, peer, client)
}

async fn expect_body_err(body: Incoming, what: &str, pred: fn(&Error) -> bool) {
    match guard(body.bytes()).await {
        Ok(b) => panic!(
            "{what}: body must fail, got Ok with {} bytes: {:?}",
            b.len(),
            String::from_utf8_lossy(&b)
        ),
        Err(e) => assert!(pred(&e), "{what}: wrong error kind: {e:?}"),
    }
}

// ----- malformed heads -----

#[tokio::test]
async fn malformed_status_code() {
    head_error(
        "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        "2OO",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn http2_version_on_h1() {
    head_error(
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2.0",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn not_http_at_all() {
    head_error(
        "SSH-2.0-OpenSSH_9.0\r\n\r\n",
        "not http",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn conflicting_content_length() {
    head_error(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "CL 5 and 6",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn conflicting_content_length_list() {
    head_error(
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
        "CL 5, 6",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn negative_content_length() {
    head_error(
        "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        "CL -5",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn plus_content_length() {
    head_error(
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        "CL +5",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn overflowing_content_length() {
    head_error(
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhello",
        "CL overflow",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn transfer_encoding_and_content_length() {
    head_error(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "TE + CL",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn header_with_nul_byte() {
    head_error(
        "HTTP/1.1 200 OK\r\nX-Evil: a\0b\r\nContent-Length: 0\r\n\r\n",
        "NUL in header",
        Error::is_protocol,
    )
    .await;
}

#[tokio::test]
async fn obsolete_line_folding() {
    head_error(
        "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        "obs-fold",
        Error::is_protocol,
    )
    .await;
}

// ----- hostile bodies -----

#[tokio::test]
async fn bad_chunk_size() {
    body_error(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
            .hold(),
        "chunk size zz",
        Error::is_body,
    )
    .await;
}

#[tokio::test]
async fn huge_chunk_size() {
    body_error(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n")
            .hold(),
        "chunk size ffffffffffffffffff",
        Error::is_body,
    )
    .await;
}

#[tokio::test]
async fn truncated_content_length_body() {
    let (rec, _, _) = body_error(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .close(),
        "5 of 10 bytes then close",
        Error::is_body,
    )
    .await;
    assert!(
        rec.events()
            .iter()
            .any(|e| e.starts_with("response_body_done") && e.contains("err=err")),
        "{}",
        rec.dump()
    );
}

#[tokio::test]
async fn truncated_chunked_body() {
    body_error(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .close(),
        "chunked without last chunk",
        Error::is_body,
    )
    .await;
}

#[tokio::test]
async fn truncated_inside_a_chunk() {
    body_error(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhel")
            .close(),
        "chunk cut in the middle",
        Error::is_body,
    )
    .await;
}

#[tokio::test]
async fn reset_mid_body() {
    body_error(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .sleep(Duration::from_millis(50))
            .reset(),
        "RST mid-body",
        Error::is_body,
    )
    .await;
}

// ----- oversized / endless heads -----

fn filler_lines(total: usize, value_len: usize) -> Bytes {
    let mut v = Vec::with_capacity(total + 100);
    let mut i = 0usize;
    while v.len() < total {
        v.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(value_len)).as_bytes());
        i += 1;
    }
    Bytes::from(v)
}

#[tokio::test]
async fn endless_header_lines() {
    // 8 MiB of (16 KB) header lines, so the size limit, not the field count, is hit; never the blank line, then the peer keeps the connection open:
    // a client without a head limit would buffer forever (and hang).
    let mut s = Script::new().write("HTTP/1.1 200 OK\r\n");
    for _ in 0..8 {
        s = s.write(filler_lines(1 << 20, 16_000));
    }
    let peer = peer_with(s.hold()).await;
    let client = support::client();
    let rec = Recorder::new();
    let err = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("an endless head must fail");
    assert!(err.is_protocol(), "{err:?}");
    follow_up(&client, &peer).await;
}

#[tokio::test]
async fn one_giant_header_line() {
    let mut s = Script::new().write("HTTP/1.1 200 OK\r\nX-Giant: ");
    for _ in 0..4 {
        s = s.write(Bytes::from(vec![b'g'; 1 << 20]));
    }
    let peer = peer_with(s.hold()).await;
    let client = support::client();
    let err = guard(client.get(&peer.url("/")).send())
        .await
        .expect_err("a head over the limit must fail");
    assert!(err.is_protocol(), "{err:?}");
    follow_up(&client, &peer).await;
}

#[tokio::test]
async fn head_limit_is_configurable() {
    // ~64 KiB of headers in 64 fields: fine by default (1 MiB), refused with a 16 KiB limit.
    let raw = || {
        let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
        v.extend_from_slice(&filler_lines(63 << 10, 1000)[..]);
        v.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        Bytes::from(v)
    };
    let fine = ScriptedPeer::start(vec![Script::new().read_head().write(raw()).hold()])
        .await
        .unwrap();
    let resp = guard(support::client().get(&fine.url("/")).send())
        .await
        .expect("64 KiB of headers are within the default limit");
    assert_eq!(guard(resp.into_body().bytes()).await.unwrap(), &b"ok"[..]);

    let peer = peer_with(Script::new().write(raw()).hold()).await;
    let client = support::builder()
        .max_response_header_bytes(16 << 10)
        .build()
        .unwrap();
    let err = guard(client.get(&peer.url("/")).send())
        .await
        .expect_err("over 16 KiB");
    assert!(err.is_protocol(), "{err:?}");
    follow_up(&client, &peer).await;
}

#[tokio::test]
async fn endless_status_line() {
    let mut s = Script::new().write("HTTP/1.1 200 ");
    for _ in 0..4 {
        s = s.write(Bytes::from(vec![b'A'; 1 << 20]));
    }
    let peer = peer_with(s.hold()).await;
    let client = support::client();
    let err = guard(client.get(&peer.url("/")).send())
        .await
        .expect_err("an endless status line must fail");
    assert!(err.is_protocol(), "{err:?}");
    follow_up(&client, &peer).await;
}

#[tokio::test]
async fn interim_response_flood() {
    let flood = "HTTP/1.1 103 X\r\n\r\n".repeat(100);
    let peer = peer_with(Script::new().write(flood).write(ok_response("late")).hold()).await;
    let client = support::client();
    let rec = Recorder::new();
    let err = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("100 interim responses");
    assert!(err.is_too_many_1xx(), "{err:?}");
    assert_eq!(rec.count("got_1xx"), 5, "{}", rec.dump());
    follow_up(&client, &peer).await;
}

// ----- stalls -----

#[tokio::test]
async fn stall_before_response_times_out() {
    let peer = peer_with(Script::new().hold()).await;
    let client = support::builder()
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let start = Instant::now();
    let err = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("the server never answers");
    let elapsed = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(rec.count("got_first_response_byte"), 0);
    follow_up(&client, &peer).await;
}

#[tokio::test]
async fn stall_mid_body_times_out() {
    let peer = peer_with(
        Script::new()
            .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .hold(),
    )
    .await;
    let client = support::builder()
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let start = Instant::now();
    let resp = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect("the head arrives in time");
    expect_body_err(resp.into_body(), "stall mid-body", Error::is_timeout).await;
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
    follow_up(&client, &peer).await;
}

// ----- requests that cannot be sent safely -----

async fn assert_refused(
    res: Result<http::Response<Incoming>, Error>,
    rec: &Recorder,
    peer: &PeerHandle,
    what: &str,
) {
    let err = match res {
        Ok(r) => panic!("{what}: must be refused, got status {}", r.status()),
        Err(e) => e,
    };
    assert!(
        err.is_request(),
        "{what}: expected is_request(), got {err:?}"
    );
    assert_eq!(
        rec.count("get_conn"),
        0,
        "{what}: no hook before validation: {}",
        rec.dump()
    );
    assert_eq!(rec.count("connect_start"), 0, "{what}");
    assert_eq!(rec.count("wrote_header_field"), 0, "{what}");
    // Generous: a wrongly sent request would have connected by now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(peer.connections_accepted(), 0, "{what}: nothing may leave");
    assert!(peer.received(0).is_empty(), "{what}");
}

#[tokio::test]
async fn header_value_with_crlf_refused() {
    // http refuses to build such a value...
    assert!(http::HeaderValue::from_bytes(b"a\r\nInjected: 1").is_err());
    assert!(http::HeaderValue::from_bytes(b"a\0b").is_err());
    assert!(http::HeaderName::from_bytes(b"Bad Name").is_err());
    assert!(http::Method::from_bytes(b"GE T").is_err());
    // ...so the only way in is the builder's string API, which must refuse before sending.
    let peer = ScriptedPeer::start(vec![]).await.unwrap();
    let client = support::client();
    for (name, value, what) in [
        ("X-Bad", "a\r\nInjected: 1", "CRLF in value"),
        ("X-Bad", "a\nb", "LF in value"),
        ("X-Bad", "a\0b", "NUL in value"),
        ("Bad Name", "v", "space in name"),
        ("Bad:Name", "v", "colon in name"),
        ("", "v", "empty name"),
    ] {
        let rec = Recorder::new();
        let res = guard(
            client
                .get(&peer.url("/"))
                .trace(rec.trace())
                .header(name, value)
                .send(),
        )
        .await;
        assert_refused(res, &rec, &peer, what).await;
    }
}

#[tokio::test]
async fn illegal_request_targets_refused() {
    let peer = ScriptedPeer::start(vec![]).await.unwrap();
    let client = support::client();
    // Unparsable URLs (space, NUL, DEL).
    for (url, what) in [
        (
            format!("http://127.0.0.1:{}/a b", peer.port()),
            "space in URL",
        ),
        (
            format!("http://127.0.0.1:{}/a\0b", peer.port()),
            "NUL in URL",
        ),
        (
            format!("http://127.0.0.1:{}/a\x7fb", peer.port()),
            "DEL in URL",
        ),
    ] {
        let rec = Recorder::new();
        let res = guard(client.get(&url).trace(rec.trace()).send()).await;
        assert_refused(res, &rec, &peer, what).await;
    }
    // `http::Uri` accepts raw non-ASCII bytes in a path; they cannot go on a request line.
    let url = format!("http://127.0.0.1:{}/caf\u{e9}", peer.port());
    let req = http::Request::get(url.as_str())
        .body(Body::empty())
        .expect("http accepts it");
    let rec = Recorder::new();
    let res = guard(client.execute(httptrace::RequestTraceExt::with_trace(req, rec.trace()))).await;
    assert_refused(res, &rec, &peer, "non-ASCII path").await;
    // A relative URL has no host to go to.
    let req = http::Request::get("/relative").body(Body::empty()).unwrap();
    let rec = Recorder::new();
    let res = guard(client.execute(httptrace::RequestTraceExt::with_trace(req, rec.trace()))).await;
    assert_refused(res, &rec, &peer, "relative URL").await;
}

/// A `Host` header holding what no host can (Go's `ValidHostHeader`): refused before a byte
/// leaves. Over HTTP/2 a non-UTF-8 one was dropped for the URL's authority; over HTTP/1.1 it
/// was sent as given.
#[tokio::test]
async fn invalid_host_header_refused() {
    let peer = ScriptedPeer::start(vec![]).await.unwrap();
    let client = support::client();
    for (value, what) in [
        (&b"bad\xffhost"[..], "non-ASCII Host"),
        (&b"a b"[..], "space in Host"),
        (&b"a/b"[..], "slash in Host"),
        (&b"a\tb"[..], "tab in Host"),
    ] {
        let mut req = http::Request::get(peer.url("/"))
            .body(Body::empty())
            .unwrap();
        req.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_bytes(value).unwrap(),
        );
        let rec = Recorder::new();
        let res =
            guard(client.execute(httptrace::RequestTraceExt::with_trace(req, rec.trace()))).await;
        assert_refused(res, &rec, &peer, what).await;
    }
    // What a Host can hold goes out as given.
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write(ok_response("ok"))
        .hold()])
    .await
    .unwrap();
    let mut req = http::Request::get(peer.url("/"))
        .body(Body::empty())
        .unwrap();
    req.headers_mut().insert(
        http::header::HOST,
        http::HeaderValue::from_static("[fe80::1%25eth0]:8080"),
    );
    let resp = guard(client.execute(req)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let sent = String::from_utf8_lossy(&peer.received(0)).into_owned();
    assert!(
        sent.contains("\r\nHost: [fe80::1%25eth0]:8080\r\n"),
        "{sent}"
    );
}
