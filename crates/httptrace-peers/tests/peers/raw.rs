use std::time::Duration;

use httptrace_peers::{Script, ScriptedPeer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn records_bytes_and_writes_script() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .read_body(3)
        .write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        .read_head()
        .write("HTTP/1.1 204 No Content\r\n\r\n")
        .close()])
    .await
    .unwrap();
    let mut s = TcpStream::connect(peer.addr()).await.unwrap();
    let req = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    s.write_all(req).await.unwrap();
    let (_, body) = read_response(&mut s).await;
    assert_eq!(body, b"hi");
    s.write_all(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let rest = read_to_end(&mut s).await;
    assert_eq!(rest, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert!(peer.wait_finished(0, T).await);
    let mut all = req.to_vec();
    all.extend_from_slice(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(peer.received(0), all);
    let heads = peer.heads(0);
    assert_eq!(heads.len(), 2);
    assert!(heads[1].starts_with("GET /2 "));
}

#[tokio::test]
async fn reset_gives_econnreset() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().reset()])
        .await
        .unwrap();
    let mut s = TcpStream::connect(peer.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut b = [0u8; 16];
    let err = tokio::time::timeout(T, s.read(&mut b))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn chunked_body_eof_and_extra_connections() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .read_chunked_body()
        .write("ok")
        .shutdown()
        .read_until_eof()])
    .await
    .unwrap();
    let mut s = TcpStream::connect(peer.addr()).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_to_end(&mut s).await, b"ok");
    s.write_all(b"late").await.unwrap();
    s.shutdown().await.unwrap();
    assert!(peer.wait_finished(0, T).await);
    assert!(peer.received_string(0).ends_with("0\r\n\r\nlate"));

    // Beyond the script list: closed at once.
    let mut s2 = TcpStream::connect(peer.addr()).await.unwrap();
    assert!(read_to_end(&mut s2).await.is_empty());
    assert!(peer.wait_connections(2, T).await);
    assert_eq!(peer.connections_accepted(), 2);
}

#[tokio::test]
async fn hold_and_sleep_and_dual_stack() {
    let peer = ScriptedPeer::start_dual_stack(vec![Script::new()
        .sleep(Duration::from_millis(50))
        .write("x")
        .hold()])
    .await
    .unwrap();
    let addr = peer.addr_v6().unwrap_or(peer.addr());
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_n(&mut s, 1).await, b"x");
    s.write_all(b"junk").await.unwrap();
    assert!(peer.wait_received(0, 4, T).await);
    assert!(!peer.finished(0));
    drop(s);
    assert!(peer.wait_finished(0, T).await);
}
