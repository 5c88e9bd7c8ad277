//! Helpers shared by the CLI's integration tests: run the built binary, parse its NDJSON, check
//! the event schema of product.md §4, and reduce a request's events the way the conformance
//! normalizer does (tracks, consecutive header fields collapsed).
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// The outcome of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Run the `httptrace` binary with `args` (off the async runtime, so in-test servers keep
/// serving), killing it after 60 s.
pub async fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    tokio::task::spawn_blocking(move || run_blocking(&args))
        .await
        .expect("runner thread")
}

fn run_blocking(args: &[String]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_httptrace"))
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httptrace");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    assert!(
        status.is_some(),
        "httptrace {args:?} did not finish in 60 s\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Run {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

/// Parse every stdout line as a JSON object, checking that each starts with
/// `{"event":..,"req":..,"t_us":..` in that order.
pub fn events(run: &Run) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for (i, line) in run.stdout.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("stdout line {} is not JSON ({e}): {line:?}\n{run:?}", i + 1)
        });
        let Value::Object(m) = v else {
            panic!("stdout line {} is not an object: {line}", i + 1)
        };
        let name = m
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("line {} has no event: {line}", i + 1));
        let prefix = format!("{{\"event\":{},\"req\":", Value::from(name));
        assert!(line.starts_with(&prefix), "key order: {line}");
        let after_req = &line[prefix.len()..];
        let comma = after_req.find(',').unwrap_or(after_req.len());
        assert!(
            after_req[comma..].starts_with(",\"t_us\":"),
            "t_us must follow req: {line}"
        );
        out.push(m);
    }
    out
}

pub fn name(e: &Map<String, Value>) -> &str {
    e.get("event").and_then(Value::as_str).unwrap_or("")
}

pub fn req(e: &Map<String, Value>) -> u64 {
    e.get("req").and_then(Value::as_u64).expect("req")
}

/// Events of request `r`, in order.
pub fn of_req(evs: &[Map<String, Value>], r: u64) -> Vec<Map<String, Value>> {
    evs.iter().filter(|e| req(e) == r).cloned().collect()
}

pub const GO_EVENTS: [&str; 16] = [
    "get_conn",
    "got_conn",
    "put_idle_conn",
    "got_first_response_byte",
    "got_100_continue",
    "got_1xx_response",
    "dns_start",
    "dns_done",
    "connect_start",
    "connect_done",
    "tls_handshake_start",
    "tls_handshake_done",
    "wrote_header_field",
    "wrote_headers",
    "wait_100_continue",
    "wrote_request",
];

pub const BEYOND_GO_EVENTS: [&str; 10] = [
    "request_start",
    "request_done",
    "retry",
    "redirect",
    "got_response_headers",
    "response_body_done",
    "conn_closed",
    "pool_wait_start",
    "pool_wait_done",
    "new_conn",
];

fn is_err(v: &Value) -> bool {
    v.is_null() || v.is_string()
}

/// The fields of a Go event or `result`, in order, with a type check for each.
/// A field name and its type check.
type FieldCheck = (&'static str, fn(&Value) -> bool);

fn expected(name: &str) -> Option<Vec<FieldCheck>> {
    let string: fn(&Value) -> bool = Value::is_string;
    let boolean: fn(&Value) -> bool = Value::is_boolean;
    let uint: fn(&Value) -> bool = Value::is_u64;
    let err: fn(&Value) -> bool = is_err;
    let strings: fn(&Value) -> bool =
        |v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let str_or_null: fn(&Value) -> bool = |v| v.is_null() || v.is_string();
    let uint_or_null: fn(&Value) -> bool = |v| v.is_null() || v.is_u64();
    let header: fn(&Value) -> bool = |v| {
        v.as_object().is_some_and(|m| {
            m.values()
                .all(|l| l.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        })
    };
    Some(match name {
        "get_conn" => vec![("host_port", string)],
        "dns_start" => vec![("host", string)],
        "dns_done" => vec![("addrs", strings), ("coalesced", boolean), ("err", err)],
        "connect_start" => vec![("network", string), ("addr", string)],
        "connect_done" => vec![("network", string), ("addr", string), ("err", err)],
        "tls_handshake_start"
        | "wrote_headers"
        | "wait_100_continue"
        | "got_100_continue"
        | "got_first_response_byte" => vec![],
        "tls_handshake_done" => vec![
            ("version", str_or_null),
            ("alpn", str_or_null),
            ("server_name", string),
            ("resumed", boolean),
            ("err", err),
        ],
        "got_conn" => vec![
            ("reused", boolean),
            ("was_idle", boolean),
            ("idle_time_us", uint),
        ],
        "put_idle_conn" | "wrote_request" => vec![("err", err)],
        "wrote_header_field" => vec![("key", string), ("values", strings)],
        "got_1xx_response" => vec![("code", uint), ("header", header)],
        "result" => vec![("status", uint_or_null), ("err", err), ("body_bytes", uint)],
        _ => return None,
    })
}

/// Check every event: `event`, `req` and `t_us` present and integral, the exact field set of
/// product.md §4 for Go's events and `result`, and (unless `allow_beyond_go`) no other event.
/// `t_us` never decreases from one line to the next.
pub fn check_schema(evs: &[Map<String, Value>], allow_beyond_go: bool) {
    let mut last_t = 0;
    for e in evs {
        let n = name(e);
        assert!(e.get("req").is_some_and(Value::is_u64), "req: {e:?}");
        let t = e.get("t_us").and_then(Value::as_u64).expect("t_us integer");
        assert!(t >= last_t, "t_us went backwards at {e:?}");
        last_t = t;
        match expected(n) {
            Some(fields) => {
                let keys: Vec<&str> = e.keys().map(String::as_str).collect();
                let mut want: Vec<&str> = vec!["event", "req", "t_us"];
                want.extend(fields.iter().map(|(k, _)| *k));
                let mut got_sorted = keys.clone();
                got_sorted.sort_unstable();
                want.sort_unstable();
                assert_eq!(got_sorted, want, "fields of {n}: {e:?}");
                for (k, ok) in fields {
                    assert!(ok(&e[k]), "{n}.{k} has the wrong type: {e:?}");
                }
            }
            None => {
                assert!(
                    allow_beyond_go && BEYOND_GO_EVENTS.contains(&n),
                    "unexpected event {n:?}: {e:?}"
                );
            }
        }
    }
}

fn track(n: &str) -> usize {
    match n {
        "get_conn"
        | "dns_start"
        | "dns_done"
        | "connect_start"
        | "connect_done"
        | "tls_handshake_start"
        | "tls_handshake_done"
        | "got_conn" => 0,
        "wrote_header_field" | "wrote_headers" | "wait_100_continue" | "wrote_request" => 1,
        "result" => 3,
        _ => 2,
    }
}

/// A request's event names in the conformance runner's canonical order (conn track, write
/// track, read track, result last; runs of wrote_header_field become one `headers`).
pub fn canonical(evs: &[Map<String, Value>]) -> Vec<String> {
    let mut named: Vec<(usize, usize, &str)> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| (track(name(e)), i, name(e)))
        .collect();
    named.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, _, n) in named {
        if n == "wrote_header_field" {
            if out.last().map(String::as_str) != Some("headers") {
                out.push("headers".into());
            }
        } else {
            out.push(n.to_string());
        }
    }
    out
}

/// The one `result` event of request `r`.
pub fn result_of(evs: &[Map<String, Value>], r: u64) -> Map<String, Value> {
    let rs: Vec<_> = of_req(evs, r)
        .into_iter()
        .filter(|e| name(e) == "result")
        .collect();
    assert_eq!(rs.len(), 1, "exactly one result for req {r}: {evs:?}");
    rs.into_iter().next().unwrap_or_default()
}

pub fn first_named(evs: &[Map<String, Value>], n: &str) -> Map<String, Value> {
    evs.iter()
        .find(|e| name(e) == n)
        .cloned()
        .unwrap_or_else(|| panic!("no {n} event in {evs:?}"))
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}
