//! `--no-keepalive`: every request dials, sends `Connection: close`, never pools.

mod common;

use common::*;
use httptrace_peers::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_keepalive_dials_each_time_and_sends_connection_close() {
    let srv = Server::hello().start().await.expect("server");
    let url = srv.url("/");
    let run = run([
        &url,
        "--http1.1",
        "--repeat",
        "2",
        "--no-keepalive",
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    assert!(evs.iter().all(|e| name(e) != "put_idle_conn"), "{evs:#?}");
    for r in 0..2 {
        let mine = of_req(&evs, r);
        assert_eq!(
            canonical(&mine),
            [
                "get_conn",
                "connect_start",
                "connect_done",
                "got_conn",
                "headers",
                "wrote_headers",
                "wrote_request",
                "got_first_response_byte",
                "result"
            ],
            "req {r}: {mine:#?}"
        );
        assert!(
            mine.iter().any(|e| name(e) == "wrote_header_field"
                && e["key"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case("connection"))
                && e["values"] == serde_json::json!(["close"])),
            "Connection: close reported for req {r}: {mine:#?}"
        );
    }
    assert_eq!(srv.connections_accepted(), 2);
}
