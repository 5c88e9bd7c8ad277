//! `--events ndjson` emits only Go's hooks and `result`; `ndjson-all` adds the beyond-Go events.

mod common;

use common::*;
use httptrace_peers::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_is_go_only_and_ndjson_all_adds_more() {
    let srv = Server::hello().start().await.expect("server");
    let url = srv.url("/");
    let go = run([
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
    assert_eq!(go.code, Some(0), "{go:?}");
    let evs = events(&go);
    check_schema(&evs, false);
    assert!(evs
        .iter()
        .all(|e| GO_EVENTS.contains(&name(e)) || name(e) == "result"));

    let all = run([
        &url,
        "--http1.1",
        "--repeat",
        "2",
        "--dns",
        "hosts",
        "--events",
        "ndjson-all",
    ])
    .await;
    assert_eq!(all.code, Some(0), "{all:?}");
    let evs = events(&all);
    check_schema(&evs, true);
    let names: Vec<&str> = evs.iter().map(name).collect();
    for n in [
        "request_start",
        "got_response_headers",
        "response_body_done",
        "request_done",
    ] {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
    let rs = first_named(&evs, "request_start");
    assert_eq!(rs["method"], "GET");
    assert_eq!(rs["attempt"], 0);
    // The Go events keep their shape in ndjson-all.
    assert_eq!(result_of(&evs, 1)["body_bytes"], 13);
}
