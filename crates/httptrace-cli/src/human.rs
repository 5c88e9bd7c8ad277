//! Output for a person (status line, connection facts, phases in milliseconds) and the
//! `--json` summaries, both computed from the recorded hook timestamps.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use httptrace::Protocol;
use serde_json::{json, Value};

use crate::events::{describe, Recorded};
use crate::run::{BodyOut, Outcome, Plan};

/// ANSI styling, on only when stdout is a terminal and `NO_COLOR` is unset or empty.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Decide from the environment.
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            on: io::stdout().is_terminal() && !no_color,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Dimmed.
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    /// Cyan (numbers).
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
    /// Red.
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Colour for a status code.
    pub fn status(&self, code: u16, s: &str) -> String {
        match code {
            200..=299 => self.paint("1;32", s),
            300..=399 => self.paint("1;33", s),
            _ => self.paint("1;31", s),
        }
    }
}

/// The phases of one request, from its hook timestamps (`None`: the phase did not happen,
/// e.g. no DNS for an IP literal, no connect on a reused connection).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phases {
    /// dns_start → dns_done.
    pub dns: Option<Duration>,
    /// First connect_start → last connect_done.
    pub connect: Option<Duration>,
    /// tls_handshake_start → tls_handshake_done.
    pub tls: Option<Duration>,
    /// wrote_request → first response byte (after it) or the final response head.
    pub server: Option<Duration>,
    /// First response byte / final head → body end.
    pub transfer: Option<Duration>,
    /// Request start → body end.
    pub total: Duration,
    /// The connection was reused (from got_conn).
    pub reused: Option<bool>,
}

fn first<'a>(evs: &'a [&Recorded], name: &str) -> Option<&'a Recorded> {
    evs.iter().copied().find(|r| r.event.name == name)
}

fn last<'a>(evs: &'a [&Recorded], name: &str) -> Option<&'a Recorded> {
    evs.iter().rev().copied().find(|r| r.event.name == name)
}

fn span(a: Option<&Recorded>, b: Option<&Recorded>) -> Option<Duration> {
    Some(b?.t.saturating_sub(a?.t))
}

/// Compute the phases of `o` from `events` (all requests' events; those of `o.req` are used).
/// With retries or redirects, the connection phases are those of the last attempt.
pub fn phases(o: &Outcome, events: &[Recorded]) -> Phases {
    let mine: Vec<&Recorded> = events.iter().filter(|r| r.req == o.req).collect();
    let from = mine
        .iter()
        .rposition(|r| r.event.name == "get_conn")
        .unwrap_or(0);
    let att = &mine[from..];
    let wrote = last(att, "wrote_request");
    let first_byte = wrote.and_then(|w| {
        att.iter()
            .copied()
            .find(|r| r.event.name == "got_first_response_byte" && r.t >= w.t)
    });
    let response = first_byte.or_else(|| last(att, "got_response_headers"));
    Phases {
        dns: span(first(att, "dns_start"), last(att, "dns_done")),
        connect: span(first(att, "connect_start"), last(att, "connect_done")),
        tls: span(
            first(att, "tls_handshake_start"),
            last(att, "tls_handshake_done"),
        ),
        server: span(wrote, response),
        transfer: response
            .filter(|_| o.status.is_some())
            .map(|r| o.end.saturating_sub(r.t)),
        total: o.end.saturating_sub(o.start),
        reused: last(att, "got_conn")
            .and_then(|r| r.event.get("reused"))
            .and_then(Value::as_bool),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Http1 => "HTTP/1.1".into(),
        Protocol::Http2 => "HTTP/2".into(),
        other => format!("{other:?}"),
    }
}

fn version_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// Print every request for a person.
pub fn print_human(plan: &Plan, outcomes: &[Outcome], events: &[Recorded], verbose: bool) {
    let st = Style::detect();
    let mut out = io::stdout().lock();
    // A closed stdout (`| head`) is not an error worth reporting.
    let _ = write_human(&mut out, st, plan, outcomes, events, verbose);
    let _ = out.flush();
}

fn write_human(
    out: &mut impl Write,
    st: Style,
    plan: &Plan,
    outcomes: &[Outcome],
    events: &[Recorded],
    verbose: bool,
) -> io::Result<()> {
    let many = outcomes.len() > 1;
    for (n, o) in outcomes.iter().enumerate() {
        if many {
            if n > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "{}",
                st.bold(&format!(
                    "── request {} of {} ──",
                    o.req + 1,
                    outcomes.len()
                ))
            )?;
        }
        if verbose {
            for r in events.iter().filter(|r| r.req == o.req) {
                let off = ms(r.t.saturating_sub(o.start));
                writeln!(
                    out,
                    "  {}  {}",
                    st.dim(&format!("+{off:.3}ms")),
                    describe(&r.event)
                )?;
            }
        }
        let p = phases(o, events);
        match o.status {
            Some(s) => {
                let line = format!(
                    "{} {} {}",
                    o.version.map(version_name).unwrap_or("HTTP/?"),
                    s.as_u16(),
                    s.canonical_reason().unwrap_or("")
                );
                writeln!(out, "{}", st.status(s.as_u16(), line.trim_end()))?;
            }
            // The error itself is on stderr (`httptrace: ...`), printed when it happened.
            None => writeln!(out, "{}", st.red("No response (the error is on stderr)."))?,
        }
        if verbose {
            if let Some(h) = &o.headers {
                for (k, v) in h {
                    writeln!(out, "< {}: {}", k, String::from_utf8_lossy(v.as_bytes()))?;
                }
            }
        }
        if let Some(c) = &o.conn {
            let tls = match &c.tls {
                Some(t) => {
                    let mut s = t.version.map(|v| v.as_str()).unwrap_or("TLS").to_string();
                    if let Some(a) = t.alpn.as_deref().filter(|a| !a.is_empty()) {
                        s.push(' ');
                        s.push_str(a);
                    }
                    s
                }
                None => "none".into(),
            };
            let reused = match p.reused {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            };
            let via = match &c.proxy {
                Some(px) => format!(", via proxy {px}"),
                None => String::new(),
            };
            // HTTP/1.x connections: name the version the server answered with.
            let protocol = match (c.protocol, o.version) {
                (Protocol::Http1, Some(v)) => version_name(v).to_string(),
                (p, _) => protocol_name(p),
            };
            writeln!(
                out,
                "Connected to {} (reused: {reused}, protocol: {protocol}, TLS: {tls}{via})",
                c.remote_addr
            )?;
        }
        writeln!(out)?;
        let rows: [(&str, Option<Duration>); 6] = [
            ("DNS lookup", p.dns),
            ("TCP connect", p.connect),
            ("TLS handshake", p.tls),
            ("Server processing", p.server),
            ("Content transfer", p.transfer),
            ("Total", Some(p.total)),
        ];
        for (label, d) in rows {
            let v = match d {
                Some(d) => st.cyan(&format!("{:>9.3} ms", ms(d))),
                None => st.dim(&format!("{:>9}", "-")),
            };
            writeln!(out, "  {:<18} {v}", label)?;
        }
        if o.status.is_some() {
            let dest = match &plan.body_out {
                // The error below says why the body is not (all) where -o sends it.
                BodyOut::File(_) | BodyOut::Stdout if o.req == 0 && o.err.is_some() => {
                    "not saved: see the error".into()
                }
                BodyOut::File(p) if o.req == 0 => format!("saved to {}", p.display()),
                BodyOut::Stdout if o.req == 0 => "written to stdout".into(),
                _ => "discarded; -o FILE saves it".into(),
            };
            writeln!(out, "  {:<18} {} bytes ({dest})", "Body", o.body_bytes)?;
        }
        if let (Some(e), Some(_)) = (&o.err, o.status) {
            writeln!(out, "  {} {e}", st.red("error:"))?;
        }
    }
    Ok(())
}

fn ms_value(d: Option<Duration>) -> Value {
    match d {
        Some(d) => json!((ms(d) * 1000.0).round() / 1000.0),
        None => Value::Null,
    }
}

/// One JSON summary for a request.
pub fn summary(plan: &Plan, o: &Outcome, events: &[Recorded]) -> Value {
    let p = phases(o, events);
    let conn = o.conn.as_ref();
    let tls = conn.and_then(|c| c.tls.as_ref());
    json!({
        "req": o.req,
        "url": plan.url.to_string(),
        "method": plan.method.as_str(),
        "status": o.status.map(|s| s.as_u16()),
        "http_version": o.version.map(version_name),
        "err": o.err,
        "body_bytes": o.body_bytes,
        "remote_addr": conn.map(|c| c.remote_addr.to_string()),
        "conn_id": conn.map(|c| c.id),
        "reused": p.reused,
        "protocol": conn.map(|c| protocol_name(c.protocol)),
        "proxy": conn.and_then(|c| c.proxy.as_ref()).map(|u| u.to_string()),
        "tls_version": tls.and_then(|t| t.version).map(|v| v.as_str()),
        "alpn": tls.and_then(|t| t.alpn.clone()),
        "timings_ms": {
            "dns": ms_value(p.dns),
            "connect": ms_value(p.connect),
            "tls": ms_value(p.tls),
            "server": ms_value(p.server),
            "transfer": ms_value(p.transfer),
            "total": ms_value(Some(p.total)),
        },
    })
}

/// Print one JSON summary per request, one per line.
pub fn print_json(plan: &Plan, outcomes: &[Outcome], events: &[Recorded]) {
    let mut out = io::stdout().lock();
    for o in outcomes {
        let _ = writeln!(out, "{}", summary(plan, o, events));
    }
    let _ = out.flush();
}
