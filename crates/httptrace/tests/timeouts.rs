//! Timeouts (whole request, response header) and cancellation by dropping the future.
//! Only loopback peers: no connect-timeout test (it would need a non-routable address).

mod support;

use std::time::{Duration, Instant};

use httptrace::TimeoutKind;
use httptrace_peers::{Script, ScriptedPeer};
use support::{get_traced, guard, ok_response, Recorder};

fn stalling_then_good() -> Vec<Script> {
    vec![
        Script::new().read_head().hold(),
        Script::new().read_head().write(ok_response("good")).hold(),
    ]
}

#[tokio::test]
async fn whole_request_timeout_on_stalling_server() {
    let peer = ScriptedPeer::start(stalling_then_good()).await.unwrap();
    let client = support::builder()
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let start = Instant::now();
    let err = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("stalled");
    let elapsed = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Request), "{err:?}");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(rec.has("wrote_request nil"), "{}", rec.dump());
    assert_eq!(rec.count("got_first_response_byte"), 0);
    assert_eq!(rec.count("put_idle_conn"), 0);
    assert!(
        rec.events()
            .iter()
            .any(|e| e == "request_done status=none err=err"),
        "{}",
        rec.dump()
    );
    // The timed-out connection was closed, not pooled.
    assert!(
        peer.wait_finished(0, Duration::from_secs(5)).await,
        "stalled connection must be closed"
    );
    let r2 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r2).await.unwrap();
    assert_eq!(&body[..], b"good");
    assert!(r2
        .events()
        .contains(&"got_conn reused=false was_idle=false".to_string()));
}

#[tokio::test]
async fn response_header_timeout_on_stalling_server() {
    let peer = ScriptedPeer::start(stalling_then_good()).await.unwrap();
    let client = support::builder()
        .response_header_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let start = Instant::now();
    let err = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("stalled");
    let elapsed = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        err.timeout_kind(),
        Some(TimeoutKind::ResponseHeader),
        "{err:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(rec.count("retry"), 0, "{}", rec.dump());
    assert!(peer.wait_finished(0, Duration::from_secs(5)).await);
    let r2 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r2).await.unwrap();
    assert_eq!(&body[..], b"good");
}

#[tokio::test]
async fn response_header_timeout_does_not_limit_the_body() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
        .sleep(Duration::from_millis(600))
        .write("world")
        .hold()])
    .await
    .unwrap();
    let client = support::builder()
        .response_header_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let (status, body) = get_traced(&client, &peer.url("/"), &rec)
        .await
        .expect("the head came in time; a slow body is fine");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"helloworld");
}

#[tokio::test]
async fn slow_server_within_timeout_succeeds() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .sleep(Duration::from_millis(100))
        .write(ok_response("slow"))
        .hold()])
    .await
    .unwrap();
    let client = support::builder()
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &rec)
        .await
        .expect("within the timeout");
    assert_eq!(&body[..], b"slow");
}

#[tokio::test]
async fn dropping_execute_future_cancels_and_does_not_pool() {
    let peer = ScriptedPeer::start(stalling_then_good()).await.unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let fut = client.get(&peer.url("/")).trace(rec.trace()).send();
    // Drop the future mid-request (the server has the head and never answers).
    let res = tokio::time::timeout(Duration::from_millis(300), fut).await;
    assert!(res.is_err(), "the stalled request cannot have completed");
    assert!(rec.has("wrote_request nil"), "mid-request: {}", rec.dump());
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());

    // The half-used connection is closed, not pooled.
    assert!(
        peer.wait_finished(0, Duration::from_secs(5)).await,
        "the abandoned connection must be closed when the future is dropped"
    );
    let r2 = Recorder::new();
    let (status, body) = get_traced(&client, &peer.url("/"), &r2)
        .await
        .expect("next request works");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"good");
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("connect_start"), 1);
    assert_eq!(peer.connections_accepted(), 2);
}

#[tokio::test]
async fn dropping_body_mid_way_closes_connection() {
    let peer = ScriptedPeer::start(vec![
        Script::new()
            .read_head()
            .write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .hold(),
        Script::new().read_head().write(ok_response("good")).hold(),
    ])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.get(&peer.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = guard(body.chunk()).await.unwrap().expect("some data");
    assert_eq!(&first[..], b"hello");
    drop(body);
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
    assert!(peer.wait_finished(0, Duration::from_secs(5)).await);
    let r2 = Recorder::new();
    let (_, b) = get_traced(&client, &peer.url("/"), &r2).await.unwrap();
    assert_eq!(&b[..], b"good");
    assert!(r2
        .events()
        .contains(&"got_conn reused=false was_idle=false".to_string()));
}
