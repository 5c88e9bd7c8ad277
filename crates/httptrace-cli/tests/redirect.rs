//! Redirects: returned as they are by default, followed with `-L` (within `--max-redirs`).

mod common;

use common::*;
use httptrace_peers::{Response, Server, ServerHandle};

async fn redirecting_server() -> ServerHandle {
    Server::builder()
        .handler(|req| match req.path() {
            "/old" => Response::new(302).header("Location", "/new"),
            "/loop" => Response::new(302).header("Location", "/loop"),
            _ => Response::hello(),
        })
        .start()
        .await
        .expect("server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_without_location_flag() {
    let srv = redirecting_server().await;
    let run = run([&srv.url("/old"), "--dns", "hosts", "--events", "ndjson"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, false);
    assert_eq!(result_of(&evs, 0)["status"], 302);
    assert_eq!(srv.requests_served(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_flag_follows_and_reports_the_hop() {
    let srv = redirecting_server().await;
    let run = run([
        &srv.url("/old"),
        "-L",
        "--dns",
        "hosts",
        "--events",
        "ndjson-all",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let evs = events(&run);
    check_schema(&evs, true);
    let r = result_of(&evs, 0);
    assert_eq!(r["status"], 200);
    assert_eq!(r["body_bytes"], 13);
    let hop = first_named(&evs, "redirect");
    assert_eq!(hop["status"], 302);
    assert!(
        hop["to"].as_str().is_some_and(|t| t.ends_with("/new")),
        "{hop:?}"
    );

    let looping = common::run([&srv.url("/loop"), "-L", "--max-redirs", "3"]).await;
    assert_eq!(looping.code, Some(1), "{looping:?}");
    assert!(looping.stderr.starts_with("httptrace: "), "{looping:?}");
}
