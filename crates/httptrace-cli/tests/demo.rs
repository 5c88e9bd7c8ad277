//! `httptrace demo` runs offline and shows every stop.

mod common;

use common::*;

const STOPS: [&str; 8] = [
    "Fresh connection",
    "Connection reuse",
    "DNS lookup of localhost",
    "POST with Expect: 100-continue",
    "103 Early Hints",
    "HTTPS (TLS, HTTP/1.1)",
    "HTTP/2: two multiplexed requests",
    "HTTPS through a CONNECT proxy",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_every_stop() {
    let run = run(["demo"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    for (i, title) in STOPS.iter().enumerate() {
        let heading = format!("== {}/8  {title}", i + 1);
        assert!(
            run.stdout.contains(&heading),
            "missing {heading:?}:\n{}",
            run.stdout
        );
    }
    // The plain HTTP/1.1 stops show their hooks.
    for hook in [
        "get_conn",
        "connect_start",
        "got_conn reused=true",
        "dns_start",
        "wait_100_continue",
        "got_1xx_response 103",
    ] {
        assert!(run.stdout.contains(hook), "missing {hook}:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("Tour done"), "{}", run.stdout);
}
