use std::time::Duration;

use bytes::Bytes;
use httptrace_peers::{ContinuePolicy, Response, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn hello_keep_alive_two_requests_on_one_connection() {
    let srv = Server::hello().start().await.unwrap();
    assert!(srv.url("/x").starts_with("http://127.0.0.1:"));
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/plain\r\n"));
        assert!(head.contains("Content-Length: 13\r\n"));
        assert!(!head.contains("Connection: close"));
        assert_eq!(body, b"Hello, world!");
    }
    assert_eq!(srv.connections_accepted(), 1);
    assert_eq!(srv.requests_served(), 2);
    assert_eq!(srv.requests()[1].connection, 0);
}

#[tokio::test]
async fn pipelined_and_post_with_body() {
    let srv = Server::builder()
        .handler(|r| Response::ok().body(r.body))
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (_, b1) = read_response(&mut s).await;
    let (_, b2) = read_response(&mut s).await;
    assert_eq!(b1, b"abc");
    assert_eq!(b2, b"");
    let reqs = srv.requests();
    assert_eq!(reqs[0].target, "/a");
    assert_eq!(reqs[1].path(), "/b");
    assert_eq!(reqs[1].header("host"), Some("a"));
}

#[tokio::test]
async fn chunked_response_bytes() {
    let srv = Server::builder()
        .handler(|_| {
            Response::ok()
                .chunked(
                    vec![Bytes::from("hello"), Bytes::from(" world!")],
                    Duration::from_millis(20),
                )
                .trailer("X-Trailer", "t")
        })
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut s, b"0\r\nX-Trailer: t\r\n\r\n").await;
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\nX-Trailer: t\r\n\r\n"
    );
}

#[tokio::test]
async fn early_hints_then_200() {
    let srv = Server::builder()
        .handler(|_| {
            Response::text("ok")
                .early_hints(&["</style.css>; rel=preload; as=style"])
                .early_hints(&["</script.js>; rel=preload; as=script"])
        })
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut s, b"\r\n\r\nok").await;
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n\
         HTTP/1.1 103 Early Hints\r\nLink: </script.js>; rel=preload; as=script\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nok"
    );
}

const EXPECT_HEAD: &[u8] =
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";

fn echo() -> impl Fn(httptrace_peers::Request) -> Response + Send + Sync + 'static {
    |r| Response::ok().body(r.body)
}

#[tokio::test]
async fn continue_auto_sends_100_first() {
    let srv = Server::builder().handler(echo()).start().await.unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(EXPECT_HEAD).await.unwrap();
    assert_eq!(read_n(&mut s, 25).await, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.unwrap();
    let (head, body) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"));
    assert_eq!(body, b"hello");
}

#[tokio::test]
async fn continue_never_waits_for_body() {
    let srv = Server::builder()
        .handler(echo())
        .continue_policy(ContinuePolicy::Never)
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(EXPECT_HEAD).await.unwrap();
    let mut b = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), s.read(&mut b))
            .await
            .is_err()
    );
    s.write_all(b"hello").await.unwrap();
    let (head, body) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello");
}

#[tokio::test]
async fn continue_reject_answers_417_and_closes() {
    let srv = Server::builder()
        .handler(echo())
        .continue_policy(ContinuePolicy::Reject(417))
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(EXPECT_HEAD).await.unwrap();
    let got = read_to_end(&mut s).await;
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

#[tokio::test]
async fn chunked_request_body_is_decoded() {
    let srv = Server::builder().handler(echo()).start().await.unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nTrailer-A: 1\r\n\r\n")
        .await
        .unwrap();
    let (_, body) = read_response(&mut s).await;
    assert_eq!(body, b"Wikipedia");
    // Connection still usable.
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn http10_and_close_requests_close() {
    let srv = Server::hello().start().await.unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let got = String::from_utf8(read_to_end(&mut s).await).unwrap();
    assert!(got.starts_with("HTTP/1.0 200 OK\r\n"), "{got}");
    assert!(got.ends_with("Hello, world!"));

    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_to_end(&mut s).await).unwrap();
    assert!(got.contains("Connection: close\r\n"), "{got}");
}

#[tokio::test]
async fn garbage_gets_400_and_server_survives() {
    let srv = Server::hello().start().await.unwrap();
    for junk in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(srv.addr()).await.unwrap();
        s.write_all(junk).await.unwrap();
        let got = String::from_utf8_lossy(&read_to_end(&mut s).await).into_owned();
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    }
    // Truncated request then EOF: just closed.
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTT").await.unwrap();
    s.shutdown().await.unwrap();
    assert!(read_to_end(&mut s).await.is_empty());

    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut s, b"\r\n\r\n").await;
    assert!(String::from_utf8(got)
        .unwrap()
        .contains("Content-Length: 13\r\n"));
}

#[tokio::test]
async fn close_delimited_and_forced_close() {
    let srv = Server::builder()
        .handler(|r| {
            if r.path() == "/cd" {
                Response::ok()
                    .close_delimited(vec![Bytes::from("ab"), Bytes::from("cd")], Duration::ZERO)
            } else {
                Response::text("x").close()
            }
        })
        .start()
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET /cd HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_to_end(&mut s).await).unwrap();
    assert_eq!(got, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcd");
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_to_end(&mut s).await).unwrap();
    assert!(
        got.contains("Connection: close\r\n") && got.ends_with("\r\n\r\nx"),
        "{got}"
    );
}

#[tokio::test]
async fn dual_stack_and_drop_stops() {
    let srv = Server::hello().dual_stack(true).start().await.unwrap();
    if let Some(v6) = srv.addr_v6() {
        assert_eq!(v6.port(), srv.port());
        let mut s = TcpStream::connect(v6).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let (_, body) = read_response(&mut s).await;
        assert_eq!(body, b"Hello, world!");
        assert!(srv.url_v6("/").unwrap().starts_with("http://[::1]:"));
    }
    let addr = srv.addr();
    assert!(srv.wait_requests(srv.requests_served(), T).await);
    drop(srv);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn random_bytes_do_not_break_servers() {
    let srv = Server::hello().start().await.unwrap();
    let h2c = Server::hello()
        .h2_prior_knowledge(true)
        .start()
        .await
        .unwrap();
    let proxy = httptrace_peers::Proxy::start(Default::default())
        .await
        .unwrap();
    let socks = httptrace_peers::Socks5Proxy::start(None).await.unwrap();
    let mut seed: u64 = 0x9E3779B97F4A7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let prefixes: [&[u8]; 5] = [
        b"",
        b"GET / HTTP/1.1\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"CONNECT ",
        b"\x05\x01\x00",
    ];
    for i in 0..60 {
        let addr = [srv.addr(), h2c.addr(), proxy.addr(), socks.addr()][i % 4];
        let mut data = prefixes[i % prefixes.len()].to_vec();
        let len = (next() % 300) as usize;
        data.extend((0..len).map(|_| (next() % 256) as u8));
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&data).await;
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(T, s.read_to_end(&mut sink)).await;
    }
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (_, body) = read_response(&mut s).await;
    assert_eq!(body, b"Hello, world!");
}
