use httptrace_peers::{Server, Socks5Proxy};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::*;

async fn get_hello(s: &mut TcpStream) {
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (_, body) = read_response(s).await;
    assert_eq!(body, b"Hello, world!");
}

#[tokio::test]
async fn socks5_no_auth_ipv4_and_domain() {
    let origin = Server::hello().start().await.unwrap();
    let socks = Socks5Proxy::start(None).await.unwrap();
    let port = origin.port().to_be_bytes();

    let mut s = TcpStream::connect(socks.addr()).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [5, 0]);
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, port[0], port[1]])
        .await
        .unwrap();
    let rep = read_n(&mut s, 10).await;
    assert_eq!(&rep[..2], &[5, 0]);
    get_hello(&mut s).await;

    let mut s = TcpStream::connect(socks.addr()).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [5, 0]);
    let mut req = vec![5, 1, 0, 3, 9];
    req.extend_from_slice(b"127.0.0.1");
    req.extend_from_slice(&port);
    s.write_all(&req).await.unwrap();
    let rep = read_n(&mut s, 10).await;
    assert_eq!(rep[1], 0);
    get_hello(&mut s).await;

    // Non-loopback: not allowed by ruleset.
    let mut s = TcpStream::connect(socks.addr()).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    read_n(&mut s, 2).await;
    s.write_all(&[5, 1, 0, 1, 10, 1, 2, 3, 0, 80])
        .await
        .unwrap();
    assert_eq!(read_n(&mut s, 10).await[1], 2);

    assert_eq!(socks.targets()[0], format!("127.0.0.1:{}", origin.port()));
    assert_eq!(socks.requests()[1].address_type, 3);
    assert_eq!(socks.connections_accepted(), 3);
}

#[tokio::test]
async fn socks5_username_password() {
    let origin = Server::hello().dual_stack(true).start().await.unwrap();
    let socks = Socks5Proxy::start(Some(("alice".into(), "secret".into())))
        .await
        .unwrap();
    let port = origin.port().to_be_bytes();

    // Offering only no-auth is refused.
    let mut s = TcpStream::connect(socks.addr()).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [5, 0xFF]);

    // Wrong password.
    let mut s = TcpStream::connect(socks.addr()).await.unwrap();
    s.write_all(&[5, 2, 0, 2]).await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [5, 2]);
    s.write_all(b"\x01\x05alice\x05wrong").await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [1, 1]);

    // Right password, IPv6 target if available else IPv4.
    let mut s = TcpStream::connect(socks.addr()).await.unwrap();
    s.write_all(&[5, 1, 2]).await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [5, 2]);
    s.write_all(b"\x01\x05alice\x06secret").await.unwrap();
    assert_eq!(read_n(&mut s, 2).await, [1, 0]);
    if origin.addr_v6().is_some() {
        let mut req = vec![5, 1, 0, 4];
        req.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        req.extend_from_slice(&port);
        s.write_all(&req).await.unwrap();
        let rep = read_n(&mut s, 22).await;
        assert_eq!(&rep[..2], &[5, 0]);
    } else {
        s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, port[0], port[1]])
            .await
            .unwrap();
        assert_eq!(read_n(&mut s, 10).await[1], 0);
    }
    get_hello(&mut s).await;
    assert_eq!(socks.requests()[0].username.as_deref(), Some("alice"));
}
