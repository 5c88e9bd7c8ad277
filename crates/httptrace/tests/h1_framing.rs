//! HTTP/1.1 response framing: chunked with trailers, close-delimited, HEAD, 204/304/CL 0.

mod support;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as _;
use httptrace::Incoming;
use httptrace_peers::{Response, Script, ScriptedPeer, Server};
use support::{get_traced, guard, Recorder};

/// Read every frame: (data, trailers).
async fn frames(
    mut body: Incoming,
) -> Result<(Vec<u8>, Option<http::HeaderMap>, usize), httptrace::Error> {
    let mut data = Vec::new();
    let mut trailers = None;
    let mut n_data = 0;
    while let Some(f) = guard(poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))).await {
        let f = f?;
        if f.is_data() {
            let d = f.into_data().unwrap();
            data.extend_from_slice(&d);
            n_data += 1;
        } else if let Ok(t) = f.into_trailers() {
            assert!(trailers.is_none(), "one trailers frame at most");
            trailers = Some(t);
        }
    }
    Ok((data, trailers, n_data))
}

#[tokio::test]
async fn chunked_response_with_trailers() {
    let srv = Server::builder()
        .handler(|_| {
            Response::ok()
                .chunked(
                    vec![
                        Bytes::from_static(b"chunk-1."),
                        Bytes::from_static(b"chunk-2."),
                        Bytes::from_static(b"chunk-3."),
                    ],
                    Duration::from_millis(20),
                )
                .trailer("X-Checksum", "abc123")
        })
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.get(&srv.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("transfer-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"chunked"[..])
    );
    let (data, trailers, n) = frames(resp.into_body()).await.expect("chunked body");
    assert_eq!(data.len(), 24);
    assert_eq!(&data[..], b"chunk-1.chunk-2.chunk-3.");
    assert!(n >= 1);
    let trailers = trailers.expect("a trailers frame");
    assert_eq!(
        trailers.get("x-checksum").map(|v| v.as_bytes()),
        Some(&b"abc123"[..])
    );
    assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());

    let r2 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert!(
        r2.has("got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    assert_eq!(srv.connections_accepted(), 1);
}

#[tokio::test]
async fn close_delimited_body_read_to_eof_not_pooled() {
    let srv = Server::builder()
        .handler(|_| {
            Response::ok().close_delimited(
                vec![Bytes::from_static(b"until "), Bytes::from_static(b"eof")],
                Duration::from_millis(20),
            )
        })
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let (status, body) = get_traced(&client, &srv.url("/"), &rec)
        .await
        .expect("close-delimited");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"until eof");
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());

    let r2 = Recorder::new();
    get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn close_delimited_without_connection_close_header() {
    // No CL, no TE, no Connection: close: still read to EOF, never pooled.
    let peer = ScriptedPeer::start(vec![
        Script::new()
            .read_head()
            .write("HTTP/1.1 200 OK\r\n\r\nraw body")
            .close(),
        Script::new()
            .read_head()
            .write(support::ok_response("next"))
            .hold(),
    ])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &rec).await.unwrap();
    assert_eq!(&body[..], b"raw body");
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
    let r2 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r2).await.unwrap();
    assert_eq!(&body[..], b"next");
    assert!(r2
        .events()
        .contains(&"got_conn reused=false was_idle=false".to_string()));
}

#[tokio::test]
async fn head_with_content_length_has_empty_body_and_reuses() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        .read_head()
        .write(support::ok_response("after head"))
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.head(&peer.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    rec.mark("execute_returned");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-length").unwrap(), "100");
    let body = guard(resp.into_body().bytes()).await.expect("HEAD body");
    assert!(body.is_empty());
    assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());
    assert!(
        rec.pos("put_idle_conn").unwrap() < rec.pos("execute_returned").unwrap(),
        "bodiless response: put_idle_conn before execute returns: {}",
        rec.dump()
    );

    let r2 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r2).await.unwrap();
    assert_eq!(&body[..], b"after head");
    assert!(
        r2.has("got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    assert_eq!(peer.connections_accepted(), 1);
}

async fn bodiless(status_path: &str) {
    let srv = Server::builder()
        .handler(|req| match req.path() {
            "/204" => Response::new(204),
            "/304" => Response::new(304),
            _ => Response::ok(), // Content-Length: 0
        })
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.get(&srv.url(status_path)).trace(rec.trace()).send())
        .await
        .unwrap();
    rec.mark("execute_returned");
    let want: u16 = status_path.trim_start_matches('/').parse().unwrap_or(200);
    assert_eq!(resp.status().as_u16(), want);
    assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());
    assert!(
        rec.pos("put_idle_conn").unwrap() < rec.pos("execute_returned").unwrap(),
        "{status_path}: put_idle_conn must fire before execute returns (Go: before RoundTrip returns):\n  {}",
        rec.dump()
    );
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert!(body.is_empty());
    assert_eq!(rec.count("put_idle_conn"), 1);

    let r2 = Recorder::new();
    get_traced(&client, &srv.url(status_path), &r2)
        .await
        .unwrap();
    assert!(
        r2.has("got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    assert_eq!(srv.connections_accepted(), 1);
}

#[tokio::test]
async fn status_204_pools_before_execute_returns() {
    bodiless("/204").await;
}

#[tokio::test]
async fn status_304_pools_before_execute_returns() {
    bodiless("/304").await;
}

#[tokio::test]
async fn content_length_zero_pools_before_execute_returns() {
    bodiless("/empty").await;
}
