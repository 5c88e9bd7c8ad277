use httptrace_peers::{Proxy, ProxyConfig, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn connect_tunnel_reaches_origin() {
    let origin = Server::hello().start().await.unwrap();
    let proxy = Proxy::start(ProxyConfig::default()).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let target = origin.addr().to_string();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let got = read_until(&mut s, b"\r\n\r\n").await;
    assert_eq!(got, b"HTTP/1.1 200 Connection established\r\n\r\n");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (_, body) = read_response(&mut s).await;
    assert_eq!(body, b"Hello, world!");
    assert_eq!(
        proxy.requests_seen(),
        vec![format!("CONNECT {target} HTTP/1.1")]
    );
    assert_eq!(proxy.tunnels_opened(), 1);
    assert_eq!(proxy.connections_accepted(), 1);
}

#[tokio::test]
async fn connect_requires_auth_407_then_ok() {
    let origin = Server::hello().start().await.unwrap();
    let proxy = Proxy::start(ProxyConfig {
        auth: Some(("user".into(), "pass".into())),
        ..Default::default()
    })
    .await
    .unwrap();
    let target = origin.addr().to_string();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let got = String::from_utf8(read_to_end(&mut s).await).unwrap();
    assert!(
        got.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\n"),
        "{got}"
    );
    assert!(got.contains("Proxy-Authenticate: Basic realm=\"httptrace\"\r\n"));

    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    // base64("user:pass") = dXNlcjpwYXNz
    s.write_all(
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let got = read_until(&mut s, b"\r\n\r\n").await;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].headers.contains_key("proxy-authorization"));
}

#[tokio::test]
async fn connect_to_non_loopback_is_403() {
    let proxy = Proxy::start(ProxyConfig::default()).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_to_end(&mut s).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
}

#[tokio::test]
async fn forward_proxy_rewrites_and_strips_proxy_auth() {
    let origin = Server::builder()
        .handler(|r| httptrace_peers::Response::text(format!("{} {}", r.method, r.target)))
        .start()
        .await
        .unwrap();
    let proxy = Proxy::start(ProxyConfig {
        auth: Some(("u".into(), "p".into())),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let url = origin.url("/path?q=1");
    // base64("u:p") = dTpw
    for _ in 0..2 {
        s.write_all(
            format!("POST {url} HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: Basic dTpw\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", origin.addr())
                .as_bytes(),
        )
        .await
        .unwrap();
        let (head, body) = read_response(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, b"POST /path?q=1");
    }
    // Without credentials: 407 on the same keep-alive connection.
    s.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (head, _) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");

    let seen = origin.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|r| !r.headers.contains_key("proxy-authorization")));
    assert_eq!(&seen[0].body[..], b"hi");
    assert_eq!(proxy.requests_seen()[0], format!("POST {url} HTTP/1.1"));
    assert_eq!(proxy.connections_accepted(), 1);
}
