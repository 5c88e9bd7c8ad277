use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use httptrace_peers::{ContinuePolicy, Response, Server, TestCa};
use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::*;

async fn tls_connect(
    ca: &TestCa,
    addr: std::net::SocketAddr,
    name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = TlsConnector::from(ca.client_config(alpn));
    connector
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
}

#[tokio::test]
async fn tls_handshake_against_test_ca() {
    let ca = TestCa::new();
    assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_ne!(ca.ca_der(), ca.leaf().cert_der());
    assert_eq!(ca.root_store().len(), 1);
    let dir = std::env::temp_dir().join(format!("httptrace-peers-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = ca.write_ca_pem(&dir).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), ca.ca_pem());
    let _ = std::fs::remove_dir_all(&dir);

    let srv = Server::hello()
        .tls(ca.server_config(&[b"h2", b"http/1.1"]))
        .start()
        .await
        .unwrap();
    assert!(srv.url("/").starts_with("https://127.0.0.1:"));
    for name in ["localhost", "127.0.0.1"] {
        let mut s = tls_connect(&ca, srv.addr(), name, &[b"http/1.1"])
            .await
            .unwrap();
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"));
        assert_eq!(body, b"Hello, world!");
        assert!(srv.requests().last().unwrap().tls);
    }

    // No ALPN configured on the server: nothing negotiated.
    let plain = Server::hello()
        .tls(ca.server_config(&[]))
        .start()
        .await
        .unwrap();
    let s = tls_connect(&ca, plain.addr(), "localhost", &[b"h2"])
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), None);
}

#[tokio::test]
async fn wrong_host_cert_is_rejected() {
    let ca = TestCa::new();
    let leaf = ca.leaf_for(&["example.com"]);
    let srv = Server::hello()
        .tls(ca.server_config_with_leaf(&leaf, &[]))
        .start()
        .await
        .unwrap();
    let err = tls_connect(&ca, srv.addr(), "localhost", &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // The same cert is fine for its own name.
    tls_connect(&ca, srv.addr(), "example.com", &[])
        .await
        .unwrap();
}

async fn h2_client<S>(io: S) -> h2::client::SendRequest<Bytes>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

async fn body_of(resp: http::Response<h2::RecvStream>) -> Vec<u8> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(c) = body.data().await {
        let c = c.unwrap();
        let _ = body.flow_control().release_capacity(c.len());
        out.extend_from_slice(&c);
    }
    out
}

#[tokio::test]
async fn h2_get_and_informational_103_over_tls() {
    let ca = TestCa::new();
    let big = Bytes::from(vec![b'z'; 300_000]);
    let big2 = big.clone();
    let srv = Server::builder()
        .tls(ca.server_config(&[b"h2", b"http/1.1"]))
        .handler(move |r| match r.path() {
            "/big" => Response::ok().body(big2.clone()),
            "/len" => Response::text(r.body.len().to_string()),
            _ => Response::text("h2 ok").early_hints(&["</a.css>; rel=preload"]),
        })
        .start()
        .await
        .unwrap();
    let tls = tls_connect(&ca, srv.addr(), "localhost", &[b"h2"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let send = h2_client(tls).await;

    let req = http::Request::get(srv.url_localhost("/")).body(()).unwrap();
    let (mut fut, _) = send
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(req, true)
        .unwrap();
    let info = tokio::time::timeout(T, std::future::poll_fn(|cx| fut.poll_informational(cx)))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(info.status(), 103);
    assert_eq!(info.headers()["link"], "</a.css>; rel=preload");
    let resp = fut.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "5");
    assert_eq!(body_of(resp).await, b"h2 ok");

    // Large response (beyond the 64 KiB default window) and large upload.
    let req = http::Request::get(srv.url("/big")).body(()).unwrap();
    let (fut, _) = send
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(req, true)
        .unwrap();
    assert_eq!(body_of(fut.await.unwrap()).await, big);

    let req = http::Request::post(srv.url("/len")).body(()).unwrap();
    let (fut, mut stream) = send
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(req, false)
        .unwrap();
    let mut data = Bytes::from(vec![1u8; 200_000]);
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let n = std::future::poll_fn(|cx| stream.poll_capacity(cx))
            .await
            .unwrap()
            .unwrap();
        let piece = data.split_to(n.min(data.len()));
        stream.send_data(piece, data.is_empty()).unwrap();
    }
    assert_eq!(body_of(fut.await.unwrap()).await, b"200000");
    assert_eq!(srv.connections_accepted(), 1);
    assert_eq!(srv.requests()[0].version, http::Version::HTTP_2);
}

#[tokio::test]
async fn h2c_expect_continue_and_goaway() {
    let srv = Server::builder()
        .h2_prior_knowledge(true)
        .continue_policy(ContinuePolicy::Auto)
        .goaway_after(2)
        .max_concurrent_streams(10)
        .handler(|r| Response::ok().body(r.body))
        .start()
        .await
        .unwrap();
    let tcp = TcpStream::connect(srv.addr()).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    let conn_task = tokio::spawn(conn);

    let req = http::Request::post(srv.url("/"))
        .header("expect", "100-continue")
        .body(())
        .unwrap();
    let (mut fut, mut stream) = send
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(req, false)
        .unwrap();
    let info = tokio::time::timeout(T, std::future::poll_fn(|cx| fut.poll_informational(cx)))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(info.status(), 100);
    stream.send_data(Bytes::from_static(b"body"), true).unwrap();
    assert_eq!(body_of(fut.await.unwrap()).await, b"body");

    let req = http::Request::get(srv.url("/2")).body(()).unwrap();
    let (fut, _) = send
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(req, true)
        .unwrap();
    assert_eq!(fut.await.unwrap().status(), 200);
    drop(send);
    // After 2 requests the server sends GOAWAY and closes the connection.
    let done = tokio::time::timeout(Duration::from_secs(5), conn_task).await;
    assert!(done.is_ok(), "connection did not end after GOAWAY");
    assert_eq!(srv.requests_served(), 2);
}

#[tokio::test]
async fn h2_standalone_serve_and_reject() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let handler: httptrace_peers::Handler = Arc::new(|_| Response::text("x"));
    tokio::spawn(httptrace_peers::h2::serve(
        b,
        handler,
        httptrace_peers::h2::H2Options {
            continue_policy: ContinuePolicy::Reject(417),
            ..Default::default()
        },
    ));
    let send = h2_client(a).await;
    let req = http::Request::post("http://localhost/")
        .header("expect", "100-continue")
        .body(())
        .unwrap();
    let (fut, _stream) = send
        .ready()
        .await
        .unwrap()
        .send_request(req, false)
        .unwrap();
    assert_eq!(fut.await.unwrap().status(), 417);
}
