//! `--repeat 2`: the second request reuses the idle connection.

mod common;

use common::*;
use httptrace_peers::Server;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_reuses_the_idle_connection() {
    let srv = Server::hello().start().await.expect("server");
    let url = srv.url("/");
    let run = run([
        &url,
        "--http1.1",
        "--repeat",
        "2",
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    let r1 = of_req(&evs, 1);
    assert_eq!(
        canonical(&r1),
        [
            "get_conn",
            "got_conn",
            "headers",
            "wrote_headers",
            "wrote_request",
            "got_first_response_byte",
            "put_idle_conn",
            "result"
        ],
        "{r1:#?}"
    );
    let gc = first_named(&r1, "got_conn");
    assert_eq!(gc["reused"], Value::Bool(true));
    assert_eq!(gc["was_idle"], Value::Bool(true));
    assert!(gc["idle_time_us"].is_u64());
    assert!(first_named(&of_req(&evs, 0), "connect_start")["addr"].is_string());
    for r in 0..2 {
        assert_eq!(result_of(&evs, r)["body_bytes"], 13);
    }
    assert_eq!(srv.connections_accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_runs_every_request_once() {
    let srv = Server::hello().start().await.expect("server");
    let url = srv.url("/");
    let run = run([
        &url,
        "--http1.1",
        "--repeat",
        "6",
        "--concurrency",
        "3",
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    for r in 0..6 {
        assert_eq!(result_of(&evs, r)["status"], 200);
    }
    assert_eq!(srv.requests_served(), 6);
}
