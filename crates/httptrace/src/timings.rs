//! [`Timings`]: a ready-made trace that records when each phase of a request happened and turns
//! the timestamps into the usual phases (blocked, DNS, connect, TLS, send, wait, receive), per
//! redirect hop and retry attempt.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Method, StatusCode, Uri};

use crate::trace::{ClientTrace, ConnInfo};

/// Records monotonic timestamps of one call's hooks. Attach [`Timings::trace`] to a request,
/// run it, read the body, then look at [`Timings::hops`]. One recorder per call: hooks carry no
/// request identity, so calls running at once on one recorder mix their marks into its last
/// hop (use one `Timings` per concurrent request).
///
/// Phases follow HAR's definitions: `blocked` is the time from `get_conn` until the connection
/// work began (or until the pooled connection was handed over), `dns`, `connect` (TCP only; TLS
/// is separate here), `tls`, `send` (connection obtained → request written), `wait` (request
/// written → first response byte), `receive` (first byte → body end). A hop on a reused
/// connection has no DNS, connect or TLS phase at all: phases are `None` when their hooks did
/// not fire in that hop.
///
/// ```no_run
/// # async fn run() -> Result<(), httptrace::Error> {
/// let timings = httptrace::Timings::new();
/// let client = httptrace::Client::new();
/// let resp = client.get("http://localhost:8080/").trace(timings.trace()).send().await?;
/// resp.into_body().drain().await?;
/// for hop in timings.hops() {
///     println!("{} {:?} total {:?}", hop.url, hop.status, hop.total);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Timings {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    origin: Option<Instant>,
    hops: Vec<Marks>,
}

#[derive(Debug, Clone, Default)]
struct Marks {
    method: Option<Method>,
    url: Option<Uri>,
    attempt: u32,
    redirect_hop: u32,
    start: Option<Instant>,
    get_conn: Option<Instant>,
    dns_start: Option<Instant>,
    dns_done: Option<Instant>,
    connect_start: Option<Instant>,
    connect_done: Option<Instant>,
    tls_start: Option<Instant>,
    tls_done: Option<Instant>,
    got_conn: Option<Instant>,
    wrote_headers: Option<Instant>,
    wrote_request: Option<Instant>,
    first_byte: Option<Instant>,
    headers: Option<Instant>,
    body_done: Option<Instant>,
    status: Option<StatusCode>,
    reused: Option<bool>,
    conn: Option<Arc<ConnInfo>>,
    body_bytes: u64,
    error: Option<String>,
}

/// The phases of one hop (one attempt of one redirect hop).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HopTimings {
    /// Method of this hop.
    pub method: Option<Method>,
    /// URL of this hop.
    pub url: String,
    /// Attempt within the hop (retries count up from 0).
    pub attempt: u32,
    /// Redirect hop number (0 for the original request).
    pub redirect_hop: u32,
    /// When the hop started, relative to the first hop's start.
    pub offset: Duration,
    /// Final status, when the response head arrived.
    pub status: Option<StatusCode>,
    /// The connection had served before.
    pub reused: Option<bool>,
    /// The connection used.
    pub conn: Option<ConnInfo>,
    /// Waiting for a connection (queueing, pool).
    pub blocked: Option<Duration>,
    /// Name resolution (new connections to a DNS name only).
    pub dns: Option<Duration>,
    /// TCP connect (new connections only).
    pub connect: Option<Duration>,
    /// TLS handshake(s) (new TLS connections only).
    pub tls: Option<Duration>,
    /// Writing the request.
    pub send: Option<Duration>,
    /// Waiting for the first response byte.
    pub wait: Option<Duration>,
    /// Reading the response body.
    pub receive: Option<Duration>,
    /// From the hop's start to its end (body end, or the response head if the body was not
    /// read, or the error).
    pub total: Option<Duration>,
    /// Response body bytes read.
    pub body_bytes: u64,
    /// The error that ended the hop, if any.
    pub error: Option<String>,
}

fn span(a: Option<Instant>, b: Option<Instant>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
        _ => None,
    }
}

impl Timings {
    /// An empty recorder.
    pub fn new() -> Timings {
        Timings::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn mark(&self, f: impl FnOnce(&mut Marks, Instant)) {
        let now = Instant::now();
        let mut st = self.lock();
        if st.hops.is_empty() {
            st.origin.get_or_insert(now);
            st.hops.push(Marks::default());
        }
        if let Some(m) = st.hops.last_mut() {
            f(m, now);
        }
    }

    /// The trace that feeds this recorder. Attach it to requests (it composes with others).
    pub fn trace(&self) -> ClientTrace {
        let s = self.clone();
        let t1 = self.clone();
        let t2 = self.clone();
        let t3 = self.clone();
        let t4 = self.clone();
        let t5 = self.clone();
        let t6 = self.clone();
        let t7 = self.clone();
        let t8 = self.clone();
        let t9 = self.clone();
        let t10 = self.clone();
        let t11 = self.clone();
        let t12 = self.clone();
        let t13 = self.clone();
        let t14 = self.clone();
        let t15 = self.clone();
        let t16 = self.clone();
        ClientTrace::new()
            .on_request_start(move |i| {
                let now = Instant::now();
                let mut st = s.lock();
                st.origin.get_or_insert(now);
                st.hops.push(Marks {
                    method: Some(i.method.clone()),
                    url: Some(i.url.clone()),
                    attempt: i.attempt,
                    redirect_hop: i.redirect_hop,
                    start: Some(now),
                    ..Marks::default()
                });
            })
            .on_get_conn(move |_| t1.mark(|m, now| m.get_conn = Some(now)))
            // Connection work that reports after `got_conn` belongs to a dial this request
            // started and then did not use (it took a connection another request returned):
            // not this hop's (the connect hooks below do the same).
            .on_dns_start(move |_| {
                t2.mark(|m, now| {
                    if m.got_conn.is_none() {
                        m.dns_start = Some(now);
                    }
                })
            })
            .on_dns_done(move |_| {
                t3.mark(|m, now| {
                    if m.got_conn.is_none() {
                        m.dns_done = Some(now);
                    }
                })
            })
            .on_connect_start(move |_, _| {
                t4.mark(|m, now| {
                    if m.got_conn.is_none() && m.connect_start.is_none() {
                        m.connect_start = Some(now);
                    }
                })
            })
            .on_connect_done(move |_, _, err| {
                let ok = err.is_none();
                t5.mark(|m, now| {
                    if m.got_conn.is_none() && ok {
                        m.connect_done = Some(now);
                    }
                })
            })
            .on_tls_handshake_start(move || {
                t6.mark(|m, now| {
                    if m.got_conn.is_none() && m.tls_start.is_none() {
                        m.tls_start = Some(now);
                    }
                })
            })
            .on_tls_handshake_done(move |_, _| {
                t7.mark(|m, now| {
                    if m.got_conn.is_none() {
                        m.tls_done = Some(now);
                    }
                })
            })
            .on_got_conn(move |i| {
                let (reused, conn) = (i.reused, i.conn.clone());
                t8.mark(|m, now| {
                    m.got_conn = Some(now);
                    m.reused = Some(reused);
                    m.conn = Some(conn);
                })
            })
            .on_wrote_headers(move || t9.mark(|m, now| m.wrote_headers = Some(now)))
            .on_wrote_request(move |_| t10.mark(|m, now| m.wrote_request = Some(now)))
            .on_got_first_response_byte(move || {
                t11.mark(|m, now| {
                    m.first_byte.get_or_insert(now);
                })
            })
            .on_got_response_headers(move |i| {
                let status = i.status;
                t12.mark(|m, now| {
                    m.headers = Some(now);
                    m.status = Some(status);
                })
            })
            .on_response_body_done(move |i| {
                let (bytes, err) = (i.bytes, i.err.as_ref().map(|e| e.to_string()));
                t13.mark(|m, now| {
                    m.body_done = Some(now);
                    m.body_bytes = bytes;
                    if m.error.is_none() {
                        m.error = err;
                    }
                })
            })
            .on_request_done(move |i| {
                let err = i.err.as_ref().map(|e| e.to_string());
                t14.mark(|m, now| {
                    if err.is_some() {
                        m.error = err;
                        m.body_done.get_or_insert(now);
                    }
                })
            })
            // The attempt a retry follows ended with this error.
            .on_retry(move |i| {
                let err = i.err.to_string();
                t15.mark(|m, now| {
                    m.error.get_or_insert(err);
                    m.body_done.get_or_insert(now);
                })
            })
            .on_redirect(move |_| t16.mark(|_, _| {}))
    }

    /// The phases of every hop recorded so far, in order.
    pub fn hops(&self) -> Vec<HopTimings> {
        let st = self.lock();
        let origin = st.origin;
        st.hops.iter().map(|m| m.phases(origin)).collect()
    }

    /// The last hop (the one whose response the caller got).
    pub fn last(&self) -> Option<HopTimings> {
        self.hops().pop()
    }
}

impl Marks {
    fn phases(&self, origin: Option<Instant>) -> HopTimings {
        // A reused connection: whatever dial this request began is not part of its timeline.
        let reused = self.reused == Some(true);
        let (dns_start, connect_start, tls_start) = if reused {
            (None, None, None)
        } else {
            (self.dns_start, self.connect_start, self.tls_start)
        };
        let conn_work = [dns_start, connect_start, tls_start]
            .into_iter()
            .flatten()
            .min();
        let blocked = match (self.get_conn, conn_work, self.got_conn) {
            (Some(g), Some(w), _) => Some(w.saturating_duration_since(g)),
            (Some(g), None, Some(c)) => Some(c.saturating_duration_since(g)),
            _ => None,
        };
        // Waiting can end before the request is fully written (an early response).
        let wait = match (self.wrote_request, self.first_byte) {
            (Some(w), Some(f)) => Some(f.saturating_duration_since(w)),
            _ => None,
        };
        let end = self.body_done.or(self.headers);
        HopTimings {
            method: self.method.clone(),
            url: self
                .url
                .as_ref()
                .map(|u| crate::error::without_credentials(u).to_string())
                .unwrap_or_default(),
            attempt: self.attempt,
            redirect_hop: self.redirect_hop,
            offset: span(origin, self.start).unwrap_or_default(),
            status: self.status,
            reused: self.reused,
            conn: self.conn.as_deref().cloned(),
            blocked,
            dns: span(dns_start, self.dns_done),
            connect: span(connect_start, self.connect_done),
            tls: span(tls_start, self.tls_done),
            send: span(self.got_conn, self.wrote_request),
            wait,
            receive: span(self.first_byte, self.body_done),
            total: span(self.start, end),
            body_bytes: self.body_bytes,
            error: self.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{
        DnsDoneInfo, DnsStartInfo, GotConnInfo, Protocol, RequestStartInfo, Tracer,
        WroteRequestInfo,
    };

    fn conn() -> ConnInfo {
        ConnInfo {
            id: 1,
            local_addr: None,
            remote_addr: "127.0.0.1:80".parse().unwrap(),
            protocol: Protocol::Http1,
            tls: None,
            proxy: None,
        }
    }

    fn start(t: &Tracer, hop: u32) {
        t.request_start(&RequestStartInfo {
            attempt: 0,
            redirect_hop: hop,
            method: Method::GET,
            url: "http://a.test/".parse().unwrap(),
        });
    }

    #[test]
    fn fresh_then_reused_hop_has_no_phantom_dns() {
        let tm = Timings::new();
        let t = Tracer::new(Some(tm.trace()));
        start(&t, 0);
        t.get_conn("a.test:80");
        t.dns_start(&DnsStartInfo {
            host: "a.test".into(),
        });
        t.dns_done(&DnsDoneInfo {
            addrs: vec![],
            coalesced: false,
            err: None,
        });
        let addr = "127.0.0.1:80".parse().unwrap();
        t.connect_start("tcp", addr);
        t.connect_done("tcp", addr, None);
        t.got_conn(&GotConnInfo {
            conn: Arc::new(conn()),
            reused: false,
            was_idle: false,
            idle_time: Duration::ZERO,
        });
        t.wrote_request(&WroteRequestInfo { err: None });
        t.got_first_response_byte();
        start(&t, 1);
        t.get_conn("a.test:80");
        t.got_conn(&GotConnInfo {
            conn: Arc::new(conn()),
            reused: true,
            was_idle: true,
            idle_time: Duration::ZERO,
        });
        t.wrote_request(&WroteRequestInfo { err: None });
        t.got_first_response_byte();
        let hops = tm.hops();
        assert_eq!(hops.len(), 2);
        assert!(hops[0].dns.is_some() && hops[0].connect.is_some());
        assert_eq!(hops[0].reused, Some(false));
        assert!(hops[1].dns.is_none() && hops[1].connect.is_none() && hops[1].tls.is_none());
        assert_eq!(hops[1].reused, Some(true));
        assert!(hops[1].blocked.is_some() && hops[1].wait.is_some());
        assert_eq!(hops[1].redirect_hop, 1);
        assert!(hops[1].offset >= hops[0].offset);
    }
}
