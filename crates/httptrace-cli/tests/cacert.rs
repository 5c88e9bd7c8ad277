//! `--cacert`: the file is checked when the client is built, and for an https URL the TLS
//! configuration is built before the request starts (the library defers it to the first TLS
//! handshake), so a certificate webpki cannot use stops the run before any connection.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_ca_certificate_stops_an_https_run_before_connecting() {
    let dir = std::env::temp_dir().join(format!("httptrace-cli-cacert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.pem");
    // Valid PEM around a DER value that is no certificate.
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nMAMBAgM=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.join("missing.pem");
    let url = format!("https://127.0.0.1:{}/", closed_port());
    for (file, want) in [
        (&bad, "unusable trusted certificate"),
        (&missing, "cannot read CA file"),
    ] {
        let file = file.to_str().unwrap();
        let run = run([&url, "--cacert", file, "--events", "ndjson"]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("configuring the client"), "{run:?}");
        assert!(run.stderr.contains(want), "{run:?}");
        assert!(
            !run.stdout.contains("connect_start"),
            "no connection was attempted: {run:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
