//! The trace API: [`ClientTrace`], its hooks and their payloads.
//!
//! A `ClientTrace` is a set of optional callbacks ("hooks") that the client calls at precise
//! moments of a request's life: Go's sixteen `net/http/httptrace` hooks, at the moments Go calls
//! them, plus hooks Go does not have (whole calls, retries, redirects, body completion with the
//! connection's fate, pool waits, closed connections).
//!
//! A trace travels with one request, in its [`http::Extensions`]: see [`ClientTrace::attach`] and
//! [`RequestTraceExt::with_trace`]. Attaching a trace to a request that already carries one
//! composes the two: both hooks run, the newly attached one first (Go's rule).
//!
//! # Where and when hooks run
//!
//! Hooks are synchronous `Fn` closures that must be `Send + Sync`. They run inline on whatever task
//! is doing the work at that moment: the task awaiting the response, a dial task the client
//! spawned (DNS, connect and TLS hooks), or the task reading the response body. Some hooks can
//! run **after** the response future resolved or failed: a losing Happy Eyeballs attempt reports
//! its `connect_done` when it is cancelled, a dial that outlived a cancelled request still reports
//! its DNS, connect and TLS hooks, and `put_idle_conn` fires when the body reaches its end. Keep
//! hooks short and non-blocking: they run on the I/O path.
//!
//! A request without a trace pays one branch per hook site and allocates nothing for tracing.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};

use crate::error::{BoxError, Error};

type Hook<F> = Option<Arc<F>>;

type UnitFn = dyn Fn() + Send + Sync;
type GetConnFn = dyn Fn(&str) + Send + Sync;
type GotConnFn = dyn Fn(&GotConnInfo) + Send + Sync;
type PutIdleFn = dyn Fn(Option<&Error>) + Send + Sync;
type Got1xxFn = dyn Fn(StatusCode, &HeaderMap) -> Result<(), BoxError> + Send + Sync;
type DnsStartFn = dyn Fn(&DnsStartInfo) + Send + Sync;
type DnsDoneFn = dyn Fn(&DnsDoneInfo) + Send + Sync;
type ConnectStartFn = dyn Fn(&str, SocketAddr) + Send + Sync;
type ConnectDoneFn = dyn Fn(&str, SocketAddr, Option<&Error>) + Send + Sync;
type TlsDoneFn = dyn Fn(&TlsState, Option<&Error>) + Send + Sync;
type HeaderFieldFn = dyn Fn(&str, HeaderValues<'_>) + Send + Sync;
type WroteRequestFn = dyn Fn(&WroteRequestInfo) + Send + Sync;
type RequestStartFn = dyn Fn(&RequestStartInfo) + Send + Sync;
type RequestDoneFn = dyn Fn(&RequestDoneInfo) + Send + Sync;
type RetryFn = dyn Fn(&RetryInfo) + Send + Sync;
type RedirectFn = dyn Fn(&RedirectInfo) + Send + Sync;
type ResponseHeadersFn = dyn Fn(&ResponseHeadersInfo) + Send + Sync;
type BodyDoneFn = dyn Fn(&BodyDoneInfo) + Send + Sync;
type ConnClosedFn = dyn Fn(&ConnClosedInfo) + Send + Sync;
type PoolWaitStartFn = dyn Fn(&PoolWaitStartInfo) + Send + Sync;
type PoolWaitDoneFn = dyn Fn(&PoolWaitDoneInfo) + Send + Sync;
type NewConnFn = dyn Fn(&NewConnInfo) + Send + Sync;

#[derive(Default, Clone)]
struct Hooks {
    // Go's sixteen.
    get_conn: Hook<GetConnFn>,
    got_conn: Hook<GotConnFn>,
    put_idle_conn: Hook<PutIdleFn>,
    got_first_response_byte: Hook<UnitFn>,
    got_100_continue: Hook<UnitFn>,
    got_1xx_response: Hook<Got1xxFn>,
    dns_start: Hook<DnsStartFn>,
    dns_done: Hook<DnsDoneFn>,
    connect_start: Hook<ConnectStartFn>,
    connect_done: Hook<ConnectDoneFn>,
    tls_handshake_start: Hook<UnitFn>,
    tls_handshake_done: Hook<TlsDoneFn>,
    wrote_header_field: Hook<HeaderFieldFn>,
    wrote_headers: Hook<UnitFn>,
    wait_100_continue: Hook<UnitFn>,
    wrote_request: Hook<WroteRequestFn>,
    // Beyond Go.
    request_start: Hook<RequestStartFn>,
    request_done: Hook<RequestDoneFn>,
    retry: Hook<RetryFn>,
    redirect: Hook<RedirectFn>,
    got_response_headers: Hook<ResponseHeadersFn>,
    response_body_done: Hook<BodyDoneFn>,
    conn_closed: Hook<ConnClosedFn>,
    pool_wait_start: Hook<PoolWaitStartFn>,
    pool_wait_done: Hook<PoolWaitDoneFn>,
    new_conn: Hook<NewConnFn>,
    /// The older trace this one was composed over ([`ClientTrace::compose`]): its hooks run
    /// after this link's. A chain rather than one closure per composed hook calling both: each
    /// such closure would be a type of its own (a vtable, a call shim and drop code for every
    /// hook signature), for a cost at firing time of one pointer test per hook.
    older: Option<Arc<Hooks>>,
    /// A setter ran on this link. Hooks are never unset, and [`ClientTrace::compose`] links
    /// only traces with hooks, so this is `!is_empty()` of the whole chain when true of its
    /// first link: a flag, since `Tracer::new` asks for every request.
    set: bool,
}

impl Hooks {
    /// This link, then the older ones.
    fn chain(&self) -> impl Iterator<Item = &Hooks> {
        std::iter::successors(Some(self), |h| h.older.as_deref())
    }

    /// Whether any link has a handler for the hook `has` looks at.
    #[inline]
    fn any(&self, has: impl Fn(&Hooks) -> bool) -> bool {
        self.chain().any(has)
    }

    /// No handler in this link (the older links are not looked at).
    fn link_is_empty(&self) -> bool {
        let h = self;
        h.get_conn.is_none()
            && h.got_conn.is_none()
            && h.put_idle_conn.is_none()
            && h.got_first_response_byte.is_none()
            && h.got_100_continue.is_none()
            && h.got_1xx_response.is_none()
            && h.dns_start.is_none()
            && h.dns_done.is_none()
            && h.connect_start.is_none()
            && h.connect_done.is_none()
            && h.tls_handshake_start.is_none()
            && h.tls_handshake_done.is_none()
            && h.wrote_header_field.is_none()
            && h.wrote_headers.is_none()
            && h.wait_100_continue.is_none()
            && h.wrote_request.is_none()
            && h.request_start.is_none()
            && h.request_done.is_none()
            && h.retry.is_none()
            && h.redirect.is_none()
            && h.got_response_headers.is_none()
            && h.response_body_done.is_none()
            && h.conn_closed.is_none()
            && h.pool_wait_start.is_none()
            && h.pool_wait_done.is_none()
            && h.new_conn.is_none()
    }

    /// After a setter put its handler in the newest link: remove the hook's handlers from the
    /// older links (copying the links that have one), so that the handler just set replaces
    /// every handler the composed trace had for it. Not generic: one copy serves every setter.
    fn clear_older(&mut self, has: fn(&Hooks) -> bool, clear: fn(&mut Hooks)) {
        let mut link = &mut self.older;
        while let Some(o) = link {
            if !o.any(has) {
                break;
            }
            let o = Arc::make_mut(o);
            clear(o);
            link = &mut o.older;
        }
    }
}

/// A set of hooks called during one request's life, the Rust counterpart of Go's
/// `httptrace.ClientTrace`.
///
/// Build one with [`ClientTrace::new`] and the `on_*` methods, then attach it to a request with
/// [`ClientTrace::attach`] (or [`RequestTraceExt::with_trace`]). Cloning is cheap (one `Arc`).
///
/// Every hook is optional. Each `on_*` method documents when the hook fires for HTTP/1.1 and for
/// HTTP/2. Hooks may run on another task than the one awaiting the response, and some may run
/// after the response future has resolved (see the [module docs](self)).
///
/// ```
/// use httptrace::ClientTrace;
/// let trace = ClientTrace::new()
///     .on_get_conn(|host_port| println!("get conn {host_port}"))
///     .on_got_conn(|info| println!("got conn, reused={}", info.reused));
/// # let _ = trace;
/// ```
#[derive(Clone, Default)]
pub struct ClientTrace {
    hooks: Arc<Hooks>,
}

impl fmt::Debug for ClientTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &*self.hooks;
        let mut set = Vec::new();
        macro_rules! names {
            ($($n:ident),*) => { $( if h.any(|x| x.$n.is_some()) { set.push(stringify!($n)); } )* };
        }
        names!(
            get_conn,
            got_conn,
            put_idle_conn,
            got_first_response_byte,
            got_100_continue,
            got_1xx_response,
            dns_start,
            dns_done,
            connect_start,
            connect_done,
            tls_handshake_start,
            tls_handshake_done,
            wrote_header_field,
            wrote_headers,
            wait_100_continue,
            wrote_request,
            request_start,
            request_done,
            retry,
            redirect,
            got_response_headers,
            response_body_done,
            conn_closed,
            pool_wait_start,
            pool_wait_done,
            new_conn
        );
        f.debug_struct("ClientTrace").field("hooks", &set).finish()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, $($bound:tt)+) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name<F>(mut self, f: F) -> Self
        where
            F: $($bound)+ + Send + Sync + 'static,
        {
            let h = Arc::make_mut(&mut self.hooks);
            h.$field = Some(Arc::new(f));
            h.set = true;
            h.clear_older(|x| x.$field.is_some(), |x| x.$field = None);
            self
        }
    };
}

impl ClientTrace {
    /// A trace with no hooks set. Attaching it changes nothing but costs nothing either.
    pub fn new() -> ClientTrace {
        ClientTrace::default()
    }

    // ----- Go's sixteen hooks -----

    setter!(
        /// `get_conn(host_port)`: the request is about to obtain a connection.
        ///
        /// Fires once per attempt, before the idle pool is consulted, even when an idle connection
        /// is then reused. `host_port` is the address of the first hop: the target's `host:port`
        /// (default port 80/443 filled in, IDNA names in punycode, IPv6 in brackets), or the proxy's
        /// `host:port` when a proxy is used.
        ///
        /// HTTP/2: fires for every request too, whether the stream goes on an existing connection
        /// or a new one is dialed: with the target's `host:port` for a request served by a
        /// connection already in the pool, and with the first hop's (the proxy's, through a
        /// proxy) for one that goes through the dial path, as Go reports it.
        on_get_conn, get_conn, Fn(&str)
    );
    setter!(
        /// `got_conn(info)`: a connection was obtained for this attempt (never on failure).
        ///
        /// HTTP/1.1: after the connection was taken from the idle pool (`was_idle = true`, with its
        /// idle time), after a new dial (`reused = false, was_idle = false`), or after another
        /// request handed over its connection while this one waited (`reused = true,
        /// was_idle = false`). `reused` is true once the connection has been returned to the
        /// pool at least once.
        ///
        /// HTTP/2: fires for every stream. `reused` is false only for the first stream ever sent
        /// on the connection; `was_idle` is true when no other stream was open, with the time
        /// since the last stream ended.
        on_got_conn, got_conn, Fn(&GotConnInfo)
    );
    setter!(
        /// `put_idle_conn(err)`: the connection was offered back to the idle pool after this
        /// request's response ended. `None` means it is now idle (or was handed straight to a
        /// waiting request); `Some(err)` says why it was closed instead: too many idle
        /// connections for the host ([`Error::is_too_many_idle`]), the connection was in a bad
        /// state, or the pool was closed.
        ///
        /// HTTP/1.1: for a response without a body (HEAD, 204, 304, `Content-Length: 0`) before
        /// the response is returned; otherwise when the body is read to its end, before that
        /// final read returns. Not fired when the connection is known not to be reusable
        /// (`Connection: close` from either side, a close-delimited body, keep-alive disabled, a
        /// body dropped before its end, 101, or a failed request write).
        ///
        /// HTTP/2: never fires (the connection is shared, not pooled per request).
        on_put_idle_conn, put_idle_conn, Fn(Option<&Error>)
    );
    setter!(
        /// `got_first_response_byte()`: the first byte of the response arrived.
        ///
        /// HTTP/1.1: once per attempt, when the first read after the request started returns
        /// data, before any 1xx or the final status line is parsed. Not fired when the connection
        /// ends before any byte arrives.
        ///
        /// HTTP/2: on the first HEADERS frame of the stream (1xx or final), before
        /// `got_1xx_response`.
        on_got_first_response_byte, got_first_response_byte, Fn()
    );
    setter!(
        /// `got_100_continue()`: the server answered `100 Continue`.
        ///
        /// HTTP/1.1: only when the request carried `Expect: 100-continue` and a body; fires
        /// **before** `got_1xx_response(100)`, then the body is released. A 100 that arrives after
        /// the wait timed out still fires it. An unsolicited 100 fires only `got_1xx_response`.
        ///
        /// HTTP/2: for any 100, **after** `got_1xx_response(100)` (Go's h2 order).
        on_got_100_continue, got_100_continue, Fn()
    );
    setter!(
        /// `got_1xx_response(status, headers) -> Result`: an interim 1xx response arrived.
        ///
        /// HTTP/1.1: for every 1xx except `101 Switching Protocols` (which is final), 100
        /// included. At most 5 such responses are accepted per request; the 6th fails the
        /// request ([`Error::is_too_many_1xx`]) without calling the hook.
        ///
        /// HTTP/2: for every informational HEADERS frame, after `got_first_response_byte`.
        ///
        /// Returning `Err(e)` aborts the request: HTTP/1.1 closes the connection, HTTP/2 resets
        /// the stream. The request's error satisfies [`Error::is_hook`] and has `e` as its
        /// `source()`. It is never retried. With composed traces both hooks run and the first
        /// error (the newer trace's) wins.
        on_got_1xx_response, got_1xx_response, Fn(StatusCode, &HeaderMap) -> Result<(), BoxError>
    );
    setter!(
        /// `dns_start(info)`: a name lookup begins for a new connection's host (the proxy's
        /// host when a proxy is used). Not fired for IP literals or on connection reuse.
        /// Same for HTTP/1.1 and HTTP/2 (it belongs to the dial). Runs on the dial task.
        on_dns_start, dns_start, Fn(&DnsStartInfo)
    );
    setter!(
        /// `dns_done(info)`: the lookup begun by `dns_start` ended, with its addresses or error.
        /// `coalesced` is true for every caller that shared one lookup with another concurrent
        /// lookup of the same name. Same for HTTP/1.1 and HTTP/2.
        on_dns_done, dns_done, Fn(&DnsDoneInfo)
    );
    setter!(
        /// `connect_start(network, addr)`: a TCP connect attempt to `addr` begins. `network` is
        /// `"tcp"`. Fires once per attempt: with Happy Eyeballs several attempts may overlap.
        /// With a proxy, `addr` is the proxy's address. Same for HTTP/1.1 and HTTP/2.
        on_connect_start, connect_start, Fn(&str, SocketAddr)
    );
    setter!(
        /// `connect_done(network, addr, err)`: the attempt begun by `connect_start` ended. A
        /// losing Happy Eyeballs attempt reports its cancellation here, possibly after the
        /// request already got its connection. Same for HTTP/1.1 and HTTP/2.
        on_connect_done, connect_done, Fn(&str, SocketAddr, Option<&Error>)
    );
    setter!(
        /// `tls_handshake_start()`: a TLS handshake begins (to the target, or to an HTTPS proxy
        /// first and the target after the CONNECT tunnel). Same for HTTP/1.1 and HTTP/2 (ALPN
        /// decides the protocol during this handshake).
        on_tls_handshake_start, tls_handshake_start, Fn()
    );
    setter!(
        /// `tls_handshake_done(state, err)`: the handshake ended. On success `state` holds the
        /// negotiated version, cipher suite, ALPN protocol, server name, peer certificates and
        /// whether the session was resumed; on failure `state` is empty and `err` says why
        /// ([`Error::is_tls`]). Same for HTTP/1.1 and HTTP/2.
        on_tls_handshake_done, tls_handshake_done, Fn(&TlsState, Option<&Error>)
    );
    setter!(
        /// `wrote_header_field(name, values)`: one header field was encoded into the request.
        ///
        /// HTTP/1.1: once per header name with all of its values, after the field is put in the
        /// write buffer (not necessarily on the socket yet). `Host` comes first, then
        /// `User-Agent`, the framing header (`Content-Length` or `Transfer-Encoding`), the
        /// request's own headers in their order, and fields the client adds (`Connection:
        /// close` when keep-alive is off, `Proxy-Authorization` for a forward proxy).
        ///
        /// HTTP/2: once per (name, value) pair, lower-case names, pseudo-header fields first
        /// (`:authority`, `:method`, `:path`, `:scheme`), after the field is HPACK-encoded.
        on_wrote_header_field, wrote_header_field, Fn(&str, HeaderValues<'_>)
    );
    setter!(
        /// `wrote_headers()`: the whole header block was encoded (HTTP/1.1: the blank line is in
        /// the write buffer; HTTP/2: the HEADERS frame was queued).
        on_wrote_headers, wrote_headers, Fn()
    );
    setter!(
        /// `wait_100_continue()`: the request sent `Expect: 100-continue` with a body; its headers
        /// were flushed and the client now waits for `100 Continue`, a final status, or the
        /// expect-continue timeout before sending the body.
        ///
        /// HTTP/1.1: fires even with a zero timeout (the body then follows at once).
        /// HTTP/2: only with a non-zero timeout and a non-empty body.
        on_wait_100_continue, wait_100_continue, Fn()
    );
    setter!(
        /// `wrote_request(info)`: writing the request ended, successfully or with `info.err`.
        ///
        /// HTTP/1.1: after the last body byte (and the chunked terminator) was written, or when
        /// the body was withheld because the server answered before `100 Continue` (then
        /// `err` is `None`, as in Go), or when a write failed. A final response arriving
        /// mid-body ends the write early with a `Canceled` error when it closes the connection
        /// (the rest is not sent) and, when it does not, the write goes on while the response
        /// is read and fires this when it ends (with that error if the response ends first).
        /// Fires once per attempt, so a retried request reports it again.
        ///
        /// HTTP/2: after the HEADERS frame when there is no body, else after the last DATA frame;
        /// with the error when the body write or the 100-continue wait failed, or a `Canceled`
        /// error when the response ended (or was dropped) before the body was sent.
        on_wrote_request, wrote_request, Fn(&WroteRequestInfo)
    );

    // ----- Beyond Go -----

    setter!(
        /// `request_start(info)`: a call to the client begins (attempt 0, hop 0), or one of its
        /// redirect hops or retried attempts begins. Fires before `get_conn`, the same way for
        /// HTTP/1.1 and HTTP/2, on the task awaiting the response.
        on_request_start, request_start, Fn(&RequestStartInfo)
    );
    setter!(
        /// `request_done(info)`: the whole call ended: with the final status once the response
        /// headers of the last hop arrived, or with the error that ended it (a whole-request
        /// timeout included). It does not wait for the body (see `response_body_done`). Same for
        /// HTTP/1.1 and HTTP/2.
        on_request_done, request_done, Fn(&RequestDoneInfo)
    );
    setter!(
        /// `retry(info)`: an attempt failed on a reused connection in a way that proves the
        /// request was not processed, and the client is about to replay it (HTTP/1.1: a dead
        /// pooled connection; HTTP/2: GOAWAY or `REFUSED_STREAM`). Fires before the next
        /// attempt's `request_start`.
        on_retry, retry, Fn(&RetryInfo)
    );
    setter!(
        /// `redirect(info)`: a 3xx response is being followed; fires before the next hop's
        /// `request_start`.
        on_redirect, redirect, Fn(&RedirectInfo)
    );
    setter!(
        /// `got_response_headers(info)`: the final (non-1xx) response head of an attempt
        /// arrived: HTTP/1.1 once the status line and header block are parsed (after any 1xx),
        /// HTTP/2 once the final HEADERS frame is decoded. Fires before `request_done`.
        on_got_response_headers, got_response_headers, Fn(&ResponseHeadersInfo)
    );
    setter!(
        /// `response_body_done(info)`: the response body ended: read to its end, failed, or was
        /// dropped early; `conn_outcome` says what became of the connection. HTTP/1.1: after
        /// `put_idle_conn` (or the close), `Pooled` or `Closed`; for a response without a body,
        /// before the response is returned. HTTP/2: when the stream's END_STREAM (and trailers)
        /// arrived or the stream failed, always `Http2Stream`.
        on_response_body_done, response_body_done, Fn(&BodyDoneInfo)
    );
    setter!(
        /// `conn_closed(info)`: an HTTP/1.1 connection this request used, or found unusable in
        /// the idle pool, was closed, with the reason. HTTP/2 connections are shared by many
        /// requests and are not reported here.
        on_conn_closed, conn_closed, Fn(&ConnClosedInfo)
    );
    setter!(
        /// `pool_wait_start(info)`: the request waits for a connection instead of dialing
        /// (HTTP/1.1 connections; HTTP/2 multiplexes instead), because the host is at
        /// `max_conns_per_host` or because another request's dial for the host goes on with
        /// nobody waiting for it (`info.reason`, [`PoolWaitReason`]). Fires after `get_conn`
        /// found no idle connection.
        on_pool_wait_start, pool_wait_start, Fn(&PoolWaitStartInfo)
    );
    setter!(
        /// `pool_wait_done(info)`: the wait begun by `pool_wait_start` ended: a connection was
        /// handed over (then `got_conn` follows with `reused = true, was_idle = false`), or a
        /// slot freed or the awaited spare dial failed (then `new_conn` and the dial follow), or
        /// the wait failed.
        on_pool_wait_done, pool_wait_done, Fn(&PoolWaitDoneInfo)
    );
    setter!(
        /// `new_conn(info)`: no pooled connection could serve the request and a new one is being
        /// dialed; `info.reason` says why. Fires after `get_conn` (and any pool wait), before
        /// `dns_start`. HTTP/2: only when no shared connection exists for the host.
        on_new_conn, new_conn, Fn(&NewConnInfo)
    );

    /// Compose `self` (newer) with `older`: for every hook set in both, both run, `self`'s
    /// first. For `got_1xx_response` both run and the first error (from `self`) wins.
    #[must_use]
    pub fn compose(self, older: &ClientTrace) -> ClientTrace {
        if older.is_empty() {
            return self;
        }
        if self.is_empty() {
            return older.clone();
        }
        // Link `older` after the last link of `self` (copying `self`'s links where shared).
        fn append(link: &mut Hooks, older: &Arc<Hooks>) {
            match &mut link.older {
                Some(o) => append(Arc::make_mut(o), older),
                None => link.older = Some(older.clone()),
            }
        }
        let mut hooks = self.hooks;
        append(Arc::make_mut(&mut hooks), &older.hooks);
        ClientTrace { hooks }
    }

    /// Attach this trace to `req`. If the request already carries a trace, the two are composed
    /// with this one as the newer: both run, this one first.
    pub fn attach<B>(self, req: &mut http::Request<B>) {
        self.attach_to(req.extensions_mut());
    }

    /// Attach this trace to a set of extensions (see [`ClientTrace::attach`]).
    pub fn attach_to(self, ext: &mut http::Extensions) {
        let composed = match ext.get::<ClientTrace>() {
            Some(old) => self.compose(old),
            None => self,
        };
        ext.insert(composed);
    }

    /// The trace carried by `req`, if any.
    pub fn from_request<B>(req: &http::Request<B>) -> Option<&ClientTrace> {
        req.extensions().get::<ClientTrace>()
    }

    /// True when no hook at all is set.
    pub fn is_empty(&self) -> bool {
        debug_assert_eq!(
            !self.hooks.set,
            self.hooks.chain().all(Hooks::link_is_empty),
            "the set flag disagrees with the hooks"
        );
        !self.hooks.set
    }
}

/// Attach traces to requests fluently.
pub trait RequestTraceExt {
    /// Attach `trace` (composing with any trace already attached; the new one runs first).
    fn with_trace(self, trace: ClientTrace) -> Self;
}

impl<B> RequestTraceExt for http::Request<B> {
    fn with_trace(mut self, trace: ClientTrace) -> Self {
        trace.attach(&mut self);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// Values of one header field, as passed to `wrote_header_field` without copying them.
#[derive(Clone, Copy)]
pub struct HeaderValues<'a> {
    inner: ValuesInner<'a>,
}

#[derive(Clone, Copy)]
enum ValuesInner<'a> {
    One(&'a HeaderValue),
    Map(&'a HeaderMap, &'a http::HeaderName),
    Bytes(&'a [u8]),
}

impl<'a> HeaderValues<'a> {
    /// Exactly one value.
    pub fn one(v: &'a HeaderValue) -> Self {
        HeaderValues {
            inner: ValuesInner::One(v),
        }
    }
    /// All values of `name` in `map`.
    pub fn all(map: &'a HeaderMap, name: &'a http::HeaderName) -> Self {
        HeaderValues {
            inner: ValuesInner::Map(map, name),
        }
    }
    /// One value given as raw bytes (a value the client computed, such as `Host`).
    pub fn bytes(v: &'a [u8]) -> Self {
        HeaderValues {
            inner: ValuesInner::Bytes(v),
        }
    }
    /// Iterate over the values as bytes.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (one, map): (
            Option<&'a [u8]>,
            Option<http::header::GetAll<'a, HeaderValue>>,
        ) = match self.inner {
            ValuesInner::One(v) => (Some(v.as_bytes()), None),
            ValuesInner::Bytes(b) => (Some(b), None),
            ValuesInner::Map(m, n) => (None, Some(m.get_all(n))),
        };
        one.into_iter()
            .chain(map.into_iter().flat_map(|g| g.iter().map(|v| v.as_bytes())))
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        match self.inner {
            ValuesInner::One(_) | ValuesInner::Bytes(_) => 1,
            ValuesInner::Map(m, n) => m.get_all(n).iter().count(),
        }
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values as (lossy) UTF-8 strings.
    pub fn to_strings(&self) -> Vec<String> {
        self.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

impl fmt::Debug for HeaderValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_strings()).finish()
    }
}

/// The protocol a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 (or 1.0 from the server).
    Http1,
    /// HTTP/2 (negotiated by ALPN, or with prior knowledge over cleartext).
    Http2,
}

/// Facts about one connection, shared by every request that uses it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnInfo {
    /// Process-unique connection id (1, 2, ...).
    pub id: u64,
    /// Local socket address.
    pub local_addr: Option<SocketAddr>,
    /// Address the TCP connection went to (the proxy's with a proxy).
    pub remote_addr: SocketAddr,
    /// Protocol spoken on this connection.
    pub protocol: Protocol,
    /// TLS state of the end-to-end TLS session (to the target), if any.
    pub tls: Option<Arc<TlsState>>,
    /// The proxy this connection goes through, if any.
    pub proxy: Option<Uri>,
}

/// Payload of `got_conn`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GotConnInfo {
    /// The connection obtained (shared with the connection itself: no copy a request).
    pub conn: Arc<ConnInfo>,
    /// The connection has served (HTTP/1.1: been returned to the pool) before.
    pub reused: bool,
    /// The connection came straight from the idle pool (HTTP/2: no other stream was open).
    pub was_idle: bool,
    /// How long it was idle, when `was_idle`.
    pub idle_time: Duration,
}

/// Payload of `dns_start`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DnsStartInfo {
    /// The name being resolved (no port).
    pub host: String,
}

/// Payload of `dns_done`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DnsDoneInfo {
    /// The addresses found (empty on error).
    pub addrs: Vec<IpAddr>,
    /// True when this lookup was shared with another concurrent lookup of the same name.
    pub coalesced: bool,
    /// The lookup error, if any.
    pub err: Option<Error>,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// "TLS1.2" or "TLS1.3".
    pub fn as_str(&self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS1.2",
            TlsVersion::Tls13 => "TLS1.3",
        }
    }
}

/// The negotiated state of a TLS session (empty after a failed handshake).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsState {
    /// Protocol version.
    pub version: Option<TlsVersion>,
    /// Cipher suite name as rustls spells it, e.g. `TLS13_AES_128_GCM_SHA256`; a suite rustls
    /// does not implement (from a custom crypto provider) as `0x` and four hex digits, as Go's
    /// `tls.CipherSuiteName` names an unknown one.
    pub cipher_suite: Option<String>,
    /// ALPN protocol the server selected, e.g. `h2`.
    pub alpn: Option<String>,
    /// Server name sent in SNI (none for IP literals).
    pub server_name: Option<String>,
    /// The server's certificate chain, leaf first, DER.
    pub peer_certificates: Vec<Vec<u8>>,
    /// The session was resumed from an earlier one.
    pub resumed: bool,
}

/// Payload of `wrote_request`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WroteRequestInfo {
    /// The write error, if writing failed.
    pub err: Option<Error>,
}

/// Payload of `request_start`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestStartInfo {
    /// Attempt number within this hop (0 for the first, 1 after the first retry...).
    pub attempt: u32,
    /// Redirect hop (0 for the original request).
    pub redirect_hop: u32,
    /// Method of this hop.
    pub method: Method,
    /// URL of this hop.
    pub url: Uri,
}

/// Payload of `request_done`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestDoneInfo {
    /// Final status, when a response arrived.
    pub status: Option<StatusCode>,
    /// The error that ended the call.
    pub err: Option<Error>,
}

/// Why a request is retried.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// A pooled HTTP/1.1 connection turned out to be closed by the server.
    DeadPooledConnection,
    /// The HTTP/2 server sent GOAWAY before processing the stream.
    GoAway,
    /// The HTTP/2 server refused the stream (`REFUSED_STREAM`).
    RefusedStream,
}

/// Payload of `retry`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RetryInfo {
    /// The attempt about to start (1 for the first retry).
    pub attempt: u32,
    /// Why.
    pub reason: RetryReason,
    /// The error of the failed attempt.
    pub err: Error,
}

/// Payload of `redirect`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedirectInfo {
    /// URL that answered with a redirect.
    pub from: Uri,
    /// Where it points.
    pub to: Uri,
    /// The 3xx status.
    pub status: StatusCode,
    /// Method of the next hop.
    pub method: Method,
}

/// Payload of `got_response_headers`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResponseHeadersInfo {
    /// Status code.
    pub status: StatusCode,
    /// HTTP version of the response.
    pub version: Version,
}

/// What became of the connection when a response body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnOutcome {
    /// Returned to the idle pool (or handed to a waiting request).
    Pooled,
    /// Closed (not reusable, or the pool refused it).
    Closed,
    /// An HTTP/2 stream ended; the connection stays shared.
    Http2Stream,
}

/// Payload of `response_body_done`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BodyDoneInfo {
    /// Body bytes delivered to the caller (after de-framing).
    pub bytes: u64,
    /// Why the body ended early, if it did (an error, or dropped before its end).
    pub err: Option<Error>,
    /// What became of the connection.
    pub conn_outcome: ConnOutcome,
}

/// Why a connection was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Either side asked for `Connection: close`, or the body was close-delimited.
    NotReusable,
    /// The response body was dropped before its end.
    BodyDropped,
    /// An I/O or protocol error.
    Error,
    /// It sat idle longer than the idle timeout.
    IdleTimeout,
    /// The server closed it while idle, or sent unexpected bytes while idle.
    ClosedWhileIdle,
    /// The pool had too many idle connections for the host.
    TooManyIdle,
    /// A 1xx hook aborted the request.
    HookAborted,
    /// The pool was closed.
    PoolClosed,
    /// Keep-alive is disabled.
    KeepAliveDisabled,
    /// The request using it was canceled (its future dropped) or ran out of time before its
    /// response head was read: the connection is out of step and is closed.
    Canceled,
}

/// Payload of `conn_closed`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnClosedInfo {
    /// The connection.
    pub conn: ConnInfo,
    /// Why it was closed.
    pub reason: CloseReason,
}

/// Payload of `pool_wait_start`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolWaitStartInfo {
    /// The pool key's address (`host:port` of the first hop).
    pub host_port: String,
    /// Connections currently open for that key, counted only with `max_conns_per_host`
    /// ([`PoolWaitReason::ConnLimit`]); 0 otherwise.
    pub open_conns: usize,
    /// Why the request waits.
    pub reason: PoolWaitReason,
}

/// Why a request waits for a connection instead of dialing one (`pool_wait_start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolWaitReason {
    /// The host is at `max_conns_per_host`: the request waits for a returned connection or a
    /// freed slot.
    ConnLimit,
    /// Another request's dial for this host goes on with nobody waiting for it (that request
    /// took a connection returned meanwhile): the request waits for that connection, or a
    /// returned one, instead of dialing one more (Chrome's socket pool does the same; Go dials).
    /// If that dial fails, the request dials after `pool_wait_done`.
    SpareDial,
}

impl PoolWaitReason {
    /// A snake_case name (`conn_limit`, `spare_dial`), as the CLI's events print it.
    pub fn as_str(&self) -> &'static str {
        match self {
            PoolWaitReason::ConnLimit => "conn_limit",
            PoolWaitReason::SpareDial => "spare_dial",
        }
    }
}

/// Payload of `pool_wait_done`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolWaitDoneInfo {
    /// How long the request waited.
    pub waited: Duration,
    /// The wait ended with an error (timeout, cancellation).
    pub err: Option<Error>,
}

/// Why a new connection is dialed instead of a pooled one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewConnReason {
    /// No idle connection for this key.
    NoIdleConn,
    /// Idle connections existed but were unusable (expired or closed by the server); how many
    /// were discarded.
    IdleConnsUnusable(usize),
    /// Keep-alive is disabled, so the pool is not consulted.
    KeepAliveDisabled,
}

/// Payload of `new_conn`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NewConnInfo {
    /// The first hop's `host:port`.
    pub host_port: String,
    /// Why no pooled connection served.
    pub reason: NewConnReason,
}

// ---------------------------------------------------------------------------------------------
// Internal dispatch: the client holds an `Option<ClientTrace>`; these helpers make each hook site
// one branch.
// ---------------------------------------------------------------------------------------------

/// The trace of one request as the client sees it: possibly none.
#[derive(Clone, Default, Debug)]
pub(crate) struct Tracer(Option<ClientTrace>);

macro_rules! fire {
    ($(#[$m:meta])* $name:ident ( $($arg:ident : $ty:ty),* )) => {
        $(#[$m])*
        #[inline]
        pub(crate) fn $name(&self, $($arg: $ty),*) {
            if let Some(t) = &self.0 {
                let mut h: &Hooks = &t.hooks;
                loop {
                    if let Some(f) = &h.$name {
                        f($($arg),*);
                    }
                    match &h.older {
                        Some(o) => h = o,
                        None => break,
                    }
                }
            }
        }
    };
}

#[allow(dead_code)]
impl Tracer {
    pub(crate) fn new(t: Option<ClientTrace>) -> Tracer {
        Tracer(t.filter(|t| !t.is_empty()))
    }
    pub(crate) fn none() -> Tracer {
        Tracer(None)
    }
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.0.is_some()
    }
    /// True when the hook is set (lets callers skip building a payload).
    #[inline]
    pub(crate) fn wants_header_fields(&self) -> bool {
        matches!(&self.0, Some(t) if t.hooks.any(|h| h.wrote_header_field.is_some()))
    }
    #[inline]
    pub(crate) fn wants(&self, f: impl Fn(&ClientTraceHooksView<'_>) -> bool) -> bool {
        match &self.0 {
            Some(t) => f(&ClientTraceHooksView(&t.hooks)),
            None => false,
        }
    }

    fire!(get_conn(host_port: &str));
    fire!(got_conn(info: &GotConnInfo));
    fire!(put_idle_conn(err: Option<&Error>));
    fire!(got_first_response_byte());
    fire!(got_100_continue());
    fire!(dns_start(info: &DnsStartInfo));
    fire!(dns_done(info: &DnsDoneInfo));
    fire!(connect_start(network: &str, addr: SocketAddr));
    fire!(connect_done(network: &str, addr: SocketAddr, err: Option<&Error>));
    fire!(tls_handshake_start());
    fire!(tls_handshake_done(state: &TlsState, err: Option<&Error>));
    fire!(wrote_header_field(name: &str, values: HeaderValues<'_>));
    fire!(wrote_headers());
    fire!(wait_100_continue());
    fire!(wrote_request(info: &WroteRequestInfo));
    fire!(request_start(info: &RequestStartInfo));
    fire!(request_done(info: &RequestDoneInfo));
    fire!(retry(info: &RetryInfo));
    fire!(redirect(info: &RedirectInfo));
    fire!(got_response_headers(info: &ResponseHeadersInfo));
    fire!(response_body_done(info: &BodyDoneInfo));
    fire!(conn_closed(info: &ConnClosedInfo));
    fire!(pool_wait_start(info: &PoolWaitStartInfo));
    fire!(pool_wait_done(info: &PoolWaitDoneInfo));
    fire!(new_conn(info: &NewConnInfo));

    /// Run the 1xx hook; `Err` means abort.
    #[inline]
    pub(crate) fn got_1xx_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<(), BoxError> {
        let mut result = Ok(());
        if let Some(t) = &self.0 {
            // Every handler runs, newest first; the first error (the newest trace's) wins.
            for h in t.hooks.chain() {
                if let Some(f) = &h.got_1xx_response {
                    let r = f(status, headers);
                    if result.is_ok() {
                        result = r;
                    }
                }
            }
        }
        result
    }
}

/// Read-only view used by [`Tracer::wants`].
pub(crate) struct ClientTraceHooksView<'a>(&'a Hooks);

#[allow(dead_code)]
impl ClientTraceHooksView<'_> {
    pub(crate) fn got_conn(&self) -> bool {
        self.0.any(|h| h.got_conn.is_some())
    }
    pub(crate) fn request_start(&self) -> bool {
        self.0.any(|h| h.request_start.is_some())
    }
    pub(crate) fn tls_handshake_done(&self) -> bool {
        self.0.any(|h| h.tls_handshake_done.is_some())
    }
    pub(crate) fn dns(&self) -> bool {
        self.0
            .any(|h| h.dns_start.is_some() || h.dns_done.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn logging(log: &Arc<Mutex<Vec<String>>>, tag: &'static str) -> ClientTrace {
        let l = log.clone();
        ClientTrace::new().on_get_conn(move |hp| l.lock().unwrap().push(format!("{tag} {hp}")))
    }

    fn fired(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    #[test]
    fn composed_traces_run_newest_first_and_a_setter_replaces_every_handler() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (a, b, c) = (logging(&log, "a"), logging(&log, "b"), logging(&log, "c"));
        // Both groupings give the same order.
        let left = a.clone().compose(&b).compose(&c);
        let right = a.clone().compose(&b.clone().compose(&c));
        for t in [&left, &right] {
            Tracer::new(Some(t.clone())).get_conn("h:1");
            assert_eq!(fired(&log), ["a h:1", "b h:1", "c h:1"]);
        }

        // Setting the hook on a composed trace replaces every handler it had (as assigning the
        // field of a composed Go `ClientTrace` does); the traces composed keep theirs.
        let l = log.clone();
        let replaced = left
            .clone()
            .on_get_conn(move |hp| l.lock().unwrap().push(format!("z {hp}")));
        Tracer::new(Some(replaced.clone())).get_conn("h:2");
        assert_eq!(fired(&log), ["z h:2"]);
        Tracer::new(Some(left)).get_conn("h:3");
        Tracer::new(Some(b)).get_conn("h:4");
        assert_eq!(fired(&log), ["a h:3", "b h:3", "c h:3", "b h:4"]);
        // Another hook set on the replaced trace leaves get_conn alone.
        let replaced = replaced.on_got_first_response_byte(|| {});
        Tracer::new(Some(replaced)).get_conn("h:5");
        assert_eq!(fired(&log), ["z h:5"]);
    }

    #[test]
    fn a_trace_composed_with_itself_runs_twice_and_empty_traces_add_no_link() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let a = logging(&log, "a");
        Tracer::new(Some(a.clone().compose(&a))).get_conn("h");
        assert_eq!(fired(&log), ["a h", "a h"]);
        let over = ClientTrace::new().compose(&a);
        let under = a.clone().compose(&ClientTrace::new());
        assert!(Arc::ptr_eq(&over.hooks, &a.hooks) && Arc::ptr_eq(&under.hooks, &a.hooks));
        assert!(ClientTrace::new().compose(&ClientTrace::new()).is_empty());
    }

    #[test]
    fn views_and_debug_see_the_older_links() {
        let a = ClientTrace::new().on_got_conn(|_| {});
        let composed = ClientTrace::new().on_dns_start(|_| {}).compose(&a);
        let t = Tracer::new(Some(composed.clone()));
        assert!(
            t.wants(|v| v.got_conn()) && t.wants(|v| v.dns()) && !t.wants(|v| v.request_start())
        );
        let d = format!("{composed:?}");
        assert!(d.contains("got_conn") && d.contains("dns_start"), "{d}");
        assert!(!composed.is_empty());
    }
}
