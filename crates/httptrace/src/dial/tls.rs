//! The TLS client side: rustls 0.23 with the *ring* provider, through tokio-rustls.
//!
//! One [`TlsConnector`] is built per client from [`TlsOptions`]. It holds four
//! `rustls::ClientConfig`s that differ only in the ALPN list they offer and share one session
//! store, so any connection of the client can resume a session another one established:
//!
//! * [`Alpn::H2AndHttp1`]: `["h2", "http/1.1"]`, for https targets when HTTP/2 is enabled;
//! * [`Alpn::H2`]: `["h2"]`, for https targets with HTTP/2 prior knowledge (the dial then
//!   fails unless the server selected `h2`);
//! * [`Alpn::Http1`]: `["http/1.1"]`, for https targets with `--http1.1`, and for the TLS hop to an
//!   HTTPS proxy (we always speak HTTP/1.1 to a proxy: CONNECT or absolute-form requests);
//! * [`Alpn::None`]: no ALPN extension at all (Go's HTTP/1-only transport), for callers that want
//!   Go's exact ClientHello.
//!
//! [`TlsConnector::handshake`] fires `tls_handshake_start` just before the handshake and
//! `tls_handshake_done` after it: with the negotiated [`TlsState`] on success, with an empty state
//! and the error on failure, timeout or cancellation (a drop guard pairs the hooks even when the
//! handshake future is dropped).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;

use crate::deadline::{Deadline, EarlyTimer};
use crate::dial::resolve::parse_ip_literal;
use crate::dial::Boxed;
use crate::error::{msg, Elapsed, Error, Kind, TimeoutKind};
use crate::stream::Stream;
use crate::trace::{TlsState, TlsVersion, Tracer};

/// Go's `DefaultTransport.TLSHandshakeTimeout`.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sessions remembered for resumption, per client.
const SESSION_CACHE_SIZE: usize = 256;

/// How the client's TLS is configured (from the client builder / CLI flags).
#[derive(Clone, Debug)]
pub(crate) struct TlsOptions {
    /// Trust the operating system's roots (rustls-native-certs; cargo feature `native-roots`,
    /// on by default, which is also this option's default; without the feature, setting this
    /// makes [`TlsConnector::new`] fail).
    pub(crate) use_native_roots: bool,
    /// Trust the Mozilla roots compiled in (cargo feature `webpki-roots`; without the feature,
    /// setting this makes [`TlsConnector::new`] fail).
    pub(crate) use_webpki_roots: bool,
    /// Extra trusted roots, DER.
    pub(crate) extra_roots_der: Vec<CertificateDer<'static>>,
    /// PEM files of extra trusted roots (`--cacert`); every certificate in each file is added.
    pub(crate) ca_files: Vec<PathBuf>,
    /// Accept any server certificate (`-k`). Handshake signatures are still verified.
    pub(crate) insecure: bool,
    /// Lowest TLS version offered (default TLS 1.2).
    pub(crate) min_version: Option<TlsVersion>,
    /// Highest TLS version offered (default TLS 1.3).
    pub(crate) max_version: Option<TlsVersion>,
    /// Bound on each handshake (Go's `TLSHandshakeTimeout`; default 10 s, `None` = no limit).
    pub(crate) handshake_timeout: Option<Duration>,
    /// Resume TLS sessions across the client's connections (default true; Go's client only
    /// resumes when given a session cache).
    pub(crate) resumption: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            use_native_roots: cfg!(feature = "native-roots"),
            use_webpki_roots: false,
            extra_roots_der: Vec::new(),
            ca_files: Vec::new(),
            insecure: false,
            min_version: None,
            max_version: None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            resumption: true,
        }
    }
}

/// Which ALPN list a handshake offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// `["h2", "http/1.1"]`.
    H2AndHttp1,
    /// `["h2"]`.
    H2,
    /// `["http/1.1"]`.
    Http1,
    /// No ALPN extension.
    #[cfg_attr(not(test), allow(dead_code))]
    None,
}

/// The client's TLS configuration: checked when the client is built, turned into rustls
/// configurations at the first TLS connection.
///
/// Building a `rustls::ClientConfig` means loading and parsing the trusted roots (the system
/// store: a few hundred certificates read from disk) and running rustls' and webpki's setup
/// code. A client that only ever speaks plain HTTP needs none of it, so `new` checks only what
/// the user gave (versions, CA files readable and holding PEM certificates) and the rest waits
/// for [`TlsConnector::handshake`].
pub(crate) struct TlsConnector {
    /// The options, with the CA files' certificates read into `extra_roots_der`.
    opts: TlsOptions,
    configs: OnceLock<Configs>,
    handshake_timeout: Option<Duration>,
}

/// The four ALPN variants of the client's rustls configuration (one session store).
struct Configs {
    h2: Arc<ClientConfig>,
    h2_only: Arc<ClientConfig>,
    h1: Arc<ClientConfig>,
    none: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("configured", &self.configs.get().is_some())
            .finish_non_exhaustive()
    }
}

fn builder_error(s: impl Into<String>) -> Error {
    Error::with(Kind::Builder, msg(s))
}

/// The certificates of the CA files, as DER. Fails on an unreadable file, invalid PEM, or a
/// file without certificates.
fn read_ca_files(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let iter = CertificateDer::pem_file_iter(path)
            .map_err(|e| builder_error(format!("cannot read CA file {}: {e}", path.display())))?;
        let before = out.len();
        for cert in iter {
            out.push(cert.map_err(|e| {
                builder_error(format!("invalid PEM in CA file {}: {e}", path.display()))
            })?);
        }
        if out.len() == before {
            return Err(builder_error(format!(
                "no certificate found in CA file {}",
                path.display()
            )));
        }
    }
    Ok(out)
}

fn load_roots(opts: &TlsOptions) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    #[cfg(feature = "native-roots")]
    if opts.use_native_roots {
        let res = rustls_native_certs::load_native_certs();
        for e in &res.errors {
            tracing::debug!(error = %e, "error loading a system root certificate");
        }
        let (added, ignored) = roots.add_parsable_certificates(res.certs);
        tracing::debug!(added, ignored, "system root certificates loaded");
        if added == 0 {
            tracing::warn!("no usable system root certificates found");
        }
    }
    #[cfg(feature = "webpki-roots")]
    if opts.use_webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for der in &opts.extra_roots_der {
        roots
            .add(der.clone())
            .map_err(|e| builder_error(format!("unusable trusted certificate: {e}")))?;
    }
    Ok(roots)
}

fn versions(opts: &TlsOptions) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, Error> {
    let rank = |v: TlsVersion| match v {
        TlsVersion::Tls12 => 0,
        _ => 1,
    };
    let lo = opts.min_version.map(rank).unwrap_or(0);
    let hi = opts.max_version.map(rank).unwrap_or(1);
    let all: [(u8, &'static rustls::SupportedProtocolVersion); 2] =
        [(0, &rustls::version::TLS12), (1, &rustls::version::TLS13)];
    let v: Vec<_> = all
        .iter()
        .filter(|(r, _)| *r >= lo && *r <= hi)
        .map(|(_, v)| *v)
        .collect();
    if v.is_empty() {
        return Err(builder_error(
            "TLS minimum version is higher than the maximum version",
        ));
    }
    Ok(v)
}

impl TlsConnector {
    /// Check the client's TLS options. Fails (`Kind::Builder`) on an unreadable or empty CA
    /// file, invalid PEM, inconsistent versions, or native or webpki roots asked for without
    /// the `native-roots` or `webpki-roots` feature. The rustls configurations are built at
    /// the first handshake.
    pub(crate) fn new(opts: &TlsOptions) -> Result<TlsConnector, Error> {
        versions(opts)?;
        let sources = [
            (
                opts.use_native_roots,
                cfg!(feature = "native-roots"),
                "native",
            ),
            (
                opts.use_webpki_roots,
                cfg!(feature = "webpki-roots"),
                "webpki",
            ),
        ];
        for (asked, compiled, which) in sources {
            if asked && !compiled {
                return Err(builder_error(format!(
                    "{which} roots requested but httptrace was built without the \
                     `{which}-roots` feature"
                )));
            }
        }
        let mut opts = opts.clone();
        let from_files = read_ca_files(&opts.ca_files)?;
        opts.extra_roots_der.extend(from_files);
        opts.ca_files.clear();
        Ok(TlsConnector {
            handshake_timeout: opts.handshake_timeout,
            opts,
            configs: OnceLock::new(),
        })
    }

    /// The rustls configurations, built on first use. Fails (`Kind::Builder`) when a trusted
    /// certificate is unusable; a failure is not remembered (the next handshake tries again).
    fn configs(&self) -> Result<&Configs, Error> {
        if let Some(c) = self.configs.get() {
            return Ok(c);
        }
        let built = self.build_configs()?;
        // Two first handshakes at once both build; the first stored wins and is shared (one
        // session store).
        Ok(self.configs.get_or_init(|| built))
    }

    #[cold]
    #[inline(never)]
    fn build_configs(&self) -> Result<Configs, Error> {
        let opts = &self.opts;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions(opts)?)
            .map_err(|e| Error::with(Kind::Builder, e))?;
        let mut base = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert { provider }))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(load_roots(opts)?)
                .with_no_client_auth()
        };
        base.resumption = if opts.resumption {
            let store: Arc<dyn ClientSessionStore> =
                Arc::new(ClientSessionMemoryCache::new(SESSION_CACHE_SIZE));
            Resumption::store(store)
        } else {
            Resumption::disabled()
        };
        let with_alpn = |protos: &[&[u8]]| {
            let mut c = base.clone();
            c.alpn_protocols = protos.iter().map(|p| p.to_vec()).collect();
            Arc::new(c)
        };
        Ok(Configs {
            h2: with_alpn(&[b"h2", b"http/1.1"]),
            h2_only: with_alpn(&[b"h2"]),
            h1: with_alpn(&[b"http/1.1"]),
            none: with_alpn(&[]),
        })
    }

    fn config(&self, alpn: Alpn) -> Result<Arc<ClientConfig>, Error> {
        let c = self.configs()?;
        Ok(match alpn {
            Alpn::H2AndHttp1 => c.h2.clone(),
            Alpn::H2 => c.h2_only.clone(),
            Alpn::Http1 => c.h1.clone(),
            Alpn::None => c.none.clone(),
        })
    }

    /// Build the rustls configurations now if they are not yet (see [`TlsConnector`]).
    pub(crate) fn prepare(&self) -> Result<(), Error> {
        self.configs().map(|_| ())
    }

    /// TLS handshake over `stream` with `server_name` (a DNS name, or an IP literal: then no SNI
    /// is sent and the certificate must cover the IP), firing the TLS hooks.
    ///
    /// The configuration is built (on the first handshake) before `tls_handshake_start`, so
    /// loading the roots is not counted as handshake time; if it fails, the two TLS hooks still
    /// fire, the second with the error.
    ///
    /// Boxed, as are the handshake's pieces inside ([`BoxedConnect`]): a rustls connection is
    /// over a kilobyte, and an async function's frame reserves room for every value it builds
    /// or moves, in every caller its `poll` is inlined into. This frame is on the stack under
    /// the handshake's deepest calls (certificate verification), and the stack's deepest page
    /// stays resident: unboxed, the handshake took 7.3 KB of frame there, now 0.7 KB plus
    /// `BoxedConnect::poll`'s 2.2 KB (measured with a watchpoint in the benchmark client).
    #[inline(never)]
    #[cfg(any(test, feature = "proxy"))]
    pub(crate) fn handshake<'a>(
        &'a self,
        stream: Stream,
        server_name: &'a str,
        alpn: Alpn,
        tracer: &'a Tracer,
    ) -> Boxed<'a, (Stream, Arc<TlsState>)> {
        self.handshake_on(stream, server_name, alpn, None, tracer)
    }

    /// [`handshake`](Self::handshake), its timeout kept by `timer` when there is one (from
    /// [`early_timer`](Self::early_timer), registered before the connect).
    #[inline(never)]
    pub(crate) fn handshake_on<'a>(
        &'a self,
        stream: Stream,
        server_name: &'a str,
        alpn: Alpn,
        timer: Option<EarlyTimer>,
        tracer: &'a Tracer,
    ) -> Boxed<'a, (Stream, Arc<TlsState>)> {
        Box::pin(self.handshake_traced(stream, server_name, alpn, timer, tracer))
    }

    /// The timer for the handshake timeout of a dial that ends in a handshake, registered now,
    /// before its connect (see [`EarlyTimer`]); `None` without a handshake timeout.
    pub(crate) fn early_timer(&self) -> Option<EarlyTimer> {
        self.handshake_timeout
            .and_then(crate::deadline::deadline_after)
            .map(EarlyTimer::register)
    }

    async fn handshake_traced(
        &self,
        stream: Stream,
        server_name: &str,
        alpn: Alpn,
        timer: Option<EarlyTimer>,
        tracer: &Tracer,
    ) -> Result<(Stream, Arc<TlsState>), Error> {
        let config = self.config(alpn);
        tracer.tls_handshake_start();
        let mut guard = TlsDoneGuard {
            tracer,
            armed: true,
        };
        let res = match config {
            Ok(config) => {
                self.handshake_inner(stream, server_name, config, timer)
                    .await
            }
            Err(e) => Err(e),
        };
        guard.armed = false;
        match &res {
            Ok((_, state)) => tracer.tls_handshake_done(state, None),
            Err(e) => tracer.tls_handshake_done(&TlsState::default(), Some(e)),
        }
        res
    }

    async fn handshake_inner(
        &self,
        stream: Stream,
        server_name: &str,
        config: Arc<ClientConfig>,
        timer: Option<EarlyTimer>,
    ) -> Result<(Stream, Arc<TlsState>), Error> {
        let (name, sni) = match parse_ip_literal(server_name) {
            Some(ip) => (ServerName::IpAddress(ip.into()), None),
            None => {
                let n = ServerName::try_from(server_name.to_owned()).map_err(|e| {
                    Error::with(
                        Kind::Tls,
                        msg(format!("invalid TLS server name {server_name:?}: {e}")),
                    )
                })?;
                // The SNI (and Go's ConnectionState.ServerName) carry no trailing dot; rustls
                // strips it on the wire and the certificate check accepts the absolute name.
                let sni = server_name.strip_suffix('.').unwrap_or(server_name);
                (n, Some(sni.to_owned()))
            }
        };
        let connecting = BoxedConnect::start(config, name, stream);
        let timeout = self.handshake_timeout;
        let deadline = timeout.and_then(crate::deadline::deadline_after);
        let bounded = match (timer, deadline) {
            (Some(timer), Some(d)) => timer.bound(connecting, d).await,
            (_, d) => Deadline::new(connecting, d).await,
        };
        let done = match bounded {
            Some(r) => r,
            None => {
                return Err(Error::with(
                    Kind::Timeout(TimeoutKind::TlsHandshake),
                    Elapsed(timeout.unwrap_or_default()),
                ))
            }
        };
        let tls = done.map_err(|e| handshake_error(e, server_name))?;
        let state = state_of(tls.get_ref().1, sni);
        Ok((Stream::Tls(tls), Arc::new(state)))
    }
}

/// tokio-rustls' handshake future, boxed, with its output boxed in an out-of-line `poll`: the
/// connection (over a kilobyte, in the future and in its output) is then built and moved in
/// these short frames only, not in the frames of the async functions that await the handshake.
///
/// The output's box is allocated first, before the handshake's own allocations: allocated at
/// the end, each connection's stream landed above the freed remains of its handshake, and 32
/// concurrent TLS dials ended with ~50 KB more heap (RssAnon medians 2,210 against 2,160 KiB,
/// ten runs each in the benchmark client; the live bytes are the same).
struct BoxedConnect {
    connect: Pin<Box<tokio_rustls::Connect<Stream>>>,
    /// Where the established stream goes, allocated before the handshake's own allocations.
    slot: Option<Box<std::mem::MaybeUninit<tokio_rustls::client::TlsStream<Stream>>>>,
}

impl BoxedConnect {
    #[inline(never)]
    fn start(config: Arc<ClientConfig>, name: ServerName<'static>, stream: Stream) -> Self {
        let slot = Some(Box::new_uninit());
        let connector = tokio_rustls::TlsConnector::from(config);
        BoxedConnect {
            connect: Box::pin(connector.connect(name, stream)),
            slot,
        }
    }
}

impl Future for BoxedConnect {
    type Output = io::Result<Box<tokio_rustls::client::TlsStream<Stream>>>;

    #[inline(never)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.connect.as_mut().poll(cx).map(|r| {
            r.map(|tls| match this.slot.take() {
                Some(slot) => crate::outlined::box_write(slot, tls),
                None => Box::new(tls),
            })
        })
    }
}

/// The IANA name of a cipher suite, as rustls spells it, for the suites rustls implements
/// (its ring and aws-lc-rs providers: three for TLS 1.3, six for TLS 1.2); any other (from a
/// custom provider) as `0x` and four hex digits, as Go's `tls.CipherSuiteName` does.
///
/// Not `CipherSuite::as_str`: that knows every registered suite, and its names and table are
/// 14 KB of read-only data in every executable that names one.
fn cipher_suite_name(suite: u16) -> String {
    let name = match suite {
        0x1301 => "TLS13_AES_128_GCM_SHA256",
        0x1302 => "TLS13_AES_256_GCM_SHA384",
        0x1303 => "TLS13_CHACHA20_POLY1305_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        other => return format!("0x{other:04X}"),
    };
    name.to_owned()
}

fn state_of(conn: &rustls::ClientConnection, server_name: Option<String>) -> TlsState {
    use rustls::{HandshakeKind, ProtocolVersion};
    let version = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => Some(TlsVersion::Tls12),
        Some(ProtocolVersion::TLSv1_3) => Some(TlsVersion::Tls13),
        _ => None,
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| cipher_suite_name(u16::from(s.suite())));
    TlsState {
        version,
        cipher_suite,
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        server_name,
        peer_certificates: conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.to_vec()).collect())
            .unwrap_or_default(),
        resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
    }
}

/// Fires `tls_handshake_done` with a cancellation error when the handshake future is dropped
/// between the two hooks.
struct TlsDoneGuard<'a> {
    tracer: &'a Tracer,
    armed: bool,
}

impl Drop for TlsDoneGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let err = Error::with(Kind::Canceled, msg("TLS handshake canceled"));
            self.tracer
                .tls_handshake_done(&TlsState::default(), Some(&err));
        }
    }
}

/// A failed handshake: a plain-words summary, with the rustls error as `source()`.
///
/// `Display` is `"<summary>: <rustls error>"`, e.g.
/// `certificate is not trusted (unknown issuer) for "localhost": invalid peer certificate:
/// UnknownIssuer`.
#[derive(Debug)]
pub(crate) struct TlsFailure {
    summary: String,
    source: rustls::Error,
}

impl TlsFailure {
    /// The rustls error.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn rustls_error(&self) -> &rustls::Error {
        &self.source
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.summary, self.source)
    }
}

impl std::error::Error for TlsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn summarize(e: &rustls::Error, name: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                format!("certificate for {name:?} is not trusted (unknown issuer)")
            }
            #[allow(deprecated)]
            CertificateError::BadSignature => {
                format!("certificate for {name:?} is not trusted (bad signature)")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("certificate is not valid for name {name:?}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("certificate for {name:?} has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("certificate for {name:?} is not valid yet")
            }
            CertificateError::Revoked => format!("certificate for {name:?} is revoked"),
            _ => format!("certificate for {name:?} is not valid"),
        },
        rustls::Error::AlertReceived(_) => {
            format!("the server {name:?} aborted the TLS handshake")
        }
        _ => format!("TLS handshake with {name:?} failed"),
    }
}

fn handshake_error(e: io::Error, name: &str) -> Error {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match rustls_err {
        Some(r) => Error::with(
            Kind::Tls,
            TlsFailure {
                summary: summarize(&r, name),
                source: r,
            },
        ),
        None => {
            let kind = e.kind();
            let text = if kind == io::ErrorKind::UnexpectedEof {
                format!("TLS handshake with {name:?}: connection closed by the server")
            } else {
                format!("TLS handshake with {name:?}: {e}")
            };
            Error::with(
                Kind::Tls,
                io::Error::new(kind, TlsIoError { text, source: e }),
            )
        }
    }
}

#[derive(Debug)]
struct TlsIoError {
    text: String,
    source: io::Error,
}

impl fmt::Display for TlsIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for TlsIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `-k`: accepts any certificate chain for any name, but still checks that the server holds the
/// certificate's key (handshake signatures verified with the provider's algorithms).
#[derive(Debug)]
struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod test_certs {
    //! A CA and a leaf for `localhost` / `127.0.0.1` / `::1`, and a tiny rustls server.

    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::PrivateKeyDer;
    use rustls::ServerConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    pub(crate) struct TestPki {
        pub(crate) ca_der: CertificateDer<'static>,
        pub(crate) ca_pem: String,
        pub(crate) leaf_der: CertificateDer<'static>,
        pub(crate) leaf_key: Vec<u8>,
    }

    pub(crate) fn pki(names: &[&str]) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("httptrace test CA {} {n}", std::process::id()),
        );
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        TestPki {
            ca_der: ca_cert.der().clone(),
            ca_pem: ca_cert.pem(),
            leaf_der: leaf.der().clone(),
            leaf_key: leaf_key.serialize_der(),
        }
    }

    pub(crate) fn server_config(p: &TestPki, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![p.leaf_der.clone(), p.ca_der.clone()],
                PrivateKeyDer::try_from(p.leaf_key.clone()).unwrap(),
            )
            .unwrap();
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Arc::new(cfg)
    }

    /// Accepts TLS connections forever; each gets "hello" written (so the client processes the
    /// session tickets) and is then echoed until EOF.
    pub(crate) async fn tls_server(bind: &str, cfg: Arc<ServerConfig>) -> std::net::SocketAddr {
        let l = TcpListener::bind(bind).await.unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.flush().await;
                    let mut buf = [0u8; 1024];
                    loop {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if tls.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::test_certs::*;
    use super::*;
    use crate::trace::ClientTrace;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[test]
    fn cipher_suite_names_match_rustls_for_every_suite_of_its_providers() {
        // ring's and aws-lc-rs's providers implement the same nine suites.
        let suites = rustls::crypto::ring::ALL_CIPHER_SUITES;
        assert_eq!(suites.len(), 9);
        for s in suites {
            let cs = s.suite();
            let expected = cs.as_str().expect("a registered suite has a name");
            assert_eq!(cipher_suite_name(u16::from(cs)), expected);
        }
        // Not one rustls implements: hex, as Go names an unknown suite.
        assert_eq!(cipher_suite_name(0x002f), "0x002F");
        assert_eq!(cipher_suite_name(0xfafa), "0xFAFA");
    }

    type Log = Arc<Mutex<Vec<String>>>;

    fn recorder() -> (Tracer, Log) {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let trace = ClientTrace::new()
            .on_tls_handshake_start(move || l1.lock().unwrap().push("tls_start".into()))
            .on_tls_handshake_done(move |s, e| {
                l2.lock().unwrap().push(format!(
                    "tls_done version={:?} alpn={:?} sni={:?} resumed={} certs={} err={}",
                    s.version.map(|v| v.as_str()),
                    s.alpn,
                    s.server_name,
                    s.resumed,
                    s.peer_certificates.len(),
                    e.map(|e| e.to_string()).unwrap_or_default()
                ))
            });
        (Tracer::new(Some(trace)), log)
    }

    fn opts_with_ca(p: &TestPki) -> TlsOptions {
        TlsOptions {
            use_native_roots: false,
            extra_roots_der: vec![p.ca_der.clone()],
            ..TlsOptions::default()
        }
    }

    async fn tcp(addr: std::net::SocketAddr) -> Stream {
        Stream::Tcp(TcpStream::connect(addr).await.unwrap())
    }

    async fn read_hello(s: &mut Stream) {
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
    }

    #[tokio::test]
    async fn handshake_state_ip_and_name_and_resumption() {
        let p = pki(&["localhost", "127.0.0.1"]);
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[b"h2", b"http/1.1"])).await;
        let c = TlsConnector::new(&opts_with_ca(&p)).unwrap();

        // IP literal: no SNI, server_name None; h2 selected.
        let (tracer, log) = recorder();
        let (mut s, st) = c
            .handshake(tcp(addr).await, "127.0.0.1", Alpn::H2AndHttp1, &tracer)
            .await
            .unwrap();
        assert_eq!(st.version, Some(TlsVersion::Tls13));
        assert_eq!(st.alpn.as_deref(), Some("h2"));
        assert_eq!(st.server_name, None);
        assert_eq!(st.peer_certificates.len(), 2);
        assert_eq!(st.peer_certificates[0], p.leaf_der.to_vec());
        assert!(
            st.cipher_suite.as_deref().unwrap().starts_with("TLS13_"),
            "{st:?}"
        );
        assert!(!st.resumed);
        read_hello(&mut s).await;
        assert_eq!(log.lock().unwrap().len(), 2);
        assert!(log.lock().unwrap()[1].ends_with("err="));

        // DNS name: SNI sent; http/1.1 only.
        let (mut s2, st2) = c
            .handshake(tcp(addr).await, "localhost", Alpn::Http1, &tracer)
            .await
            .unwrap();
        assert_eq!(st2.server_name.as_deref(), Some("localhost"));
        assert_eq!(st2.alpn.as_deref(), Some("http/1.1"));
        assert!(!st2.resumed, "first handshake with this name");
        read_hello(&mut s2).await;

        // An absolute name (trailing dot): verified against the certificate for "localhost",
        // reported without the dot (the SNI carries none), as Go reports it.
        let (mut s4, st4) = c
            .handshake(tcp(addr).await, "localhost.", Alpn::Http1, &tracer)
            .await
            .unwrap();
        assert_eq!(st4.server_name.as_deref(), Some("localhost"));
        read_hello(&mut s4).await;

        // Same name again, other ALPN config: the shared session store resumes.
        let (_s3, st3) = c
            .handshake(tcp(addr).await, "localhost", Alpn::H2AndHttp1, &tracer)
            .await
            .unwrap();
        assert!(st3.resumed, "{st3:?}");
        assert_eq!(
            st3.peer_certificates.len(),
            2,
            "resumed sessions keep the peer certs"
        );

        // No ALPN offered: none negotiated.
        let (_s4, st4) = c
            .handshake(tcp(addr).await, "127.0.0.1", Alpn::None, &Tracer::none())
            .await
            .unwrap();
        assert_eq!(st4.alpn, None);
        drop(s);
    }

    #[tokio::test]
    async fn tls12_only() {
        let p = pki(&["localhost"]);
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[])).await;
        let o = TlsOptions {
            max_version: Some(TlsVersion::Tls12),
            ..opts_with_ca(&p)
        };
        let c = TlsConnector::new(&o).unwrap();
        let (_s, st) = c
            .handshake(
                tcp(addr).await,
                "localhost",
                Alpn::H2AndHttp1,
                &Tracer::none(),
            )
            .await
            .unwrap();
        assert_eq!(st.version, Some(TlsVersion::Tls12));
        assert_eq!(st.alpn, None);
        assert!(
            st.cipher_suite
                .as_deref()
                .unwrap()
                .starts_with("TLS_ECDHE_"),
            "{st:?}"
        );
        let bad = TlsOptions {
            min_version: Some(TlsVersion::Tls13),
            max_version: Some(TlsVersion::Tls12),
            ..TlsOptions::default()
        };
        assert!(TlsConnector::new(&bad).unwrap_err().is_builder());
    }

    #[tokio::test]
    async fn untrusted_and_wrong_name_fail_with_empty_state() {
        let p = pki(&["example.com"]);
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[])).await;

        // Wrong name (trusted CA).
        let c = TlsConnector::new(&opts_with_ca(&p)).unwrap();
        let (tracer, log) = recorder();
        let e = c
            .handshake(tcp(addr).await, "localhost", Alpn::Http1, &tracer)
            .await
            .unwrap_err();
        assert!(e.is_tls());
        let s = e.to_string();
        assert!(
            s.contains("certificate is not valid for name \"localhost\""),
            "{s}"
        );
        let failure = std::error::Error::source(&e)
            .unwrap()
            .downcast_ref::<TlsFailure>()
            .unwrap();
        assert!(matches!(
            failure.rustls_error(),
            rustls::Error::InvalidCertificate(_)
        ));
        {
            let l = log.lock().unwrap();
            assert_eq!(l[0], "tls_start");
            assert!(
            l[1].starts_with("tls_done version=None alpn=None sni=None resumed=false certs=0 err=TLS handshake failed"),
            "{}",
            l[1]
        );
        }

        // Untrusted CA.
        let other = pki(&["example.com"]);
        let c2 = TlsConnector::new(&opts_with_ca(&other)).unwrap();
        let e = c2
            .handshake(tcp(addr).await, "example.com", Alpn::Http1, &Tracer::none())
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("is not trusted (unknown issuer)"),
            "{e}"
        );

        // Insecure accepts both.
        let k = TlsConnector::new(&TlsOptions {
            insecure: true,
            use_native_roots: false,
            ..TlsOptions::default()
        })
        .unwrap();
        let (mut s, st) = k
            .handshake(tcp(addr).await, "localhost", Alpn::Http1, &Tracer::none())
            .await
            .unwrap();
        assert_eq!(st.server_name.as_deref(), Some("localhost"));
        read_hello(&mut s).await;
        s.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
    }

    #[tokio::test]
    async fn handshake_timeout_and_eof() {
        // A server that accepts and never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut v = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                v.push(s);
                if v.len() == 1 {
                    continue;
                }
                // Second connection: close at once.
                v.pop();
            }
        });
        let c = TlsConnector::new(&TlsOptions {
            use_native_roots: false,
            handshake_timeout: Some(Duration::from_millis(100)),
            ..TlsOptions::default()
        })
        .unwrap();
        let (tracer, log) = recorder();
        let e = c
            .handshake(tcp(addr).await, "localhost", Alpn::Http1, &tracer)
            .await
            .unwrap_err();
        assert_eq!(e.timeout_kind(), Some(TimeoutKind::TlsHandshake));
        assert!(e.is_tls());
        assert_eq!(log.lock().unwrap().len(), 2);
        let e = c
            .handshake(tcp(addr).await, "localhost", Alpn::Http1, &tracer)
            .await
            .unwrap_err();
        assert!(e.is_tls() && !e.is_timeout(), "{e}");
        held.abort();
    }

    #[tokio::test]
    async fn ca_files() {
        let p = pki(&["localhost"]);
        let dir = std::env::temp_dir().join(format!("httptrace-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("ca.pem");
        std::fs::write(&good, &p.ca_pem).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[])).await;
        let c = TlsConnector::new(&TlsOptions {
            use_native_roots: false,
            ca_files: vec![good.clone()],
            ..TlsOptions::default()
        })
        .unwrap();
        c.handshake(tcp(addr).await, "localhost", Alpn::Http1, &Tracer::none())
            .await
            .unwrap();
        for bad in [empty.clone(), dir.join("missing.pem")] {
            let e = TlsConnector::new(&TlsOptions {
                use_native_roots: false,
                ca_files: vec![bad.clone()],
                ..TlsOptions::default()
            })
            .unwrap_err();
            assert!(e.is_builder(), "{e}");
            assert!(e.to_string().contains(&*bad.to_string_lossy()), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn configuration_is_built_at_the_first_handshake() {
        let p = pki(&["localhost"]);
        let c = TlsConnector::new(&opts_with_ca(&p)).unwrap();
        assert!(c.configs.get().is_none(), "built before any handshake");
        let warmed = TlsConnector::new(&opts_with_ca(&p)).unwrap();
        warmed.prepare().unwrap();
        assert!(warmed.configs.get().is_some(), "prepare builds it");
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[])).await;
        c.handshake(tcp(addr).await, "localhost", Alpn::Http1, &Tracer::none())
            .await
            .unwrap();
        let first = Arc::as_ptr(&c.config(Alpn::Http1).unwrap());
        c.handshake(tcp(addr).await, "localhost", Alpn::Http1, &Tracer::none())
            .await
            .unwrap();
        assert_eq!(Arc::as_ptr(&c.config(Alpn::Http1).unwrap()), first);
    }

    #[tokio::test]
    async fn unusable_root_fails_the_handshake_not_the_build() {
        let bad = TlsOptions {
            use_native_roots: false,
            extra_roots_der: vec![CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])],
            ..TlsOptions::default()
        };
        let c = TlsConnector::new(&bad).unwrap();
        let p = pki(&["localhost"]);
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[])).await;
        for _ in 0..2 {
            let (t, log) = recorder();
            let e = c
                .handshake(tcp(addr).await, "localhost", Alpn::Http1, &t)
                .await
                .unwrap_err();
            assert!(e.is_builder(), "{e}");
            assert!(
                e.to_string().contains("unusable trusted certificate"),
                "{e}"
            );
            // The TLS hooks still pair, the second with the error.
            let log = log.lock().unwrap();
            assert_eq!(log.len(), 2, "{log:?}");
            assert_eq!(log[0], "tls_start");
            assert!(log[1].contains("unusable trusted certificate"), "{log:?}");
        }
        assert!(c.configs.get().is_none());
        assert!(c.prepare().unwrap_err().is_builder());
    }

    #[test]
    fn native_roots_build() {
        // Must not fail even if the system store is empty.
        let c = TlsConnector::new(&TlsOptions::default()).unwrap();
        c.prepare().unwrap();
    }

    /// Each root source is used by default only when its feature is compiled in, and asking
    /// for one that is not is a builder error, before any connection.
    #[test]
    fn root_sources_follow_the_cargo_features() {
        let d = TlsOptions::default();
        assert_eq!(d.use_native_roots, cfg!(feature = "native-roots"));
        assert!(!d.use_webpki_roots);
        for (native, webpki) in [(true, false), (false, true), (true, true), (false, false)] {
            let opts = TlsOptions {
                use_native_roots: native,
                use_webpki_roots: webpki,
                ..TlsOptions::default()
            };
            let compiled = (!native || cfg!(feature = "native-roots"))
                && (!webpki || cfg!(feature = "webpki-roots"));
            match TlsConnector::new(&opts) {
                Ok(c) => {
                    assert!(compiled, "native={native} webpki={webpki}");
                    c.prepare().unwrap();
                }
                Err(e) => {
                    assert!(!compiled, "native={native} webpki={webpki}: {e}");
                    assert!(e.is_builder(), "{e}");
                    let missing = if native && !cfg!(feature = "native-roots") {
                        "`native-roots` feature"
                    } else {
                        "`webpki-roots` feature"
                    };
                    assert!(e.to_string().contains(missing), "{e}");
                }
            }
        }
    }

    /// With webpki roots compiled in, a public CA's chain verifies with no other source.
    #[cfg(feature = "webpki-roots")]
    #[test]
    fn webpki_roots_are_loaded() {
        let opts = TlsOptions {
            use_native_roots: false,
            use_webpki_roots: true,
            ..TlsOptions::default()
        };
        let roots = load_roots(&opts).unwrap();
        assert!(roots.len() > 50, "{}", roots.len());
    }
}
