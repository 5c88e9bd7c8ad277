//! `--resolve HOST:PORT:ADDR` answers a name without asking any resolver.

mod common;

use common::*;
use httptrace_peers::Server;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_maps_a_name_to_an_address() {
    let srv = Server::hello().start().await.expect("server");
    let url = format!("http://example.test:{}/", srv.port());
    let entry = format!("example.test:{}:127.0.0.1", srv.port());
    let run = run([
        url.as_str(),
        "--resolve",
        entry.as_str(),
        "--dns",
        "hosts",
        "--events",
        "ndjson",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    assert_eq!(first_named(&evs, "dns_start")["host"], "example.test");
    let done = first_named(&evs, "dns_done");
    assert_eq!(done["addrs"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(done["err"], Value::Null);
    assert_eq!(result_of(&evs, 0)["status"], 200);
    assert_eq!(
        srv.requests()[0].header("host"),
        Some(format!("example.test:{}", srv.port()).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_resolve_entry_is_a_usage_error() {
    let run = run(["http://example.test/", "--resolve", "example.test:80"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
}
