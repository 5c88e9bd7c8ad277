//! Full duplex on HTTP/1.1: a server that answers at once and streams its response while it
//! still reads the request body. Go returns the response as soon as its head arrives and keeps
//! writing the body on its write loop; a client that first finishes the upload deadlocks once
//! both socket buffers fill.

mod support;

use std::time::Duration;

use bytes::Bytes;
use httptrace::Body;
use httptrace_peers::{Script, ScriptedPeer};
use support::{guard, Recorder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Echoes every byte it reads (chunked request framing included) as response chunks, starting
/// the response before reading anything, until the request's last-chunk marker.
async fn echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                if s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut buf = vec![0u8; 64 * 1024];
                let mut tail: Vec<u8> = Vec::new();
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let chunk = format!("{n:x}\r\n");
                    if s.write_all(chunk.as_bytes()).await.is_err()
                        || s.write_all(&buf[..n]).await.is_err()
                        || s.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    let keep = tail.len().saturating_sub(5);
                    tail.drain(..keep);
                    if tail == b"0\r\n\r\n" {
                        let _ = s.write_all(b"0\r\n\r\n").await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn response_returns_while_a_large_body_is_still_uploading() {
    let addr = echo_server().await;
    let client = support::client();
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 256; // 16 MiB: far more than both socket buffers hold
    let stream = futures_util::stream::iter(
        (0..CHUNKS).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; CHUNK]))),
    );
    let rec = Recorder::new();
    let got = guard(async {
        let resp = client
            .post(&format!("http://{addr}/echo"))
            .body(Body::from_stream(stream))
            .trace(rec.trace())
            .send()
            .await
            .expect("the response head must come back while the upload goes on");
        assert_eq!(resp.status(), 200);
        rec.mark("execute_returned");
        resp.into_body().drain().await.expect("echoed body")
    })
    .await;
    // The echo carries the request's chunk framing, so it is at least the payload.
    assert!(got >= (CHUNK * CHUNKS) as u64, "echoed {got} bytes");
    let ev = rec.events();
    let returned = ev.iter().position(|e| e == "execute_returned").unwrap();
    let wrote = ev
        .iter()
        .position(|e| e.starts_with("wrote_request"))
        .expect("wrote_request fired");
    assert!(returned < wrote, "{}", rec.dump());
    assert!(
        ev.contains(&"wrote_request nil".to_string()),
        "{}",
        rec.dump()
    );
    // The write finished before the response ended, so the connection was offered back.
    assert_eq!(rec.count("put_idle_conn"), 1, "{}", rec.dump());
}

#[tokio::test]
async fn connection_is_not_pooled_when_the_response_ends_before_the_upload() {
    // The server answers 200 with a complete small body at once and never reads the request
    // body: the response ends while the upload is stuck, so the connection must be closed.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    let client = support::client();
    let stream = futures_util::stream::iter(
        (0..256).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 64 * 1024]))),
    );
    let rec = Recorder::new();
    guard(async {
        let resp = client
            .post(&format!("http://{addr}/"))
            .body(Body::from_stream(stream))
            .trace(rec.trace())
            .send()
            .await
            .unwrap();
        assert_eq!(&resp.into_body().bytes().await.unwrap()[..], b"ok");
    })
    .await;
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
    assert!(
        rec.events().iter().any(|e| e == "wrote_request err"),
        "{}",
        rec.dump()
    );
}

/// A keep-alive final head arrives while the body is still being written, and its framing is
/// invalid: the attempt fails, and `wrote_request` still fires once for it (the write is
/// abandoned), as for any attempt.
#[tokio::test]
async fn wrote_request_fires_when_an_early_response_has_bad_framing() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    // One chunk, then a stream that never ends: the write is still going when the head comes.
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"part"))]),
        futures_util::stream::pending(),
    );
    let rec = Recorder::new();
    let res = guard(
        client
            .post(&peer.url("/"))
            .body(Body::from_stream(stream))
            .trace(rec.trace())
            .send(),
    )
    .await;
    let err = match res {
        Ok(r) => panic!("expected a framing error, got {}", r.status()),
        Err(e) => e,
    };
    assert!(err.is_protocol(), "{err:?}");
    assert_eq!(
        rec.count("wrote_request"),
        1,
        "wrote_request must fire once for the attempt:\n  {}",
        rec.dump()
    );
}

/// A server answers 413 with `Connection: close` and closes with the upload unread, which
/// resets the connection: the 413, received before the reset, is the answer (not the write's
/// reset error), and the attempt counts as answered, so it is never replayed.
#[tokio::test]
async fn an_early_response_then_a_reset_returns_the_response() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .reset()])
    .await
    .unwrap();
    let client = support::client();
    let body = vec![b'q'; 64 * 1024 * 1024];
    let rec = Recorder::new();
    let res = guard(
        client
            .post(&peer.url("/"))
            .body(body)
            .trace(rec.trace())
            .send(),
    )
    .await;
    match res {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => panic!(
            "the 413 the server sent was lost behind the write error: {e:?}\n  {}",
            rec.dump()
        ),
    }
}

/// A final response that closes the connection arrives mid-upload and the server keeps the
/// connection open without reading: the rest of the body is not sent, and wrote_request says
/// the write was abandoned (it reported a complete write).
#[tokio::test]
async fn a_closing_response_mid_upload_reports_the_write_abandoned() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    let body = vec![b'q'; 64 * 1024 * 1024];
    let rec = Recorder::new();
    let r = guard(
        client
            .post(&peer.url("/"))
            .body(body)
            .trace(rec.trace())
            .send(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}\n  {}", rec.dump()));
    assert_eq!(r.status(), 413);
    let errs = rec.wrote_request_errs();
    assert_eq!(errs.len(), 1, "{}", rec.dump());
    let err = errs[0]
        .as_ref()
        .unwrap_or_else(|| panic!("a withheld body reported written\n  {}", rec.dump()));
    assert!(err.to_string().contains("abandoned"), "{err}");
    assert!(
        rec.put_idle_errs().iter().all(|e| e.is_some()),
        "{}",
        rec.dump()
    );
}
