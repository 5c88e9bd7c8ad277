//! Retry of replayable requests on a dead reused connection (Go's scenario (n), race case).

mod support;

use std::time::Duration;

use httptrace_peers::{Script, ScriptedPeer};
use support::{get_traced, guard, ok_response, Recorder};

/// Connection 0 answers one request with keep-alive, then reads the next request's head and
/// dies (`close` or `reset`) without answering. Connection 1 answers normally.
async fn dying_peer(reset: bool, second: Script) -> httptrace_peers::PeerHandle {
    let mut s0 = Script::new()
        .read_request()
        .write(ok_response("first"))
        .read_head();
    s0 = if reset { s0.reset() } else { s0.close() };
    ScriptedPeer::start(vec![s0, second]).await.unwrap()
}

fn good_second() -> Script {
    Script::new()
        .read_request()
        .write(ok_response("retried"))
        .hold()
}

async fn retry_get(reset: bool) {
    let peer = dying_peer(reset, good_second()).await;
    let client = support::client();
    let r1 = Recorder::new();
    let (_, body) = get_traced(&client, &peer.url("/"), &r1).await.unwrap();
    assert_eq!(&body[..], b"first");

    let r2 = Recorder::new();
    let (status, body) = get_traced(&client, &peer.url("/"), &r2)
        .await
        .expect("a GET on a dead reused connection must be retried");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"retried");

    let ev = r2.events();
    let first_got = r2.pos("got_conn").unwrap();
    assert_eq!(
        ev[first_got],
        "got_conn reused=true was_idle=true",
        "{}",
        r2.dump()
    );
    let first_wrote = r2
        .pos("wrote_request")
        .expect("first attempt wrote its request");
    assert_eq!(ev[first_wrote], "wrote_request nil", "{}", r2.dump());
    let retry = r2.pos("retry").expect("retry hook");
    assert!(first_wrote < retry, "{}", r2.dump());
    // The second attempt: get_conn again, a fresh dial, got_conn reused=false.
    let after: Vec<&String> = ev[retry..].iter().collect();
    let second_get = after
        .iter()
        .position(|e| e.starts_with("get_conn"))
        .expect("get_conn again");
    let second_got = after
        .iter()
        .position(|e| e.starts_with("got_conn"))
        .expect("got_conn again");
    assert!(second_get < second_got);
    assert_eq!(
        after[second_got],
        "got_conn reused=false was_idle=false",
        "{}",
        r2.dump()
    );
    assert!(after.iter().any(|e| e.starts_with("connect_start")));
    assert_eq!(r2.count("retry"), 1, "{}", r2.dump());
    assert_eq!(r2.count("get_conn"), 2);
    assert_eq!(r2.count("got_conn"), 2);
    assert_eq!(r2.count("wrote_request"), 2);
    assert_eq!(r2.count("got_first_response_byte"), 1, "{}", r2.dump());
    assert_eq!(r2.count("put_idle_conn"), 1);
    assert!(ev.contains(&"put_idle_conn nil".to_string()));
    assert_eq!(r2.retries()[0].attempt, 1);
    assert_eq!(peer.connections_accepted(), 2);
}

#[tokio::test]
async fn get_retried_after_server_close_on_reused_conn() {
    retry_get(false).await;
}

#[tokio::test]
async fn get_retried_after_server_reset_on_reused_conn() {
    retry_get(true).await;
}

#[tokio::test]
async fn post_not_retried_on_dead_reused_conn() {
    let peer = dying_peer(false, good_second()).await;
    let client = support::client();
    let r1 = Recorder::new();
    get_traced(&client, &peer.url("/"), &r1).await.unwrap();

    let r2 = Recorder::new();
    let res = guard(
        client
            .post(&peer.url("/"))
            .body("payload")
            .trace(r2.trace())
            .send(),
    )
    .await;
    let err = res.expect_err("a POST must not be replayed");
    assert!(err.is_io() || err.is_protocol(), "{err:?}");
    assert_eq!(r2.count("retry"), 0, "{}", r2.dump());
    assert_eq!(r2.count("get_conn"), 1);
    // Generous: give a wrong retry time to dial.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.connections_accepted(), 1);
}

#[tokio::test]
async fn post_with_idempotency_key_is_retried() {
    let peer = dying_peer(false, good_second()).await;
    let client = support::client();
    let r1 = Recorder::new();
    get_traced(&client, &peer.url("/"), &r1).await.unwrap();

    let r2 = Recorder::new();
    let resp = guard(
        client
            .post(&peer.url("/"))
            .header("Idempotency-Key", "abc-123")
            .body("payload")
            .trace(r2.trace())
            .send(),
    )
    .await
    .expect("a POST with an idempotency key is replayable");
    assert_eq!(resp.status(), 200);
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&body[..], b"retried");
    assert_eq!(r2.count("retry"), 1, "{}", r2.dump());
    assert!(
        peer.received_string(1).ends_with("payload"),
        "body replayed on the new connection"
    );
}

#[tokio::test]
async fn failure_on_fresh_connection_never_retried() {
    let peer = ScriptedPeer::start(vec![Script::new().read_head().close()])
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let res = guard(client.get(&peer.url("/")).trace(rec.trace()).send()).await;
    let err = res.expect_err("the server closed without answering");
    assert!(err.is_io() || err.is_protocol(), "{err:?}");
    assert_eq!(rec.count("retry"), 0, "{}", rec.dump());
    assert_eq!(rec.count("get_conn"), 1);
    assert!(rec
        .events()
        .contains(&"got_conn reused=false was_idle=false".to_string()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.connections_accepted(), 1);
}

#[tokio::test]
async fn streamed_body_not_retried() {
    // Even a GET-like replayable method cannot be replayed with a one-shot body.
    let peer = dying_peer(false, good_second()).await;
    let client = support::client();
    get_traced(&client, &peer.url("/"), &Recorder::new())
        .await
        .unwrap();
    let r2 = Recorder::new();
    let parts: Vec<Result<bytes::Bytes, std::io::Error>> =
        vec![Ok(bytes::Bytes::from_static(b"x"))];
    let res = guard(
        client
            .put(&peer.url("/"))
            .header("Idempotency-Key", "k")
            .body(httptrace::Body::from_stream(futures_util::stream::iter(
                parts,
            )))
            .trace(r2.trace())
            .send(),
    )
    .await;
    assert!(res.is_err(), "a stream body cannot be replayed");
    assert_eq!(r2.count("retry"), 0, "{}", r2.dump());
}
