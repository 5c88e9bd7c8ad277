//! The client's error type.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, Uri};

/// A boxed error, as returned by user hooks.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from the client: opaque, cheap to clone, with `is_*` predicates, the URL of the
/// request it belongs to, and the underlying cause as its [`source`](StdError::source).
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
    url: Option<Uri>,
}

/// Which timeout elapsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Establishing the TCP connection (per connection, all Happy Eyeballs attempts included).
    Connect,
    /// The TLS handshake.
    TlsHandshake,
    /// Waiting for the response head after the request was written.
    ResponseHeader,
    /// The whole request, body included.
    Request,
    /// Waiting for a connection slot in the pool.
    PoolWait,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The client was configured wrongly (bad CA file...).
    Builder,
    /// The request cannot be sent safely; nothing was sent.
    InvalidRequest,
    Dns,
    Connect,
    Tls,
    /// The proxy refused the tunnel or failed; the status if it answered.
    #[cfg_attr(not(feature = "proxy"), allow(dead_code))]
    Proxy(Option<StatusCode>),
    Timeout(TimeoutKind),
    /// The server's response broke the protocol.
    Protocol,
    /// The connection failed while the request was being written or the response read.
    Io,
    /// The request body the user supplied failed.
    RequestBody,
    /// Reading the response body failed (truncated, reset...).
    ResponseBody,
    /// A `got_1xx_response` hook returned an error.
    Hook,
    TooMany1xx,
    /// Too many redirects, or a redirect that cannot be followed.
    Redirect,
    /// Too many idle connections for the host (a `put_idle_conn` outcome).
    TooManyIdle,
    /// The connection was in a bad state when offered to the pool.
    ConnBroken,
    /// The pool was closed.
    PoolClosed,
    /// The request was canceled.
    Canceled,
    /// An HTTP/2 protocol error (stream or connection).
    Http2,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Error {
        Error {
            inner: Arc::new(Inner {
                kind,
                source: None,
                url: None,
            }),
        }
    }

    pub(crate) fn with<E>(kind: Kind, source: E) -> Error
    where
        E: Into<BoxError>,
    {
        let b: BoxError = source.into();
        Error {
            inner: Arc::new(Inner {
                kind,
                source: Some(Arc::from(b)),
                url: None,
            }),
        }
    }

    pub(crate) fn with_url(self, url: &Uri) -> Error {
        if self.inner.url.is_some() {
            return self;
        }
        Error {
            inner: Arc::new(Inner {
                kind: self.inner.kind.clone(),
                source: self.inner.source.clone(),
                url: Some(without_credentials(url)),
            }),
        }
    }

    pub(crate) fn timeout(kind: TimeoutKind) -> Error {
        Error::new(Kind::Timeout(kind))
    }

    /// What `wrote_request` reports for a request body whose write was given up because the
    /// response `why` (ended first, was malformed) while it was still being sent.
    pub(crate) fn write_abandoned(why: &str) -> Error {
        Error::with(
            Kind::Canceled,
            msg(format!("request body write abandoned: the response {why}")),
        )
    }

    /// The URL of the request this error belongs to, when known; credentials in it
    /// (`user:password@`) are replaced by `***`, so that printing an error cannot leak them.
    pub fn url(&self) -> Option<&Uri> {
        self.inner.url.as_ref()
    }

    /// The request could not be sent because it is invalid. Bad header bytes, a bad method or
    /// URL are found before any byte is sent; a streamed body that yields more or fewer bytes
    /// than its declared length is found while it is sent: the connection (HTTP/1.1) or the
    /// stream (HTTP/2) is then closed or reset, never left for reuse.
    pub fn is_request(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidRequest)
    }
    /// The client could not be built as configured.
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder)
    }
    /// Name resolution failed.
    pub fn is_dns(&self) -> bool {
        matches!(self.inner.kind, Kind::Dns)
    }
    /// No connection could be made: the name did not resolve ([`is_dns`](Self::is_dns) is true
    /// too), the TCP connect failed or timed out, or the proxy refused or broke the tunnel.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Connect | Kind::Dns | Kind::Proxy(_) | Kind::Timeout(TimeoutKind::Connect)
        )
    }
    /// The TLS handshake failed (verification included) or timed out.
    pub fn is_tls(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Tls | Kind::Timeout(TimeoutKind::TlsHandshake)
        )
    }
    /// The proxy failed or refused the tunnel.
    pub fn is_proxy(&self) -> bool {
        matches!(self.inner.kind, Kind::Proxy(_))
    }
    /// The status the proxy answered a CONNECT with, when it refused the tunnel.
    pub fn proxy_status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            Kind::Proxy(s) => s,
            _ => None,
        }
    }
    /// A timeout elapsed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }
    /// Which timeout elapsed.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        match self.inner.kind {
            Kind::Timeout(k) => Some(k),
            _ => None,
        }
    }
    /// The server's response violated HTTP (malformed head, conflicting framing, bad chunk).
    pub fn is_protocol(&self) -> bool {
        matches!(self.inner.kind, Kind::Protocol | Kind::Http2)
    }
    /// The connection failed while writing the request or reading the response head.
    pub fn is_io(&self) -> bool {
        matches!(self.inner.kind, Kind::Io)
    }
    /// The response body could not be read to its end (truncated, reset, malformed).
    pub fn is_body(&self) -> bool {
        matches!(self.inner.kind, Kind::ResponseBody)
    }
    /// The request body supplied by the caller failed.
    pub fn is_request_body(&self) -> bool {
        matches!(self.inner.kind, Kind::RequestBody)
    }
    /// A `got_1xx_response` hook aborted the request; its error is the `source()`.
    pub fn is_hook(&self) -> bool {
        matches!(self.inner.kind, Kind::Hook)
    }
    /// The server sent more interim (1xx) responses than allowed.
    pub fn is_too_many_1xx(&self) -> bool {
        matches!(self.inner.kind, Kind::TooMany1xx)
    }
    /// Too many redirects, or a redirect that could not be followed.
    pub fn is_redirect(&self) -> bool {
        matches!(self.inner.kind, Kind::Redirect)
    }
    /// A `put_idle_conn` outcome: the host already had the maximum of idle connections.
    pub fn is_too_many_idle(&self) -> bool {
        matches!(self.inner.kind, Kind::TooManyIdle)
    }
    /// A `put_idle_conn` outcome: the connection was broken.
    pub fn is_conn_broken(&self) -> bool {
        matches!(self.inner.kind, Kind::ConnBroken)
    }
    /// A `put_idle_conn` outcome or request error: the pool was closed.
    pub fn is_pool_closed(&self) -> bool {
        matches!(self.inner.kind, Kind::PoolClosed)
    }
    /// The request was canceled.
    pub fn is_canceled(&self) -> bool {
        matches!(self.inner.kind, Kind::Canceled)
    }
    /// An HTTP/2 stream or connection error.
    pub fn is_http2(&self) -> bool {
        matches!(self.inner.kind, Kind::Http2)
    }

    fn describe(&self) -> String {
        match &self.inner.kind {
            Kind::Builder => "invalid client configuration".into(),
            Kind::InvalidRequest => "invalid request, nothing sent".into(),
            Kind::Dns => "DNS lookup failed".into(),
            Kind::Connect => "connect failed".into(),
            Kind::Tls => "TLS handshake failed".into(),
            Kind::Proxy(Some(s)) => format!("proxy refused the tunnel: {s}"),
            Kind::Proxy(None) => "proxy error".into(),
            Kind::Timeout(k) => match k {
                TimeoutKind::Connect => "connect timeout".into(),
                TimeoutKind::TlsHandshake => "TLS handshake timeout".into(),
                TimeoutKind::ResponseHeader => "timeout awaiting response headers".into(),
                TimeoutKind::Request => "request timeout".into(),
                TimeoutKind::PoolWait => "timeout waiting for a pooled connection".into(),
            },
            Kind::Protocol => "malformed HTTP response".into(),
            Kind::Io => "connection error".into(),
            Kind::RequestBody => "request body error".into(),
            Kind::ResponseBody => "error reading response body".into(),
            Kind::Hook => "request aborted by the got_1xx_response hook".into(),
            Kind::TooMany1xx => "too many 1xx informational responses".into(),
            Kind::Redirect => "redirect error".into(),
            Kind::TooManyIdle => "too many idle connections for host".into(),
            Kind::ConnBroken => "connection is in a bad state".into(),
            Kind::PoolClosed => "connection pool closed".into(),
            Kind::Canceled => "request canceled".into(),
            Kind::Http2 => "HTTP/2 error".into(),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("httptrace::Error");
        d.field("kind", &self.inner.kind);
        if let Some(u) = &self.inner.url {
            d.field("url", &format_args!("{u}"));
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())?;
        if let Some(s) = &self.inner.source {
            write!(f, ": {s}")?;
        }
        if let Some(u) = &self.inner.url {
            write!(f, " ({u})")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

/// A message used as an error source.
#[derive(Debug)]
pub(crate) struct Msg(pub(crate) String);

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Msg {}

pub(crate) fn msg(s: impl Into<String>) -> Msg {
    Msg(s.into())
}

/// A timeout duration as a source for timeout errors.
#[derive(Debug)]
pub(crate) struct Elapsed(pub(crate) Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "elapsed after {:?}", self.0)
    }
}

impl StdError for Elapsed {}

/// `url` with its `user:password@` replaced by `***@` (Go's `url.Error` prints a redacted URL).
pub(crate) fn without_credentials(url: &Uri) -> Uri {
    match url.authority() {
        Some(a) if a.as_str().contains('@') => {
            let s = url.to_string();
            crate::dial::proxy::redact_userinfo(&s)
                .parse()
                .unwrap_or_else(|_| url.clone())
        }
        _ => url.clone(),
    }
}
