//! A loopback port with no listener: connect_done carries the error.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_reported_by_connect_done() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let run = run([&url, "--http1.1", "--dns", "hosts", "--events", "ndjson"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    assert_eq!(
        canonical(&evs),
        ["get_conn", "connect_start", "connect_done", "result"],
        "{evs:#?}"
    );
    assert!(first_named(&evs, "connect_done")["err"].is_string());
    let r = result_of(&evs, 0);
    assert_eq!(r["status"], Value::Null);
    assert!(r["err"].is_string());
}
