//! `Expect: 100-continue` on HTTP/1.1 (Go's scenario (f) and product.md §2's rule for a final
//! status that arrives before 100).

mod support;

use std::time::Duration;

use httptrace_peers::{ContinuePolicy, Script, ScriptedPeer, Server};
use support::{guard, ok_response, post_expecting_continue, seq, Recorder, TCP_DIAL};

fn kib_body() -> Vec<u8> {
    (0..1024).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::test]
async fn server_sends_100_then_body_then_200() {
    let srv = Server::builder()
        .continue_policy(ContinuePolicy::Auto)
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let body = kib_body();
    let resp = post_expecting_continue(&client, &srv.url("/upload"), body.clone(), &rec)
        .await
        .expect("POST with Expect");
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();

    assert_eq!(
        rec.go_names(),
        seq(&[
            TCP_DIAL,
            &[
                "got_conn",
                "headers",
                "wrote_headers",
                "wait_100_continue",
                "got_first_response_byte",
                "got_100_continue",
                "got_1xx",
                "wrote_request",
                "put_idle_conn",
            ],
        ]),
        "events:\n  {}",
        rec.dump()
    );
    assert_eq!(rec.count("wait_100_continue"), 1);
    assert_eq!(rec.count("got_100_continue"), 1);
    assert!(
        rec.pos("got_100_continue").unwrap() < rec.pos("got_1xx 100").unwrap(),
        "{}",
        rec.dump()
    );
    assert!(rec.pos("got_100_continue").unwrap() < rec.pos("wrote_request").unwrap());
    assert!(rec.has("wrote_request nil"));
    assert!(rec.has("put_idle_conn nil"));
    assert_eq!(rec.field("Expect"), Some(vec!["100-continue".to_string()]));
    assert_eq!(rec.field("Content-Length"), Some(vec!["1024".to_string()]));
    let req = &srv.requests()[0];
    assert_eq!(
        &req.body[..],
        &body[..],
        "the body must be sent after 100 Continue"
    );
}

async fn reject_417_body_not_sent(body: Vec<u8>) {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        // Record whatever the client still sends, until it closes.
        .read_until_eof()])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = post_expecting_continue(&client, &peer.url("/upload"), body.clone(), &rec)
        .await
        .expect("the 417 is a response, not an error");
    assert_eq!(resp.status(), 417);
    guard(resp.into_body().bytes()).await.unwrap();
    rec.mark("result 417");

    assert!(
        peer.wait_finished(0, Duration::from_secs(5)).await,
        "client must close the connection"
    );
    let received = peer.received(0);
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head was received")
        + 4;
    assert_eq!(
        received.len(),
        head_end,
        "the body must NOT be sent after a 417 with Connection: close; received {} extra bytes",
        received.len() - head_end
    );
    assert_eq!(rec.count("wait_100_continue"), 1, "{}", rec.dump());
    assert_eq!(rec.count("got_100_continue"), 0);
    assert_eq!(rec.count("got_1xx"), 0);
    assert!(rec.has("wrote_request nil"), "{}", rec.dump());
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
}

#[tokio::test]
async fn server_rejects_with_417_and_close_body_not_sent() {
    reject_417_body_not_sent(kib_body()).await;
}

#[tokio::test]
async fn server_rejects_with_417_and_close_large_body_not_sent() {
    // 64 KiB: larger than any write coalescing buffer.
    reject_417_body_not_sent(kib_body().repeat(64)).await;
}

#[tokio::test]
async fn server_rejects_via_peer_server_417() {
    // Same with the HTTP server's Reject policy; a second request must dial again.
    let srv = Server::builder()
        .continue_policy(ContinuePolicy::Reject(417))
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = post_expecting_continue(&client, &srv.url("/"), kib_body(), &rec)
        .await
        .unwrap();
    assert_eq!(resp.status(), 417);
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
    assert!(srv.requests()[0].body.is_empty());

    let r2 = Recorder::new();
    let resp = guard(client.get(&srv.url("/")).trace(r2.trace()).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
}

#[tokio::test]
async fn silent_server_body_sent_after_expect_timeout() {
    let srv = Server::builder()
        .continue_policy(ContinuePolicy::Never)
        .start()
        .await
        .unwrap();
    let client = support::builder()
        .expect_continue_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let body = kib_body();
    let resp = post_expecting_continue(&client, &srv.url("/"), body.clone(), &rec)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();

    let wait = rec
        .pos("wait_100_continue")
        .expect("wait_100_continue fired");
    let wrote = rec.pos("wrote_request").expect("wrote_request fired");
    assert!(wait < wrote);
    let elapsed = rec.time_of(wrote) - rec.time_of(wait);
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(5),
        "body released after {elapsed:?}, expected the 200 ms expect-continue timeout; events:\n  {}",
        rec.dump()
    );
    assert_eq!(rec.count("got_100_continue"), 0);
    assert_eq!(rec.count("got_1xx"), 0);
    assert!(rec.has("wrote_request nil"));
    // Go f3: the body goes out before the first response byte.
    assert!(
        wrote < rec.pos("got_first_response_byte").unwrap(),
        "{}",
        rec.dump()
    );
    assert_eq!(&srv.requests()[0].body[..], &body[..]);
    assert!(rec.has("put_idle_conn nil"));
}

#[tokio::test]
async fn final_200_without_100_and_without_close_still_sends_body_and_reuses() {
    let body = kib_body();
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write(ok_response("ok"))
        .read_body(1024)
        .read_head()
        .write(ok_response("second"))
        .hold()])
    .await
    .unwrap();
    let client = support::builder()
        // Long enough that only the early 200 can release the wait.
        .expect_continue_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let resp = post_expecting_continue(&client, &peer.url("/"), body.clone(), &rec)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let b = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&b[..], b"ok");

    // product.md §2: a final status before 100 without close → the body is sent anyway.
    assert!(
        peer.wait_received(0, 1024 + 50, Duration::from_secs(5))
            .await,
        "body not received by the peer"
    );
    let received = peer.received(0);
    assert!(
        received.windows(body.len()).any(|w| w == &body[..]),
        "the peer must receive the whole 1 KiB body"
    );
    assert_eq!(rec.count("got_100_continue"), 0);
    assert!(rec.has("wrote_request nil"), "{}", rec.dump());
    assert!(rec.has("put_idle_conn nil"), "{}", rec.dump());

    let r2 = Recorder::new();
    let resp = guard(client.get(&peer.url("/2")).trace(r2.trace()).send())
        .await
        .expect("reuse");
    let b = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&b[..], b"second");
    assert!(
        r2.has("got_conn reused=true was_idle=true"),
        "{}",
        r2.dump()
    );
    assert_eq!(peer.connections_accepted(), 1);
}

#[tokio::test]
async fn expect_without_body_does_not_wait() {
    // Go: continueCh only with a body. No wait_100_continue for a bodiless request.
    let srv = Server::builder()
        .continue_policy(ContinuePolicy::Never)
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(
        client
            .get(&srv.url("/"))
            .header("Expect", "100-continue")
            .trace(rec.trace())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(rec.count("wait_100_continue"), 0, "{}", rec.dump());
}

#[tokio::test]
async fn body_is_withheld_until_100_arrives() {
    // The peer reads the head, then waits 300 ms before sending 100 Continue. Until then the
    // client must not send a single body byte (that is the whole point of Expect).
    let body = kib_body();
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .sleep(Duration::from_millis(300))
        .write("HTTP/1.1 100 Continue\r\n\r\n")
        .read_body(1024)
        .write(ok_response("ok"))
        .hold()])
    .await
    .unwrap();
    let client = support::builder()
        .expect_continue_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let req = client
        .post(&peer.url("/"))
        .header("Expect", "100-continue")
        .body(body.clone())
        .trace(rec.trace());
    let task = tokio::spawn(async move { req.send().await });

    assert!(
        peer.wait_received(0, 1, Duration::from_secs(5)).await,
        "the head must be sent"
    );
    // Generous: anything sent with or right after the head has arrived by now.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let early = peer.received(0);
    let head_end = early
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .expect("complete head received");
    assert_eq!(
        early.len(),
        head_end,
        "{} body bytes were sent before 100 Continue (events so far: {})",
        early.len() - head_end,
        rec.dump()
    );
    assert_eq!(rec.count("wrote_request"), 0, "{}", rec.dump());

    let resp = guard(task).await.unwrap().expect("request");
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();
    assert!(peer.received(0).windows(body.len()).any(|w| w == &body[..]));
    assert!(rec.pos("got_100_continue").unwrap() < rec.pos("wrote_request").unwrap());
}

/// A 100 that arrives after the wait timed out (the body already on its way) still fires
/// `got_100_continue`, once, as Go's read loop does (its continue channel stays until a 100 or
/// a final status).
#[tokio::test]
async fn late_100_after_the_wait_timed_out_still_fires_got_100_continue() {
    let body = vec![b'a'; 1024];
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .sleep(Duration::from_millis(400))
        .write("HTTP/1.1 100 Continue\r\n\r\n")
        .read_body(1024)
        .write(ok_response("ok"))
        .hold()])
    .await
    .unwrap();
    let client = support::builder()
        .expect_continue_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let resp = post_expecting_continue(&client, &peer.url("/"), body, &rec)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(rec.count("got_1xx 100"), 1, "{}", rec.dump());
    assert_eq!(
        rec.count("got_100_continue"),
        1,
        "a 100 after the expect-continue timeout must still fire got_100_continue:\n  {}",
        rec.dump()
    );
}

/// A keep-alive final status before 100 Continue: the body is sent (product rule), and the
/// response is returned as soon as the body blocks, as without `Expect` (Go's read loop hands
/// it over while its write loop goes on). Before, the call waited for the whole body: a server
/// that answered 401 and read nothing left it hanging, with no timeout to end it.
#[tokio::test]
async fn final_status_before_100_returns_the_response_while_the_body_uploads() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        // Never read the upload.
        .sleep(Duration::from_secs(30))])
    .await
    .unwrap();
    let client = support::builder()
        .expect_continue_timeout(Duration::from_secs(5))
        .response_header_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    // Far more than both socket buffers hold.
    let body = vec![b'z'; 64 * 1024 * 1024];
    let rec = Recorder::new();
    let res = support::within(
        Duration::from_secs(5),
        "execute with a final 401 before 100 Continue",
        client
            .post(&peer.url("/"))
            .header("Expect", "100-continue")
            .body(body)
            .trace(rec.trace())
            .send(),
    )
    .await;
    let resp = res.unwrap_or_else(|e| panic!("{e:?}\n  {}", rec.dump()));
    assert_eq!(resp.status(), 401);
}
