//! `--json`: one summary object per request.

mod common;

use common::*;
use httptrace_peers::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_summary_per_request() {
    let srv = Server::hello().start().await.expect("server");
    let run = run([srv.url("/").as_str(), "--json", "--repeat", "2"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["body_bytes"], 13);
    assert_eq!(lines[1]["reused"], true);
    assert!(lines[0]["timings_ms"]["total"].is_number());
    assert!(lines[1]["timings_ms"]["connect"].is_null());
}
