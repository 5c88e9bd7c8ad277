//! HTTP/2: Go's scenario (m) and the h2 parts of every hook (`got_conn` per stream, pseudo-header
//! fields, 1xx before 100-continue, no `put_idle_conn`), multiplexing, h2c, flow control,
//! GOAWAY and stream limits.

mod support;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Version;
use http_body::{Frame, SizeHint};
use httptrace::{Body, Client, Protocol, RetryReason};
use httptrace_peers::{Response, Server, ServerBuilder, ServerHandle, TestCa};
use support::{
    bounded, builder, builder_trusting, fresh_tls_h2, get, get_concurrently, guard, h2_server,
    ok_or_dump, post_expecting_continue, reused_h2, seq, strs, tls_server, within, Recorder,
    ALPN_H1, ALPN_NONE, EXCHANGE, TCP_DIAL, TLS_PAIR,
};

const MIB: usize = 1024 * 1024;

/// A server answering every request `Hello, world!` after `ms` milliseconds.
fn delayed_hello(ms: u64) -> ServerBuilder {
    Server::builder().handler(move |_| Response::hello().delay(Duration::from_millis(ms)))
}

/// Scenario (m), first request.
#[tokio::test]
async fn first_request_hook_order_and_pseudo_header_fields() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let rec = Recorder::new();
        let resp = c
            .get(&srv.url("/path?q=1"))
            .header("X-Custom", "v1")
            .trace(rec.trace())
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.status(), 200);
        let info = resp.body().conn_info().cloned().unwrap();
        assert_eq!(info.protocol, Protocol::Http2);
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(&body[..], b"Hello, world!");
        let port = srv.port();
        assert_eq!(rec.go_names(), fresh_tls_h2(), "events:\n  {}", rec.dump());
        let ev = rec.go_events();
        assert_eq!(ev[0], format!("get_conn 127.0.0.1:{port}"));
        assert!(ev.contains(&"got_conn reused=false was_idle=false".to_string()));
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("h2"));
        assert_eq!(
            rec.count("put_idle_conn"),
            0,
            "h2 never fires put_idle_conn"
        );
        let fields = rec.fields();
        let names = rec.field_names();
        assert_eq!(
            &names[..4],
            &strs(&[":authority", ":method", ":path", ":scheme"])[..],
            "{fields:?}"
        );
        assert_eq!(fields[0].1, vec![format!("127.0.0.1:{port}")]);
        assert_eq!(fields[1].1, vec!["GET".to_string()]);
        assert_eq!(fields[2].1, vec!["/path?q=1".to_string()]);
        assert_eq!(fields[3].1, vec!["https".to_string()]);
        for (k, v) in &fields[4..] {
            assert_eq!(
                k,
                &k.to_ascii_lowercase(),
                "h2 field names are lower-case: {fields:?}"
            );
            assert!(!k.starts_with(':'), "{fields:?}");
            assert_eq!(v.len(), 1, "h2 reports one value per call: {fields:?}");
        }
        assert_eq!(rec.field("x-custom"), Some(vec!["v1".to_string()]));
        assert!(names.iter().any(|n| n == "user-agent"), "{fields:?}");
        // The server saw the same authority.
        let seen = srv.requests();
        assert_eq!(seen[0].version, Version::HTTP_2);
        assert_eq!(
            seen[0].authority.as_deref(),
            Some(format!("127.0.0.1:{port}").as_str())
        );
    })
    .await;
}

/// `:authority` is the Host header when one is set, and never carries the URL's userinfo; the
/// URL is sent as given otherwise (the fast path shares its bytes).
#[tokio::test]
async fn authority_from_host_header_and_without_userinfo() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let port = srv.port();
        let plain = c.get(&srv.url("/a?x=1")).send().await.expect("GET");
        assert_eq!(plain.status(), 200);
        let host = c
            .get(&srv.url("/b"))
            .header("Host", "example.test")
            .send()
            .await
            .expect("GET with Host");
        assert_eq!(host.status(), 200);
        let userinfo = c
            .get(&format!("https://user:pw@127.0.0.1:{port}/c"))
            .send()
            .await
            .expect("GET with userinfo");
        assert_eq!(userinfo.status(), 200);
        let seen = srv.requests();
        let got: Vec<(Option<&str>, &str)> = seen
            .iter()
            .map(|r| (r.authority.as_deref(), r.target.as_str()))
            .collect();
        let want_plain = format!("127.0.0.1:{port}");
        assert_eq!(
            got,
            vec![
                (Some(want_plain.as_str()), "/a?x=1"),
                (Some("example.test"), "/b"),
                (Some(want_plain.as_str()), "/c"),
            ]
        );
    })
    .await;
}

/// Scenario (m), second request after the first finished.
#[tokio::test]
async fn second_sequential_request_reuses_connection() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let (r1, _rec1) = get(&c, &srv.url("/")).await;
        assert_eq!(r1.unwrap().0, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (r2, rec2) = get(&c, &srv.url("/")).await;
        assert_eq!(r2.unwrap().0, 200);
        assert_eq!(rec2.go_names(), reused_h2(), "{}", rec2.dump());
        assert_eq!(
            rec2.go_events()[0],
            format!("get_conn 127.0.0.1:{}", srv.port())
        );
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        let gc = &rec2.got_conns()[0];
        // Idle since the first stream ended, which was before the 20 ms sleep.
        assert!(gc.idle_time >= Duration::from_millis(20), "{gc:?}");
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

#[tokio::test]
async fn ten_concurrent_requests_share_one_connection() {
    bounded(async {
        let (_, srv, c) = h2_server(delayed_hello(50)).await;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let c = c.clone();
            let url = srv.url("/");
            tasks.push(tokio::spawn(async move { get(&c, &url).await }));
        }
        let mut first_streams = 0;
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            let (res, rec) = t.await.unwrap();
            let (status, body) = res.expect("concurrent GET");
            assert_eq!(status, 200);
            assert_eq!(body.len(), 13);
            let gcs = rec.got_conns();
            assert_eq!(gcs.len(), 1, "{}", rec.dump());
            if !gcs[0].reused {
                first_streams += 1;
            }
            ids.insert(gcs[0].conn.id);
            assert_eq!(rec.count("put_idle_conn"), 0);
        }
        assert_eq!(srv.connections_accepted(), 1, "exactly one TCP connection");
        assert_eq!(ids.len(), 1, "one connection id");
        assert!(
            first_streams <= 1,
            "{first_streams} streams claimed reused=false"
        );
        assert_eq!(srv.requests_served(), 10);
    })
    .await;
}

/// Scenario (m): a second request while the first is in flight: reused=true, was_idle=false.
#[tokio::test]
async fn multiplexed_request_is_not_idle() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|r| {
            if r.path() == "/slow" {
                Response::hello().delay(Duration::from_millis(400))
            } else {
                Response::hello()
            }
        }))
        .await;
        // Establish the connection first.
        let (r, _) = get(&c, &srv.url("/")).await;
        assert_eq!(r.unwrap().0, 200);
        let slow = {
            let c = c.clone();
            let url = srv.url("/slow");
            tokio::spawn(async move { get(&c, &url).await })
        };
        assert!(srv.wait_requests(2, Duration::from_secs(5)).await);
        let (r, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(r.unwrap().0, 200);
        assert!(
            rec.has("got_conn reused=true was_idle=false"),
            "{}",
            rec.dump()
        );
        assert_eq!(rec.got_conns()[0].idle_time, Duration::ZERO);
        let (r, _) = slow.await.unwrap();
        assert_eq!(r.unwrap().0, 200);
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    bounded(async {
        let srv = Server::hello()
            .h2_prior_knowledge(true)
            .start()
            .await
            .unwrap();
        let c = builder().http2_prior_knowledge().build().unwrap();
        let rec = Recorder::new();
        let resp = c
            .get(&srv.url("/"))
            .trace(rec.trace())
            .send()
            .await
            .expect("h2c GET");
        assert_eq!(resp.version(), Version::HTTP_2);
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(body.len(), 13);
        assert_eq!(rec.go_names(), seq(&[TCP_DIAL, EXCHANGE]), "{}", rec.dump());
        assert_eq!(rec.field(":scheme"), Some(vec!["http".to_string()]));
        assert_eq!(rec.got_conns()[0].conn.protocol, Protocol::Http2);
        // Second request on the same connection.
        let (r, rec2) = get(&c, &srv.url("/")).await;
        assert_eq!(r.unwrap().0, 200);
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// Scenario (g) over h2: first byte at the first HEADERS frame, then each 103.
#[tokio::test]
async fn early_hints_over_h2() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|_| {
            Response::hello()
                .early_hints(&["</a.css>; rel=preload"])
                .early_hints(&["</a.css>; rel=preload", "</b.js>; rel=preload"])
        }))
        .await;
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.expect("GET").0, 200, "{}", rec.dump());
        assert_eq!(
            rec.go_names(),
            seq(&[TCP_DIAL, TLS_PAIR, EXCHANGE, &["got_1xx", "got_1xx"]]),
            "{}",
            rec.dump()
        );
        assert_eq!(rec.count("got_1xx 103"), 2);
        assert_eq!(rec.count("got_100_continue"), 0);
    })
    .await;
}

/// Scenario (h) over h2: the stream is reset, the connection stays usable.
#[tokio::test]
async fn got_1xx_hook_error_resets_stream_but_keeps_connection() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|r| {
            if r.path() == "/hints" {
                Response::hello().early_hints(&["</a.css>; rel=preload"])
            } else {
                Response::hello()
            }
        }))
        .await;
        let rec = Recorder::aborting_1xx("rejected by the test's 1xx hook");
        let err = c
            .get(&srv.url("/hints"))
            .trace(rec.trace())
            .send()
            .await
            .expect_err("hook aborts");
        assert!(err.is_hook(), "{err:?}");
        let src = std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert!(
            src.contains("rejected by the test's 1xx hook"),
            "source: {src:?}"
        );
        assert_eq!(rec.count("got_1xx 103"), 1, "{}", rec.dump());
        assert_eq!(rec.count("retry"), 0, "hook errors are never retried");
        let (r, rec2) = get(&c, &srv.url("/")).await;
        assert_eq!(r.expect("next request").0, 200);
        assert!(
            rec2.has("got_conn reused=true was_idle=true"),
            "{}",
            rec2.dump()
        );
        assert_eq!(rec2.count("connect_start"), 0);
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// Scenario (f1) over h2: Got1xxResponse(100) BEFORE Got100Continue.
#[tokio::test]
async fn expect_100_continue_over_h2() {
    bounded(async {
        let (ca, srv, _) = h2_server(
            Server::builder().handler(|r| Response::text(format!("got {}", r.body.len()))),
        )
        .await;
        let c = builder_trusting(&ca)
            .expect_continue_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let rec = Recorder::new();
        let started = std::time::Instant::now();
        let resp = post_expecting_continue(
            &c,
            &srv.url("/upload"),
            Bytes::from_static(b"some body"),
            &rec,
        )
        .await
        .expect("POST");
        assert_eq!(resp.version(), Version::HTTP_2);
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(&body[..], b"got 9");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "body waited for the timer"
        );
        assert_eq!(
            rec.go_names(),
            seq(&[
                TCP_DIAL,
                TLS_PAIR,
                &[
                    "got_conn",
                    "headers",
                    "wrote_headers",
                    "wait_100_continue",
                    "got_first_response_byte",
                    "got_1xx",
                    "got_100_continue",
                    "wrote_request",
                ],
            ]),
            "{}",
            rec.dump()
        );
        assert!(rec.pos("got_1xx 100").unwrap() < rec.pos("got_100_continue").unwrap());
        assert_eq!(rec.count("wrote_request nil"), 1);
        assert_eq!(rec.field("content-length"), Some(vec!["9".to_string()]));
        assert_eq!(rec.field("expect"), Some(vec!["100-continue".to_string()]));
        assert_eq!(&srv.requests()[0].body[..], b"some body");
    })
    .await;
}

#[tokio::test]
async fn large_upload_and_download_complete() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|r| {
            if r.path() == "/download" {
                Response::ok().body(Bytes::from(vec![7u8; 8 * MIB]))
            } else {
                Response::text(r.body.len().to_string())
            }
        }))
        .await;
        let up = Bytes::from(vec![1u8; 4 * MIB]);
        let rec = Recorder::new();
        let resp = c
            .post(&srv.url("/upload"))
            .body(up)
            .trace(rec.trace())
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.version(), Version::HTTP_2);
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(&body[..], (4 * MIB).to_string().as_bytes());
        assert_eq!(rec.count("wrote_request nil"), 1, "{}", rec.dump());
        assert_eq!(
            rec.field("content-length"),
            Some(vec![(4 * MIB).to_string()])
        );

        let resp = c.get(&srv.url("/download")).send().await.expect("download");
        let n = resp.into_body().drain().await.expect("download body");
        assert_eq!(n, (8 * MIB) as u64);
        // And once more on the same connection: the windows were released.
        let resp = c
            .get(&srv.url("/download"))
            .send()
            .await
            .expect("download 2");
        let n = resp.into_body().drain().await.expect("download body 2");
        assert_eq!(n, (8 * MIB) as u64);
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// A streamed request body of unknown length (no content-length, DATA frames until END_STREAM).
#[tokio::test]
async fn streamed_upload_of_unknown_length() {
    bounded(async {
        let (_, srv, c) =
            h2_server(Server::builder().handler(|r| Response::text(r.body.len().to_string())))
                .await;
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..64)
            .map(|_| Ok(Bytes::from(vec![3u8; 32 * 1024])))
            .collect();
        let rec = Recorder::new();
        let resp = c
            .post(&srv.url("/up"))
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .trace(rec.trace())
            .send()
            .await
            .expect("streamed upload");
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(&body[..], (64 * 32 * 1024).to_string().as_bytes());
        assert_eq!(rec.field("content-length"), None, "{:?}", rec.fields());
        assert_eq!(rec.count("wrote_request nil"), 1);
    })
    .await;
}

/// Go's encodeHeaders skips connection-specific fields; h2 forbids them (RFC 9113 §8.2.2).
#[tokio::test]
async fn connection_specific_request_headers_are_not_sent() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let rec = Recorder::new();
        let resp = c
            .get(&srv.url("/"))
            .header("Connection", "keep-alive")
            .header("Keep-Alive", "timeout=5")
            .header("Transfer-Encoding", "chunked")
            .header("Upgrade", "websocket")
            .header("Proxy-Connection", "keep-alive")
            .header("X-Kept", "yes")
            .trace(rec.trace())
            .send()
            .await
            .expect("GET with connection-specific headers");
        assert_eq!(resp.status(), 200);
        let _ = resp.into_body().bytes().await.unwrap();
        let seen = &srv.requests()[0];
        for h in [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "proxy-connection",
        ] {
            assert!(
                seen.headers.get(h).is_none(),
                "server saw {h}: {:?}",
                seen.headers
            );
            assert!(
                rec.field(h).is_none(),
                "hook reported {h}: {:?}",
                rec.fields()
            );
        }
        assert_eq!(seen.header("x-kept"), Some("yes"));
        assert_eq!(rec.field("x-kept"), Some(vec!["yes".to_string()]));
    })
    .await;
}

/// A server that sends GOAWAY after each request: every request succeeds, the client redials.
#[tokio::test]
async fn goaway_after_each_request_redials() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello().goaway_after(1)).await;
        let mut reasons = Vec::new();
        for i in 0..4 {
            let (res, rec) = get(&c, &srv.url("/")).await;
            let (status, body) =
                res.unwrap_or_else(|e| panic!("request {i}: {e:?}\n  {}", rec.dump()));
            assert_eq!(status, 200);
            assert_eq!(body.len(), 13);
            for r in rec.retries() {
                reasons.push(r.reason.clone());
            }
            // Give the GOAWAY time to arrive for the next iteration in most runs.
            if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert!(
            reasons
                .iter()
                .all(|r| matches!(r, RetryReason::GoAway | RetryReason::RefusedStream)),
            "{reasons:?}"
        );
        eprintln!("goaway retries: {reasons:?}");
        assert!(srv.connections_accepted() >= 2, "the client redialed");
        assert_eq!(srv.requests_served(), 4);
    })
    .await;
}

/// Requests started right after GOAWAY arrives on a shared connection.
#[tokio::test]
async fn goaway_with_concurrent_requests_all_succeed() {
    bounded(async {
        let (_, srv, c) = h2_server(delayed_hello(30).goaway_after(2)).await;
        for (res, rec) in get_concurrently(&c, &srv.url("/"), 6).await {
            assert_eq!(ok_or_dump(res, &rec).0, 200);
            for r in rec.retries() {
                assert!(
                    matches!(r.reason, RetryReason::GoAway | RetryReason::RefusedStream),
                    "{:?}",
                    r
                );
            }
        }
        // Streams opened before the final GOAWAY are all processed (graceful shutdown); the
        // next request must notice the GOAWAY and dial a new connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(ok_or_dump(res, &rec).0, 200);
        assert!(srv.connections_accepted() >= 2, "{}", rec.dump());
        assert_eq!(srv.requests_served(), 7);
    })
    .await;
}

/// Request B starts while A is in flight on a connection that already received GOAWAY.
async fn request_after_goaway(srv: &ServerHandle, c: &Client) -> (Recorder, Recorder) {
    let a = {
        let c = c.clone();
        let url = srv.url("/slow");
        tokio::spawn(async move { get(&c, &url).await })
    };
    assert!(srv.wait_requests(1, Duration::from_secs(5)).await);
    // The server sent GOAWAY when it accepted A; give it time to arrive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (rb, rec_b) = get(c, &srv.url("/")).await;
    let (ra, rec_a) = a.await.unwrap();
    assert_eq!(
        ra.unwrap_or_else(|e| panic!("A: {e:?}\n  {}", rec_a.dump()))
            .0,
        200
    );
    assert_eq!(
        rb.unwrap_or_else(|e| panic!("B: {e:?}\n  {}", rec_b.dump()))
            .0,
        200
    );
    (rec_a, rec_b)
}

async fn slow_goaway_server() -> (TestCa, ServerHandle, Client) {
    h2_server(
        Server::builder()
            .handler(|r| {
                if r.path() == "/slow" {
                    Response::hello().delay(Duration::from_millis(500))
                } else {
                    Response::hello()
                }
            })
            .goaway_after(1),
    )
    .await
}

/// A request on a connection that got GOAWAY succeeds on a new connection; if it was refused
/// on the old one, the retry hook says GoAway.
#[tokio::test]
async fn request_on_goaway_connection_is_retried_elsewhere() {
    bounded(async {
        let (_, srv, c) = slow_goaway_server().await;
        let (_a, b) = request_after_goaway(&srv, &c).await;
        for r in b.retries() {
            assert_eq!(r.reason, RetryReason::GoAway, "{}", b.dump());
        }
        assert_eq!(srv.connections_accepted(), 2, "{}", b.dump());
        assert_eq!(b.count("connect_start"), 1, "{}", b.dump());
        assert_eq!(b.count("wrote_request nil"), 1, "{}", b.dump());
    })
    .await;
}

/// Go parity: a connection whose GOAWAY was already received cannot take new requests
/// (`ClientConn.CanTakeNewRequest` is false), so the pool never hands it out: B's trace is a
/// fresh dial, GotConn{reused=false}, with no GotConn on the old connection and no retry.
#[tokio::test]
async fn goaway_connection_is_not_handed_out_go_parity() {
    bounded(async {
        let (_, srv, c) = slow_goaway_server().await;
        let (_a, b) = request_after_goaway(&srv, &c).await;
        assert_eq!(b.go_names(), fresh_tls_h2(), "events:\n  {}", b.dump());
        assert_eq!(b.count("retry"), 0, "{}", b.dump());
        assert_eq!(b.count("got_conn reused=false was_idle=false"), 1);
    })
    .await;
}

#[tokio::test]
async fn max_concurrent_streams_one_with_four_requests() {
    bounded(async {
        let (_, srv, c) = h2_server(delayed_hello(50).max_concurrent_streams(1)).await;
        // Let the server's SETTINGS reach the client first.
        let (r, _) = get(&c, &srv.url("/")).await;
        assert_eq!(r.unwrap().0, 200);
        for (res, rec) in get_concurrently(&c, &srv.url("/"), 4).await {
            assert_eq!(ok_or_dump(res, &rec).0, 200);
        }
        assert_eq!(srv.requests_served(), 5);
    })
    .await;
}

/// Same, without warming up: the first streams race the server's SETTINGS.
#[tokio::test]
async fn max_concurrent_streams_one_cold_start() {
    bounded(async {
        let (_, srv, c) = h2_server(delayed_hello(50).max_concurrent_streams(1)).await;
        for (res, rec) in get_concurrently(&c, &srv.url("/"), 4).await {
            let (status, _) = ok_or_dump(res, &rec);
            assert_eq!(status, 200);
            for r in rec.retries() {
                assert_eq!(r.reason, RetryReason::RefusedStream, "{r:?}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_body_mid_stream_keeps_connection_usable() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|r| {
            if r.path() == "/big" {
                Response::ok().body(Bytes::from(vec![5u8; 8 * MIB]))
            } else {
                Response::hello()
            }
        }))
        .await;
        let resp = c.get(&srv.url("/big")).send().await.expect("big");
        let mut body = resp.into_body();
        let first = body.chunk().await.expect("chunk").expect("some data");
        assert!(!first.is_empty());
        drop(body);
        for _ in 0..3 {
            let (r, rec) = get(&c, &srv.url("/")).await;
            assert_eq!(r.expect("after drop").0, 200);
            assert!(
                rec.events()
                    .iter()
                    .any(|e| e.starts_with("got_conn reused=true")),
                "{}",
                rec.dump()
            );
        }
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// `http1_only` never negotiates h2 even when the server offers it.
#[tokio::test]
async fn http1_only_client_against_h2_server() {
    bounded(async {
        let (ca, srv, _) = h2_server(Server::hello()).await;
        let c = builder_trusting(&ca).http1_only().build().unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200);
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(rec.count("put_idle_conn nil"), 1);
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(res.unwrap().0, 200);
        assert!(rec.has("got_conn reused=true was_idle=true"));
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// After the last DATA frame (END_STREAM), `is_end_stream()` is true, which promises that
/// `poll_frame` would return `None`; a consumer that stops there (as http-body consumers may)
/// and drops the body must see `response_body_done` report a complete body, not a
/// cancellation (HTTP/1.1 finishes the body with its last byte).
#[tokio::test]
async fn body_at_end_stream_is_reported_complete() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let rec = Recorder::new();
        let resp = guard(c.get(&srv.url("/")).trace(rec.trace()).send())
            .await
            .expect("GET");
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while !http_body::Body::is_end_stream(&body) {
            match guard(poll_fn(|cx| {
                http_body::Body::poll_frame(Pin::new(&mut body), cx)
            }))
            .await
            {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        got.extend_from_slice(&d);
                    }
                }
                Some(Err(e)) => panic!("body: {e:?}"),
                None => break,
            }
        }
        assert_eq!(&got[..], b"Hello, world!");
        drop(body);
        let done: Vec<String> = rec
            .events()
            .into_iter()
            .filter(|e| e.starts_with("response_body_done"))
            .collect();
        assert_eq!(
            done,
            vec!["response_body_done bytes=13 err=nil outcome=Http2Stream".to_string()],
            "{}",
            rec.dump()
        );
    })
    .await;
}

/// A URL with a query and no path (`https://host:port?x=1`) is sent with `:path` `/?x=1`
/// (RFC 9113 §8.3.1: an http or https request without a path uses "/"; HTTP/1.1 sends `/?x=1`
/// too), and the traced field is what was sent.
#[tokio::test]
async fn path_pseudo_header_for_url_without_path_starts_with_slash() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let rec = Recorder::new();
        let url = format!("https://127.0.0.1:{}?x=1", srv.port());
        let resp = guard(c.get(&url).trace(rec.trace()).send())
            .await
            .expect("GET");
        assert_eq!(resp.status(), 200);
        assert_eq!(srv.requests()[0].target, "/?x=1");
        assert_eq!(rec.field(":path"), Some(vec!["/?x=1".to_string()]));
    })
    .await;
}

/// `TE: Trailers` is the `trailers` token (tokens are case-insensitive), which HTTP/2 allows;
/// h2 accepts only the exact bytes `trailers`, so it is sent (and traced) normalised instead
/// of failing the request.
#[tokio::test]
async fn te_trailers_in_other_case_is_sent_normalised() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::hello()).await;
        let rec = Recorder::new();
        let res = guard(
            c.get(&srv.url("/"))
                .header("TE", "Trailers")
                .trace(rec.trace())
                .send(),
        )
        .await;
        let resp = res.unwrap_or_else(|e| panic!("{e:?}\n  {}", rec.dump()));
        assert_eq!(resp.status(), 200);
        assert_eq!(srv.requests()[0].header("te"), Some("trailers"));
        assert_eq!(rec.field("te"), Some(vec!["trailers".to_string()]));
    })
    .await;
}

/// Two responses held unread (5 MiB each, more than a stream window) must not take the whole
/// connection window: a third, small response on the shared connection still gets its body
/// (Go's windows: 1 GiB per connection, 4 MiB per stream).
#[tokio::test]
async fn two_unread_bodies_do_not_starve_the_shared_connection() {
    bounded(async {
        let (_, srv, c) = h2_server(Server::builder().handler(|r| {
            if r.path() == "/big" {
                Response::ok().body(Bytes::from(vec![7u8; 5 * MIB]))
            } else {
                Response::hello()
            }
        }))
        .await;
        let r1 = guard(c.get(&srv.url("/big")).send()).await.expect("big 1");
        let r2 = guard(c.get(&srv.url("/big")).send()).await.expect("big 2");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let small = within(
            Duration::from_secs(5),
            "small GET beside two unread bodies",
            async {
                let r = c.get(&srv.url("/")).send().await?;
                r.into_body().bytes().await
            },
        )
        .await
        .expect("small GET");
        assert_eq!(&small[..], b"Hello, world!");
        assert_eq!(srv.connections_accepted(), 1);
        drop((r1, r2));
    })
    .await;
}

/// `http2_prior_knowledge` over TLS offers ALPN `h2` only, and never sends the HTTP/2
/// preface on a connection whose server did not select `h2`: a server that only speaks
/// HTTP/1.1 fails the handshake, one without ALPN fails the dial; both with a TLS error.
#[tokio::test]
async fn prior_knowledge_over_tls_requires_alpn_h2() {
    bounded(async {
        for alpn in [ALPN_H1, ALPN_NONE] {
            let (ca, srv, _) = tls_server(Server::hello(), alpn).await;
            let c = builder_trusting(&ca)
                .http2_prior_knowledge()
                .build()
                .unwrap();
            let rec = Recorder::new();
            let res = guard(c.get(&srv.url("/")).trace(rec.trace()).send()).await;
            let selected = rec.tls().first().and_then(|t| t.0.alpn.clone());
            match res {
                Ok(r) => panic!(
                    "server ALPN {alpn:?}: succeeded with {:?}, selected {selected:?}\n  {}",
                    r.version(),
                    rec.dump()
                ),
                Err(e) => assert!(
                    e.is_tls(),
                    "server ALPN {alpn:?}: selected {selected:?}, error {e:?}\n  {}",
                    rec.dump()
                ),
            }
            assert!(srv.requests().is_empty(), "server ALPN {alpn:?}");
        }
        // And h2 is still spoken when the server selects it.
        let (ca, srv, _) = h2_server(Server::hello()).await;
        let c = builder_trusting(&ca)
            .http2_prior_knowledge()
            .build()
            .unwrap();
        let (res, rec) = get(&c, &srv.url("/")).await;
        assert_eq!(ok_or_dump(res, &rec).0, 200);
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("h2"));
    })
    .await;
}

/// A request body that declares an exact length (`size_hint`, sent as `content-length`) and
/// yields `data`.
struct Declared {
    data: Option<Bytes>,
    declared: u64,
}

impl http_body::Body for Declared {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

/// A streamed body that yields fewer or more bytes than it declared: the client detects it
/// itself, as HTTP/1.1 does (a request error, `InvalidRequest`), reports it in
/// `wrote_request`, resets the stream and keeps the connection.
#[tokio::test]
async fn request_body_length_other_than_declared_is_a_request_error() {
    bounded(async {
        let (_, srv, c) =
            h2_server(Server::builder().handler(|r| Response::text(r.body.len().to_string())))
                .await;
        for (declared, data) in [(10, &b"12345"[..]), (3, &b"12345"[..]), (0, &b"12345"[..])] {
            let rec = Recorder::new();
            let body = Body::wrap(Declared {
                data: Some(Bytes::from_static(data)),
                declared,
            });
            let res = guard(c.post(&srv.url("/up")).body(body).trace(rec.trace()).send()).await;
            let err = match res {
                Ok(r) => panic!(
                    "a {}-byte body sent as content-length: {declared} was accepted: {}\n  {}",
                    data.len(),
                    r.status(),
                    rec.dump()
                ),
                Err(e) => e,
            };
            assert!(
                err.is_request(),
                "declared {declared}: {err:?}\n  {}",
                rec.dump()
            );
            assert!(
                matches!(rec.wrote_request_errs().first(), Some(Some(_))),
                "declared {declared}: wrote_request must report the mismatch\n  {}",
                rec.dump()
            );
        }
        // A stream declaring 0 bytes that yields none is read to its end and sent empty.
        let body = Body::wrap(Declared {
            data: None,
            declared: 0,
        });
        let r = guard(c.post(&srv.url("/up")).body(body).send())
            .await
            .unwrap();
        assert_eq!(&guard(r.into_body().bytes()).await.unwrap()[..], b"0");
        let (res, rec) = get(&c, &srv.url("/")).await;
        ok_or_dump(res, &rec);
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// `max_conns_per_host(1)` with HTTP/2: two requests started together on a cold client. The
/// first dials the (shareable) HTTP/2 connection and the second shares it. Before, the second
/// waited for a per-host slot, which the HTTP/2 connection holds for as long as it lives: it
/// hung (Go hands a new HTTP/2 connection to every request waiting for one).
#[tokio::test]
async fn under_a_connection_limit_a_second_cold_request_shares_the_h2_dial() {
    bounded(async {
        let (ca, srv, _) = h2_server(
            Server::builder().handler(|_| Response::hello().delay(Duration::from_millis(100))),
        )
        .await;
        let c = builder_trusting(&ca)
            .max_conns_per_host(Some(1))
            .build()
            .unwrap();
        let url = srv.url("/");
        let recs = [Recorder::new(), Recorder::new()];
        let tasks: Vec<_> = recs
            .iter()
            .map(|rec| {
                let (c, url, rec) = (c.clone(), url.clone(), rec.clone());
                tokio::spawn(async move {
                    let r = c.get(&url).trace(rec.trace()).send().await?;
                    r.into_body().bytes().await
                })
            })
            .collect();
        let all = futures_util::future::join_all(tasks);
        let done = tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "requests still pending after 10 s (100 ms server):\n  {}\n  {}",
                    recs[0].dump(),
                    recs[1].dump()
                )
            });
        for r in done {
            assert_eq!(&r.unwrap().expect("GET")[..], b"Hello, world!");
        }
        assert_eq!(srv.connections_accepted(), 1);
    })
    .await;
}

/// An h2c server with SETTINGS_MAX_CONCURRENT_STREAMS = 1 that answers every request at once
/// with a complete `ok` response (END_STREAM), but never reads nor resets the request body of
/// `POST`s (it holds it, like a server that stopped reading). `GET`s end with their HEADERS.
async fn h2c_answers_early_never_reads() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = h2::server::Builder::new();
                b.max_concurrent_streams(1);
                let Ok(mut conn) = b.handshake::<_, Bytes>(sock).await else {
                    return;
                };
                let mut held = Vec::new();
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    let Ok(mut send) = respond.send_response(http::Response::new(()), false) else {
                        continue;
                    };
                    let _ = send.send_data(Bytes::from_static(b"ok"), true);
                    // Neither read nor drop the request body.
                    held.push((req.into_body(), respond, send));
                }
            });
        }
    });
    addr
}

/// The server answers an upload at once (complete response, END_STREAM) and stops reading the
/// request body. Once the response has ended, the request side is abandoned (RST_STREAM CANCEL,
/// as Go does when the body is closed, and wrote_request reports it); before, the upload task
/// kept the stream open for good, so on a server allowing one stream at a time every later
/// request on the shared connection hung.
#[tokio::test]
async fn a_finished_response_releases_the_stream_of_a_stalled_upload() {
    bounded(async {
        let addr = h2c_answers_early_never_reads().await;
        let c = builder().http2_prior_knowledge().build().unwrap();
        let rec = Recorder::new();
        let resp = guard(
            c.post(&format!("http://{addr}/up"))
                .body(Bytes::from(vec![b'u'; 1024 * 1024]))
                .trace(rec.trace())
                .send(),
        )
        .await
        .expect("POST answered early");
        let body = guard(resp.into_body().bytes())
            .await
            .expect("response body");
        assert_eq!(&body[..], b"ok");
        let next = tokio::time::timeout(
            Duration::from_secs(5),
            c.get(&format!("http://{addr}/next")).send(),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "GET on the shared connection hung after the early-answered upload; \
                 the POST's events:\n  {}",
                rec.dump()
            )
        })
        .expect("GET");
        assert_eq!(next.status(), 200);
        assert_eq!(rec.count("wrote_request err"), 1, "{}", rec.dump());
    })
    .await;
}
