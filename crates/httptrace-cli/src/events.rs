//! Trace events and the recorder that writes or collects them.
//!
//! An [`Event`] is one hook call rendered the way Go's conformance oracle renders it
//! (`oracle/events.go`): a snake_case name and its fields in a fixed order. The [`Recorder`]
//! stamps each event with its request index and the time since the run started, then either
//! writes it as one NDJSON line (`--events`) or keeps it for the human output and the demo.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Go's sixteen `httptrace.ClientTrace` hooks, by their NDJSON names.
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

/// The events httptrace adds beyond Go (only with `--events ndjson-all`).
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

/// One hook call: its name and fields, in output order.
#[derive(Clone, Debug)]
pub struct Event {
    /// Snake-case event name (`get_conn`, ..., `result`).
    pub name: &'static str,
    /// Fields after `event`, `req` and `t_us`, in order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Event {
    /// An event without fields.
    pub fn new(name: &'static str) -> Event {
        Event {
            name,
            fields: Vec::new(),
        }
    }

    /// Append a field.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Event {
        self.fields.push((key, value.into()));
        self
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// An event as recorded: request index and time since the run started.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// 0-based request index.
    pub req: usize,
    /// Time since the recorder was created.
    pub t: Duration,
    /// The event.
    pub event: Event,
}

/// What the recorder does with events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// Write NDJSON lines to stdout (buffered; see [`Recorder::flush`]). With `go_only`, any
    /// event other than Go's sixteen and `result` is dropped (the conformance contract).
    Ndjson {
        /// Keep only [`GO_EVENTS`] and `result`.
        go_only: bool,
    },
    /// Keep them in memory.
    Collect,
}

/// Records events in call order. Hooks run on several tasks, so every event takes one lock;
/// the order of lines is the order in which the hooks took it, and `t_us` is read under the
/// lock so it never decreases from one line to the next.
pub struct Recorder {
    start: Instant,
    sink: Sink,
    /// NDJSON bytes not yet written to stdout.
    pending: Mutex<Vec<u8>>,
    /// Serializes flushes so that chunks reach stdout in the order they were taken.
    flushing: Mutex<()>,
    collected: Mutex<Vec<Recorded>>,
    count: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new(sink: Sink) -> Recorder {
        Recorder {
            start: Instant::now(),
            sink,
            pending: Mutex::new(Vec::with_capacity(16 * 1024)),
            flushing: Mutex::new(()),
            collected: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        }
    }

    /// Time since the recorder was created.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Record `event` for request `req`.
    pub fn emit(&self, req: usize, event: Event) {
        match self.sink {
            Sink::Ndjson { go_only } => {
                if go_only && event.name != "result" && !GO_EVENTS.contains(&event.name) {
                    return;
                }
                let mut buf = lock(&self.pending);
                let t = self.start.elapsed();
                write_line(&mut buf, req, t, &event);
            }
            Sink::Collect => {
                let mut v = lock(&self.collected);
                let t = self.start.elapsed();
                v.push(Recorded { req, t, event });
            }
        }
        self.count.fetch_add(1, Ordering::Release);
    }

    /// Write the pending NDJSON lines to stdout.
    pub fn flush(&self) -> io::Result<()> {
        let _order = lock(&self.flushing);
        let chunk = std::mem::take(&mut *lock(&self.pending));
        if chunk.is_empty() {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        out.write_all(&chunk)?;
        out.flush()
    }

    /// Wait until no event was recorded for `quiet`, or `max` elapsed. Some hooks fire after
    /// the request's result (a losing connect attempt, a body write given up after an early
    /// final response); Go's oracle waits the same way (50 ms quiet, at most 1 s).
    pub async fn settle(&self, quiet: Duration, max: Duration) {
        let deadline = tokio::time::Instant::now() + max;
        let mut seen = self.count.load(Ordering::Acquire);
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(quiet).await;
            let now = self.count.load(Ordering::Acquire);
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// The collected events (empty for an NDJSON recorder), in call order.
    pub fn collected(&self) -> Vec<Recorded> {
        lock(&self.collected).clone()
    }
}

/// Append one NDJSON line: `{"event":..,"req":..,"t_us":..,<fields>}`.
fn write_line(buf: &mut Vec<u8>, req: usize, t: Duration, event: &Event) {
    // Writing into a Vec cannot fail, and every value is a plain JSON value.
    buf.extend_from_slice(b"{\"event\":");
    let _ = serde_json::to_writer(&mut *buf, event.name);
    let _ = write!(buf, ",\"req\":{req},\"t_us\":{}", t.as_micros());
    for (k, v) in &event.fields {
        buf.push(b',');
        let _ = serde_json::to_writer(&mut *buf, k);
        buf.push(b':');
        let _ = serde_json::to_writer(&mut *buf, v);
    }
    buf.extend_from_slice(b"}\n");
}

/// An error as one line: its message followed by every cause in its `source()` chain that the
/// message does not already include.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let m = e.to_string();
        if !m.is_empty() && !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = e.source();
    }
    s
}

/// An optional error as Go's oracle renders it: its text, or `null`.
pub fn err_value(err: Option<&(dyn StdError + 'static)>) -> Value {
    match err {
        Some(e) => Value::String(error_chain(e)),
        None => Value::Null,
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`. Names with bytes
/// outside the token set are returned unchanged, as Go does.
pub fn canonical_header_name(name: &str) -> String {
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// A header map as Go's `textproto.MIMEHeader` renders in JSON: canonical names (sorted, as
/// `encoding/json` sorts map keys) to their values in order.
pub fn header_object(headers: &http::HeaderMap) -> Value {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, value) in headers {
        m.entry(canonical_header_name(name.as_str()))
            .or_default()
            .push(Value::String(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
    }
    Value::Object(m.into_iter().map(|(k, v)| (k, Value::Array(v))).collect())
}

/// `CamelCase` (a `Debug` rendering of a unit variant) as `snake_case`; anything from `(` on
/// is dropped.
pub fn snake_case(debug: &str) -> String {
    let head = debug.split(['(', ' ', '{']).next().unwrap_or(debug);
    let mut s = String::with_capacity(head.len() + 4);
    for (i, c) in head.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// One event as a short readable line (`got_conn reused=false was_idle=false`), for the demo
/// and `-v`.
pub fn describe(ev: &Event) -> String {
    match ev.name {
        "wrote_header_field" => {
            let key = ev.get("key").and_then(Value::as_str).unwrap_or("");
            let values = match ev.get("values") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            format!("wrote_header_field  {key}: {values}")
        }
        "got_1xx_response" => {
            let code = ev.get("code").map(plain).unwrap_or_default();
            let mut s = format!("got_1xx_response {code}");
            if let Some(Value::Object(h)) = ev.get("header") {
                for (k, vs) in h {
                    if let Value::Array(vs) = vs {
                        for v in vs {
                            s.push_str(&format!("  {k}: {}", v.as_str().unwrap_or("")));
                        }
                    }
                }
            }
            s
        }
        _ => {
            let mut s = ev.name.to_string();
            for (k, v) in &ev.fields {
                s.push(' ');
                s.push_str(k);
                s.push('=');
                s.push_str(&plain(v));
            }
            s
        }
    }
}

/// A JSON value for a human: strings unquoted when they are one word, others as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_header_name("link"), "Link");
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("x-a-b"), "X-A-B");
        assert_eq!(canonical_header_name("bad name"), "bad name");
    }

    #[test]
    fn line_shape() {
        let mut buf = Vec::new();
        let ev = Event::new("wrote_header_field")
            .with("key", "Link")
            .with("values", vec!["</a.css>; rel=preload"]);
        write_line(&mut buf, 3, Duration::from_micros(1234), &ev);
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "{\"event\":\"wrote_header_field\",\"req\":3,\"t_us\":1234,\"key\":\"Link\",\
             \"values\":[\"</a.css>; rel=preload\"]}\n"
        );
    }

    #[test]
    fn snake() {
        assert_eq!(snake_case("DeadPooledConnection"), "dead_pooled_connection");
        assert_eq!(snake_case("IdleConnsUnusable(3)"), "idle_conns_unusable");
        assert_eq!(snake_case("Http2Stream"), "http2_stream");
    }
}
