//! The `ClientTrace` of one request: every hook becomes an [`Event`] in the [`Recorder`].
//!
//! Fields are rendered exactly as Go's conformance oracle renders them (`oracle/events.go`):
//! errors as strings or `null`, `server_name` as a string (`""` when none), `version` and `alpn`
//! as strings or `null`, `idle_time_us` as an integer, 1xx headers as
//! `{CanonicalName: [values]}`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use httptrace::{
    BodyDoneInfo, ClientTrace, ConnClosedInfo, ConnOutcome, DnsDoneInfo, DnsStartInfo, GotConnInfo,
    NewConnInfo, NewConnReason, PoolWaitDoneInfo, PoolWaitStartInfo, RedirectInfo, RequestDoneInfo,
    RequestStartInfo, ResponseHeadersInfo, RetryInfo, TlsState, WroteRequestInfo,
};
use serde_json::Value;

use crate::events::{err_value, header_object, snake_case, Event, Recorder};

/// Which hooks to set and how they behave.
#[derive(Clone, Copy, Debug, Default)]
pub struct HookOptions {
    /// Set the beyond-Go hooks too.
    pub beyond_go: bool,
    /// `got_1xx_response` returns an error (aborting the request).
    pub abort_on_1xx: bool,
}

/// The error the 1xx hook returns with `--abort-on-1xx`.
#[derive(Debug)]
pub struct AbortOn1xx;

impl fmt::Display for AbortOn1xx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("got_1xx_response hook returned an error (--abort-on-1xx)")
    }
}

impl StdError for AbortOn1xx {}

fn dyn_err(e: Option<&httptrace::Error>) -> Option<&(dyn StdError + 'static)> {
    e.map(|e| e as &(dyn StdError + 'static))
}

/// A trace recording every hook of request `req` into `rec`.
pub fn trace(rec: &Arc<Recorder>, req: usize, opts: HookOptions) -> ClientTrace {
    let r = rec.clone();
    let mut t = ClientTrace::new().on_get_conn(move |host_port: &str| {
        r.emit(req, Event::new("get_conn").with("host_port", host_port))
    });
    let r = rec.clone();
    t = t.on_dns_start(move |i: &DnsStartInfo| {
        r.emit(req, Event::new("dns_start").with("host", i.host.as_str()))
    });
    let r = rec.clone();
    t = t.on_dns_done(move |i: &DnsDoneInfo| {
        let addrs: Vec<Value> = i
            .addrs
            .iter()
            .map(|a| Value::String(a.to_string()))
            .collect();
        r.emit(
            req,
            Event::new("dns_done")
                .with("addrs", addrs)
                .with("coalesced", i.coalesced)
                .with("err", err_value(dyn_err(i.err.as_ref()))),
        )
    });
    let r = rec.clone();
    t = t.on_connect_start(move |network: &str, addr| {
        r.emit(
            req,
            Event::new("connect_start")
                .with("network", network)
                .with("addr", addr.to_string()),
        )
    });
    let r = rec.clone();
    t = t.on_connect_done(move |network: &str, addr, err: Option<&httptrace::Error>| {
        r.emit(
            req,
            Event::new("connect_done")
                .with("network", network)
                .with("addr", addr.to_string())
                .with("err", err_value(dyn_err(err))),
        )
    });
    let r = rec.clone();
    t = t.on_tls_handshake_start(move || r.emit(req, Event::new("tls_handshake_start")));
    let r = rec.clone();
    t = t.on_tls_handshake_done(move |s: &TlsState, err: Option<&httptrace::Error>| {
        r.emit(req, tls_done_event(s, err))
    });
    let r = rec.clone();
    t = t.on_got_conn(move |i: &GotConnInfo| {
        r.emit(
            req,
            Event::new("got_conn")
                .with("reused", i.reused)
                .with("was_idle", i.was_idle)
                .with(
                    "idle_time_us",
                    u64::try_from(i.idle_time.as_micros()).unwrap_or(u64::MAX),
                ),
        )
    });
    let r = rec.clone();
    t = t.on_put_idle_conn(move |err: Option<&httptrace::Error>| {
        r.emit(
            req,
            Event::new("put_idle_conn").with("err", err_value(dyn_err(err))),
        )
    });
    let r = rec.clone();
    t = t.on_wrote_header_field(move |key: &str, values| {
        r.emit(
            req,
            Event::new("wrote_header_field")
                .with("key", key)
                .with("values", values.to_strings()),
        )
    });
    let r = rec.clone();
    t = t.on_wrote_headers(move || r.emit(req, Event::new("wrote_headers")));
    let r = rec.clone();
    t = t.on_wait_100_continue(move || r.emit(req, Event::new("wait_100_continue")));
    let r = rec.clone();
    t = t.on_got_100_continue(move || r.emit(req, Event::new("got_100_continue")));
    let r = rec.clone();
    let abort = opts.abort_on_1xx;
    t = t.on_got_1xx_response(move |code, headers| {
        r.emit(
            req,
            Event::new("got_1xx_response")
                .with("code", code.as_u16())
                .with("header", header_object(headers)),
        );
        if abort {
            Err(Box::new(AbortOn1xx))
        } else {
            Ok(())
        }
    });
    let r = rec.clone();
    t = t.on_wrote_request(move |i: &WroteRequestInfo| {
        r.emit(
            req,
            Event::new("wrote_request").with("err", err_value(dyn_err(i.err.as_ref()))),
        )
    });
    let r = rec.clone();
    t = t.on_got_first_response_byte(move || r.emit(req, Event::new("got_first_response_byte")));

    if opts.beyond_go {
        t = beyond_go(t, rec, req);
    }
    t
}

fn tls_done_event(s: &TlsState, err: Option<&httptrace::Error>) -> Event {
    let alpn = match s.alpn.as_deref() {
        Some(a) if !a.is_empty() => Value::String(a.to_string()),
        _ => Value::Null,
    };
    Event::new("tls_handshake_done")
        .with(
            "version",
            s.version
                .map(|v| Value::String(v.as_str().to_string()))
                .unwrap_or(Value::Null),
        )
        .with("alpn", alpn)
        .with("server_name", s.server_name.clone().unwrap_or_default())
        .with("resumed", s.resumed)
        .with("err", err_value(dyn_err(err)))
}

fn beyond_go(mut t: ClientTrace, rec: &Arc<Recorder>, req: usize) -> ClientTrace {
    let r = rec.clone();
    t = t.on_request_start(move |i: &RequestStartInfo| {
        r.emit(
            req,
            Event::new("request_start")
                .with("attempt", i.attempt)
                .with("redirect_hop", i.redirect_hop)
                .with("method", i.method.as_str())
                .with("url", i.url.to_string()),
        )
    });
    let r = rec.clone();
    t = t.on_request_done(move |i: &RequestDoneInfo| {
        r.emit(
            req,
            Event::new("request_done")
                .with("status", i.status.map(|s| s.as_u16()))
                .with("err", err_value(dyn_err(i.err.as_ref()))),
        )
    });
    let r = rec.clone();
    t = t.on_retry(move |i: &RetryInfo| {
        r.emit(
            req,
            Event::new("retry")
                .with("attempt", i.attempt)
                .with("reason", snake_case(&format!("{:?}", i.reason)))
                .with("err", err_value(Some(&i.err))),
        )
    });
    let r = rec.clone();
    t = t.on_redirect(move |i: &RedirectInfo| {
        r.emit(
            req,
            Event::new("redirect")
                .with("from", i.from.to_string())
                .with("to", i.to.to_string())
                .with("status", i.status.as_u16())
                .with("method", i.method.as_str()),
        )
    });
    let r = rec.clone();
    t = t.on_got_response_headers(move |i: &ResponseHeadersInfo| {
        r.emit(
            req,
            Event::new("got_response_headers")
                .with("status", i.status.as_u16())
                .with("version", format!("{:?}", i.version)),
        )
    });
    let r = rec.clone();
    t = t.on_response_body_done(move |i: &BodyDoneInfo| {
        let outcome = match i.conn_outcome {
            ConnOutcome::Pooled => "pooled".to_string(),
            ConnOutcome::Closed => "closed".to_string(),
            ConnOutcome::Http2Stream => "http2_stream".to_string(),
            other => snake_case(&format!("{other:?}")),
        };
        r.emit(
            req,
            Event::new("response_body_done")
                .with("bytes", i.bytes)
                .with("err", err_value(dyn_err(i.err.as_ref())))
                .with("conn_outcome", outcome),
        )
    });
    let r = rec.clone();
    t = t.on_conn_closed(move |i: &ConnClosedInfo| {
        r.emit(
            req,
            Event::new("conn_closed")
                .with("conn", i.conn.id)
                .with("addr", i.conn.remote_addr.to_string())
                .with("reason", snake_case(&format!("{:?}", i.reason))),
        )
    });
    let r = rec.clone();
    t = t.on_pool_wait_start(move |i: &PoolWaitStartInfo| {
        r.emit(
            req,
            Event::new("pool_wait_start")
                .with("host_port", i.host_port.as_str())
                .with("open_conns", i.open_conns)
                .with("reason", i.reason.as_str()),
        )
    });
    let r = rec.clone();
    t = t.on_pool_wait_done(move |i: &PoolWaitDoneInfo| {
        r.emit(
            req,
            Event::new("pool_wait_done")
                .with(
                    "waited_us",
                    u64::try_from(i.waited.as_micros()).unwrap_or(u64::MAX),
                )
                .with("err", err_value(dyn_err(i.err.as_ref()))),
        )
    });
    let r = rec.clone();
    t = t.on_new_conn(move |i: &NewConnInfo| {
        let discarded = match i.reason {
            NewConnReason::IdleConnsUnusable(n) => n,
            _ => 0,
        };
        r.emit(
            req,
            Event::new("new_conn")
                .with("host_port", i.host_port.as_str())
                .with("reason", snake_case(&format!("{:?}", i.reason)))
                .with("discarded", discarded),
        )
    });
    t
}
