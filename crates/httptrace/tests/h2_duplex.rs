//! Full duplex on HTTP/2: a server that answers at once and echoes the request body while it
//! reads it. The response must come back at its HEADERS, with the upload finishing on its own
//! (Go's writeRequest goroutine), or both flow-control windows fill and nothing moves.

mod support;

use bytes::Bytes;
use httptrace::Body;
use support::{guard, Recorder};
use tokio::net::TcpListener;

async fn h2c_echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    tokio::spawn(async move {
                        let mut body = req.into_body();
                        let Ok(mut send) = respond.send_response(http::Response::new(()), false)
                        else {
                            return;
                        };
                        while let Some(Ok(data)) = body.data().await {
                            let n = data.len();
                            let _ = body.flow_control().release_capacity(n);
                            send.reserve_capacity(n);
                            let mut have = 0;
                            while have < n {
                                match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                                    Some(Ok(c)) => have += c,
                                    _ => return,
                                }
                            }
                            if send.send_data(data, false).is_err() {
                                return;
                            }
                        }
                        let _ = send.send_data(Bytes::new(), true);
                    });
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn h2_response_returns_while_the_upload_goes_on() {
    let addr = h2c_echo_server().await;
    let client = support::builder().http2_prior_knowledge().build().unwrap();
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 256; // 16 MiB, well past every window
    let stream = futures_util::stream::iter(
        (0..CHUNKS).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'z'; CHUNK]))),
    );
    let rec = Recorder::new();
    let got = guard(async {
        let resp = client
            .post(&format!("http://{addr}/echo"))
            .body(Body::from_stream(stream))
            .trace(rec.trace())
            .send()
            .await
            .expect("response head while uploading");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        rec.mark("execute_returned");
        resp.into_body().drain().await.expect("echo")
    })
    .await;
    assert_eq!(got, (CHUNK * CHUNKS) as u64);
    // wrote_request comes from the upload task, after the response returned.
    let ev = rec.events();
    let returned = ev.iter().position(|e| e == "execute_returned").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !rec.events().iter().any(|e| e.starts_with("wrote_request")) {
        assert!(std::time::Instant::now() < deadline, "{}", rec.dump());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let ev = rec.events();
    let wrote = ev
        .iter()
        .position(|e| e.starts_with("wrote_request"))
        .unwrap();
    assert!(returned < wrote, "{}", rec.dump());
    assert!(
        ev.contains(&"wrote_request nil".to_string()),
        "{}",
        rec.dump()
    );
}
