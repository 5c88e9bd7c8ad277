//! Interim responses on HTTP/1.1: Go's scenarios (g) and (h), the 1xx limit, 101, unsolicited 100.

mod support;

use std::error::Error as _;
use std::time::Duration;

use httptrace_peers::{Response, Script, ScriptedPeer, Server};
use support::{
    get_traced, guard, ok_response, seq, strs, HookError, Recorder, EXCHANGE, PUT_IDLE, TCP_DIAL,
};

fn links(h: &http::HeaderMap) -> Vec<String> {
    h.get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn two_early_hints_then_200() {
    let srv = Server::builder()
        .handler(|_| {
            Response::hello()
                .early_hints(&["</a.css>; rel=preload"])
                .early_hints(&["</a.css>; rel=preload", "</b.js>; rel=preload"])
        })
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(client.get(&srv.url("/")).trace(rec.trace()).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("link").is_none(),
        "1xx headers must not leak into the final response"
    );
    let body = guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(&body[..], b"Hello, world!");

    assert_eq!(
        rec.go_names(),
        seq(&[TCP_DIAL, EXCHANGE, &["got_1xx", "got_1xx"], PUT_IDLE]),
        "events:\n  {}",
        rec.dump()
    );
    assert_eq!(rec.count("got_first_response_byte"), 1);
    assert_eq!(rec.count("got_100_continue"), 0);
    let hints = rec.got_1xx();
    assert_eq!(hints.len(), 2);
    assert_eq!(hints[0].0, 103);
    assert_eq!(hints[1].0, 103);
    assert_eq!(links(&hints[0].1), strs(&["</a.css>; rel=preload"]));
    assert_eq!(
        links(&hints[1].1),
        strs(&["</a.css>; rel=preload", "</b.js>; rel=preload"])
    );
    assert!(rec.has("put_idle_conn nil"));
}

#[tokio::test]
async fn hook_error_aborts_and_closes_connection() {
    let srv = Server::builder()
        .handler(|_| Response::hello().early_hints(&["</a.css>; rel=preload"]))
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::aborting_1xx("stop");
    let err = guard(client.get(&srv.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("the hook's error must abort the request");
    assert!(err.is_hook(), "{err:?}");
    let src = err.source().and_then(|s| s.downcast_ref::<HookError>());
    assert_eq!(src, Some(&HookError("stop".into())), "{err:?}");
    assert_eq!(rec.count("got_1xx"), 1);
    assert_eq!(rec.count("put_idle_conn"), 0, "{}", rec.dump());
    assert_eq!(rec.count("retry"), 0, "never retried: {}", rec.dump());
    assert!(rec.has("wrote_request nil"));

    // The connection was closed: the next request dials.
    let r2 = Recorder::new();
    let (status, _) = get_traced(&client, &srv.url("/"), &r2).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        r2.has("got_conn reused=false was_idle=false"),
        "{}",
        r2.dump()
    );
    assert_eq!(r2.count("connect_start"), 1);
    assert!(srv.wait_connections(2, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn six_interim_responses_fail_after_five_hook_calls() {
    let mut resp = Response::hello();
    for i in 0..6 {
        resp = resp.informational(103, vec![("Link".into(), format!("</{i}>"))]);
    }
    let srv = Server::builder()
        .handler(move |_| resp.clone())
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let err = guard(client.get(&srv.url("/")).trace(rec.trace()).send())
        .await
        .expect_err("6 interim responses exceed the limit of 5");
    assert!(err.is_too_many_1xx(), "{err:?}");
    assert_eq!(rec.count("got_1xx"), 5, "{}", rec.dump());
    assert_eq!(rec.count("put_idle_conn"), 0);
}

#[tokio::test]
async fn five_interim_responses_are_accepted() {
    let mut resp = Response::hello();
    for _ in 0..5 {
        resp = resp.informational(103, vec![]);
    }
    let srv = Server::builder()
        .handler(move |_| resp.clone())
        .start()
        .await
        .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let (status, _) = get_traced(&client, &srv.url("/"), &rec)
        .await
        .expect("5 is the limit, not over");
    assert_eq!(status, 200);
    assert_eq!(rec.count("got_1xx"), 5);
}

#[tokio::test]
async fn switching_protocols_101_is_final() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: example\r\n\r\n",
        )
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(
        client
            .get(&peer.url("/"))
            .header("Connection", "Upgrade")
            .header("Upgrade", "example")
            .trace(rec.trace())
            .send(),
    )
    .await
    .expect("101 is a final response");
    assert_eq!(resp.status(), 101);
    assert_eq!(rec.count("got_1xx"), 0, "{}", rec.dump());
    assert_eq!(rec.count("got_first_response_byte"), 1);
    drop(resp);
    assert_eq!(
        rec.count("put_idle_conn"),
        0,
        "a 101 connection is never pooled: {}",
        rec.dump()
    );
}

#[tokio::test]
async fn unsolicited_100_fires_only_got_1xx() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_head()
        .write(format!(
            "HTTP/1.1 100 Continue\r\n\r\n{}",
            ok_response("ok")
        ))
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let (status, body) = get_traced(&client, &peer.url("/"), &rec).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"ok");
    assert_eq!(rec.count("got_1xx"), 1, "{}", rec.dump());
    assert!(rec.has("got_1xx 100"));
    assert_eq!(
        rec.count("got_100_continue"),
        0,
        "no Expect sent: {}",
        rec.dump()
    );
    assert_eq!(rec.count("wait_100_continue"), 0);
}

#[tokio::test]
async fn unsolicited_100_on_post_without_expect() {
    let peer = ScriptedPeer::start(vec![Script::new()
        .read_request()
        .write(format!(
            "HTTP/1.1 100 Continue\r\n\r\n{}",
            ok_response("ok")
        ))
        .hold()])
    .await
    .unwrap();
    let client = support::client();
    let rec = Recorder::new();
    let resp = guard(
        client
            .post(&peer.url("/"))
            .body("data")
            .trace(rec.trace())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    guard(resp.into_body().bytes()).await.unwrap();
    assert_eq!(rec.count("got_1xx"), 1);
    assert_eq!(rec.count("got_100_continue"), 0, "{}", rec.dump());
}
