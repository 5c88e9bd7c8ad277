//! Where a request goes: the target, the proxy in between, and the pool key derived from both.

use std::fmt;
use std::sync::Arc;

use http::Uri;

use crate::error::{msg, Error, Kind};

/// Scheme of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The kind of proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ProxyScheme {
    /// `http://proxy`: forward proxy for http targets, CONNECT for https targets.
    Http,
    /// `https://proxy`: as Http, over TLS to the proxy.
    Https,
    /// `socks5://`: the client resolves the target name.
    Socks5,
    /// `socks5h://`: the proxy resolves the target name.
    Socks5h,
}

/// A configured proxy. (`Debug` leaves the credentials out.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProxyTarget {
    pub(crate) scheme: ProxyScheme,
    /// Host without brackets.
    pub(crate) host: Arc<str>,
    pub(crate) port: u16,
    /// `user:password` from the proxy URL, percent-decoded.
    pub(crate) auth: Option<(String, String)>,
    /// The proxy URL as given (credentials removed), for `ConnInfo::proxy`.
    pub(crate) uri: Uri,
}

impl std::fmt::Debug for ProxyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .field("uri", &self.uri)
            .finish()
    }
}

impl ProxyTarget {
    /// `host:port` of the proxy (brackets for IPv6).
    pub(crate) fn host_port(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    /// True when requests to an http:// target are sent to the proxy in absolute form.
    pub(crate) fn is_forward_for(&self, target: Scheme) -> bool {
        matches!(self.scheme, ProxyScheme::Http | ProxyScheme::Https) && target == Scheme::Http
    }
}

/// A request's route: target plus optional proxy. Connections are pooled per route key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Route {
    pub(crate) scheme: Scheme,
    /// Target host: IDNA ASCII (lower-case), IPv6 without brackets.
    pub(crate) host: Host,
    pub(crate) port: u16,
    pub(crate) proxy: Option<Arc<ProxyTarget>>,
    /// The URL's authority is exactly `host:port` as Go's `GetConn` reports it (no userinfo,
    /// an explicit port without leading zeros, a lower-case host without `%`): hooks can borrow
    /// it instead of formatting it (see [`Route::first_hop_str`]).
    pub(crate) authority_is_host_port: bool,
}

impl Route {
    /// Build the route of `uri` (absolute URI required). One pass over the authority's bytes
    /// (see [`split_authority`]); no allocation for hosts up to [`Host::INLINE`] bytes.
    pub(crate) fn from_uri(uri: &Uri, proxy: Option<Arc<ProxyTarget>>) -> Result<Route, Error> {
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(s) => {
                return Err(Error::with(
                    Kind::InvalidRequest,
                    msg(format!("unsupported URL scheme {s:?}")),
                ))
            }
            None => {
                return Err(Error::with(
                    Kind::InvalidRequest,
                    msg("URL has no scheme (an absolute http:// or https:// URL is required)"),
                ))
            }
        };
        let auth = uri
            .authority()
            .map(|a| a.as_str())
            .ok_or_else(|| Error::with(Kind::InvalidRequest, msg("URL has no host")))?;
        let a = split_authority(auth)?;
        Ok(Route {
            scheme,
            host: Host::new(a.host, a.has_upper),
            port: a.port.unwrap_or_else(|| scheme.default_port()),
            proxy,
            authority_is_host_port: a.canonical,
        })
    }

    /// The first hop's `host:port` borrowed from `url` (the URL this route was built from),
    /// when it is written there exactly as [`Route::first_hop_buf`] would format it: the
    /// common case costs no formatting.
    pub(crate) fn first_hop_str<'u>(&self, url: &'u Uri) -> Option<&'u str> {
        if self.proxy.is_some() || !self.authority_is_host_port {
            return None;
        }
        url.authority().map(|a| a.as_str())
    }

    /// The target's `host:port`.
    pub(crate) fn target_host_port(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    /// Go's `connectMethod.addr()`: the first hop's `host:port` (the proxy's with a proxy),
    /// formatted on the stack.
    pub(crate) fn first_hop_buf(&self) -> HostPort {
        match &self.proxy {
            Some(p) => HostPort::new(p.host.as_bytes(), p.port),
            None => HostPort::new(self.host.as_bytes(), self.port),
        }
    }

    /// The pool key: for plain http through a forward proxy the target is dropped (one pool of
    /// connections to the proxy serves every http target), as Go does.
    pub(crate) fn pool_key(&self) -> PoolKey {
        match &self.proxy {
            Some(p) if p.is_forward_for(self.scheme) => {
                PoolKey::new(self.scheme, Host::new("", false), 0, Some(p.clone()))
            }
            _ => PoolKey::new(
                self.scheme,
                self.host.clone(),
                self.port,
                self.proxy.clone(),
            ),
        }
    }

    /// True when this request is sent in absolute form to a forward proxy.
    pub(crate) fn uses_forward_proxy(&self) -> bool {
        matches!(&self.proxy, Some(p) if p.is_forward_for(self.scheme))
    }
}

/// Key of the idle pool. Its hash is computed once, when the key is built: every pool and
/// HTTP/2 map operation then hashes one word.
#[derive(Clone, Debug)]
pub(crate) struct PoolKey {
    pub(crate) scheme: Scheme,
    pub(crate) host: Host,
    pub(crate) port: u16,
    pub(crate) proxy: Option<Arc<ProxyTarget>>,
    hash: u64,
}

impl PoolKey {
    pub(crate) fn new(
        scheme: Scheme,
        host: Host,
        port: u16,
        proxy: Option<Arc<ProxyTarget>>,
    ) -> PoolKey {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = BuildKeyHasher.build_hasher();
        scheme.hash(&mut h);
        host.hash(&mut h);
        port.hash(&mut h);
        proxy.hash(&mut h);
        PoolKey {
            scheme,
            host,
            port,
            proxy,
            hash: h.finish(),
        }
    }
}

impl PartialEq for PoolKey {
    fn eq(&self, o: &PoolKey) -> bool {
        self.hash == o.hash
            && self.scheme == o.scheme
            && self.port == o.port
            && self.host == o.host
            && self.proxy == o.proxy
    }
}

impl Eq for PoolKey {}

impl std::hash::Hash for PoolKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.proxy {
            write!(f, "[{}]", p.host_port())?;
        }
        write!(
            f,
            "{}://{}",
            self.scheme.as_str(),
            join_host_port(&self.host, self.port)
        )
    }
}

/// `host:port`, with brackets around IPv6 literals.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    HostPort::new(host.as_bytes(), port).as_str().to_owned()
}

/// `host:port` (brackets around IPv6 literals) formatted without allocating when it fits.
pub(crate) enum HostPort {
    Inline {
        len: u8,
        buf: [u8; HostPort::INLINE],
    },
    Heap(String),
}

impl HostPort {
    const INLINE: usize = 80;

    /// `host` is the bytes of a `&str` (a whole string, so the result stays UTF-8).
    pub(crate) fn new(host: &[u8], port: u16) -> HostPort {
        let v6 = host.contains(&b':');
        let mut digit_buf = [0u8; 20];
        let digits = crate::h1::round_trip::fmt_u64(u64::from(port), &mut digit_buf);
        let need = host.len() + usize::from(v6) * 2 + 1 + digits.len();
        if need > HostPort::INLINE {
            let host = String::from_utf8_lossy(host);
            return HostPort::Heap(if v6 {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            });
        }
        let mut buf = [0u8; HostPort::INLINE];
        let mut at = 0;
        let mut put = |b: &[u8]| {
            buf[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        if v6 {
            put(b"[");
        }
        put(host);
        if v6 {
            put(b"]");
        }
        put(b":");
        put(digits);
        HostPort::Inline {
            len: need as u8,
            buf,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Whole `&str`s and ASCII digits were copied in: valid UTF-8 by construction.
            HostPort::Inline { len, buf } => {
                std::str::from_utf8(buf.get(..usize::from(*len)).unwrap_or(&[])).unwrap_or("")
            }
            HostPort::Heap(s) => s,
        }
    }
}

/// Reject non-ASCII names (IDNA is not implemented: the `http` crate already refuses non-ASCII
/// URIs, so this only guards hosts built by other means) and bytes no host can hold.
pub(crate) fn check_host(host: &str) -> Result<(), Error> {
    if !host.is_ascii() {
        return Err(non_ascii_host(host));
    }
    if host
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'/' || b == b'@')
    {
        return Err(invalid_host(host));
    }
    Ok(())
}

/// A validated, lower-cased copy of `host`.
pub(crate) fn normalize_host(host: &str) -> Result<String, Error> {
    check_host(host)?;
    Ok(host.to_ascii_lowercase())
}

/// A fast, non-cryptographic hasher for the pool's maps (FxHash's mixing). Keys are route keys
/// built from the caller's own URLs, not attacker-chosen data, so SipHash's flood resistance
/// buys nothing on this per-request path.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// See [`BuildKeyHasher`].
pub(crate) struct KeyHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl KeyHasher {
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by pool keys.
pub(crate) type KeyMap<V> = std::collections::HashMap<PoolKey, V, BuildKeyHasher>;

/// A host name or IP literal (no brackets), stored inline when short: building a route for a
/// request then allocates nothing.
#[derive(Clone)]
pub(crate) enum Host {
    /// Up to [`Host::INLINE`] bytes, in place.
    Inline { len: u8, buf: [u8; Host::INLINE] },
    /// Longer names.
    Heap(Arc<str>),
}

impl Host {
    /// Longest host stored without allocating (a full IPv6 literal with a zone fits).
    pub(crate) const INLINE: usize = 46;

    /// `host`, lower-cased when `has_upper` says it has upper-case letters.
    pub(crate) fn new(host: &str, has_upper: bool) -> Host {
        let b = host.as_bytes();
        if b.len() <= Host::INLINE {
            let mut buf = [0u8; Host::INLINE];
            let dst = &mut buf[..b.len()];
            dst.copy_from_slice(b);
            if has_upper {
                dst.make_ascii_lowercase();
            }
            Host::Inline {
                len: b.len() as u8,
                buf,
            }
        } else if has_upper {
            Host::Heap(Arc::from(host.to_ascii_lowercase()))
        } else {
            Host::Heap(Arc::from(host))
        }
    }

    /// The host as a string.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Built from a `&str` (ASCII-checked by `split_authority`, or any str for the
            // `From` impl): the inline bytes are a whole string's bytes, never cut inside a
            // character, so this cannot fail; the fallback keeps it panic-free regardless.
            Host::Inline { len, buf } => {
                std::str::from_utf8(buf.get(..usize::from(*len)).unwrap_or(&[])).unwrap_or("")
            }
            Host::Heap(s) => s,
        }
    }
}

impl std::ops::Deref for Host {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Host {
    fn from(s: &str) -> Host {
        Host::new(s, s.bytes().any(|b| b.is_ascii_uppercase()))
    }
}

impl Host {
    /// The host's bytes (no UTF-8 check: what comparisons and hashing use).
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Host::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or(&[]),
            Host::Heap(s) => s.as_bytes(),
        }
    }
}

impl PartialEq for Host {
    #[inline]
    fn eq(&self, o: &Host) -> bool {
        self.as_bytes() == o.as_bytes()
    }
}

impl Eq for Host {}

impl std::hash::Hash for Host {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of a URL authority (`[userinfo@]host[:port]`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthorityParts<'a> {
    /// The host, brackets of an IPv6 literal removed.
    pub(crate) host: &'a str,
    /// The port, when the authority gives one (`host:` gives none).
    pub(crate) port: Option<u16>,
    /// True when the host has upper-case ASCII letters.
    pub(crate) has_upper: bool,
    /// True when the authority is exactly `host:port` in canonical form: no userinfo, an
    /// explicit port without leading zeros, a host without upper-case letters or `%`.
    pub(crate) canonical: bool,
}

/// Split an authority into host and port in one pass over its bytes, checking the host as
/// [`check_host`] does. The `http` crate's `Uri::host` and `Uri::port_u16` search the string
/// once each; this is the per-request path.
pub(crate) fn split_authority(auth: &str) -> Result<AuthorityParts<'_>, Error> {
    let b = auth.as_bytes();
    // Userinfo ends at the last '@' (a host cannot hold one).
    let start = b.iter().rposition(|&c| c == b'@').map_or(0, |i| i + 1);
    let rest = auth.get(start..).unwrap_or("");
    let rb = rest.as_bytes();
    let (host, port_str) = if rb.first() == Some(&b'[') {
        let close = rb
            .iter()
            .position(|&c| c == b']')
            .ok_or_else(|| invalid_host(rest))?;
        let host = rest.get(1..close).unwrap_or("");
        match rb.get(close + 1) {
            None => (host, None),
            Some(b':') => (host, rest.get(close + 2..)),
            Some(_) => return Err(invalid_host(rest)),
        }
    } else {
        match rb.iter().rposition(|&c| c == b':') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(Error::with(Kind::InvalidRequest, msg("URL has no host")));
    }
    let mut has_upper = false;
    let mut has_pct = false;
    for &c in host.as_bytes() {
        if !c.is_ascii() {
            return Err(non_ascii_host(host));
        }
        if c.is_ascii_control() || c == b' ' || c == b'/' || c == b'@' {
            return Err(invalid_host(host));
        }
        has_upper |= c.is_ascii_uppercase();
        has_pct |= c == b'%';
    }
    let canonical = start == 0
        && !has_upper
        && !has_pct
        && matches!(port_str, Some(p) if !p.is_empty() && (p.len() == 1 || !p.starts_with('0')));
    let port = match port_str {
        None | Some("") => None,
        Some(p) => Some(parse_port(p).ok_or_else(|| {
            Error::with(
                Kind::InvalidRequest,
                msg(format!("invalid port {p:?} in URL")),
            )
        })?),
    };
    Ok(AuthorityParts {
        host,
        port,
        has_upper,
        canonical,
    })
}

/// Decimal digits only, at most 65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 {
        return None;
    }
    let mut n: u32 = 0;
    for &c in p.as_bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    u16::try_from(n).ok()
}

fn invalid_host(host: &str) -> Error {
    Error::with(Kind::InvalidRequest, msg(format!("invalid host {host:?}")))
}

fn non_ascii_host(host: &str) -> Error {
    Error::with(
        Kind::InvalidRequest,
        msg(format!(
            "host {host:?} is not ASCII; give its punycode form"
        )),
    )
}

/// The last route a thread built, with the client it was built for and the URL authority it
/// was built from (see [`route_for`]).
struct LastRoute {
    client: u64,
    authority: http::uri::Authority,
    route: Route,
    key: PoolKey,
}

thread_local! {
    /// One entry a thread: a request usually goes where the one before it on the same thread
    /// went, and the entry costs a comparison of the authority's bytes and two clones where
    /// building the route parses the authority, validates and lower-cases the host, picks the
    /// proxy and hashes the key (360 instructions a keep-alive request less, measured).
    static LAST_ROUTE: std::cell::RefCell<Option<LastRoute>> = const { std::cell::RefCell::new(None) };
}

/// The route of `url` for the client numbered `client`, and its pool key: `build` (which must
/// be a function of the client's configuration and of the URL's scheme and authority only)
/// runs unless this thread built the route of the same client, scheme and authority (compared
/// byte for byte) last. Errors are returned as `build` gives them and not remembered.
pub(crate) fn route_for(
    client: u64,
    url: &Uri,
    build: impl FnOnce() -> Result<Route, Error>,
) -> Result<(Route, PoolKey), Error> {
    let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
        let route = build()?;
        let key = route.pool_key();
        return Ok((route, key));
    };
    let hit = LAST_ROUTE
        .try_with(|last| {
            let last = last.try_borrow().ok()?;
            let last = last.as_ref()?;
            (last.client == client
                && last.route.scheme.as_str() == scheme
                && last.authority.as_str() == authority.as_str())
            .then(|| (last.route.clone(), last.key.clone()))
        })
        .ok()
        .flatten();
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let route = build()?;
    let key = route.pool_key();
    let _ = LAST_ROUTE.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(LastRoute {
                client,
                authority: authority.clone(),
                route: route.clone(),
                key: key.clone(),
            });
        }
    });
    Ok((route, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(a: &str) -> (String, Option<u16>, bool) {
        let p = split_authority(a).unwrap();
        (p.host.to_string(), p.port, p.has_upper)
    }

    #[test]
    fn split_authority_agrees_with_the_uri_accessors() {
        for url in [
            "http://example.com/",
            "http://Example.COM:8080/x",
            "http://user:pw@host.test:81/",
            "http://u@h/",
            "http://127.0.0.1:1/",
            "http://[::1]:8443/",
            "http://[::1]/",
            "http://[fe80::1%25eth0]:80/",
            "https://a-b.c_d.test:443",
            "http://host:/",
        ] {
            let uri: Uri = url.parse().unwrap();
            let (host, port, upper) = parts(uri.authority().unwrap().as_str());
            let want = uri
                .host()
                .unwrap()
                .trim_start_matches('[')
                .trim_end_matches(']');
            assert_eq!(host, want, "{url}");
            assert_eq!(port, uri.port_u16(), "{url}");
            assert_eq!(upper, want.bytes().any(|b| b.is_ascii_uppercase()), "{url}");
        }
    }

    #[test]
    fn first_hop_str_borrows_only_what_formatting_would_give() {
        let proxy = crate::dial::proxy::parse_proxy_url("http://proxy.test:3128").unwrap();
        for (url, borrowed) in [
            ("http://127.0.0.1:8080/", true),
            ("https://example.com:443/x?y", true),
            ("http://[::1]:8443/", true),
            ("http://h:0/", true),
            ("http://example.com/", false), // default port: not written
            ("http://Example.com:80/", false), // upper case: the route lower-cases it
            ("http://u:p@h.test:81/", false), // userinfo
            ("http://h.test:0081/", false), // leading zeros
            ("http://[fe80::1%25eth0]:80/", false),
            ("http://h.test:/", false), // empty port: the default
        ] {
            let uri: Uri = url.parse().unwrap();
            let route = Route::from_uri(&uri, None).unwrap();
            let formatted = route.first_hop_buf();
            match route.first_hop_str(&uri) {
                Some(s) => {
                    assert!(borrowed, "{url}: borrowed {s:?}");
                    assert_eq!(s, formatted.as_str(), "{url}");
                }
                None => assert!(!borrowed, "{url}: not borrowed"),
            }
            // Through a proxy the first hop is the proxy: never the URL's authority.
            let via = Route::from_uri(&uri, Some(proxy.clone())).unwrap();
            assert_eq!(via.first_hop_str(&uri), None, "{url}");
            assert_eq!(via.first_hop_buf().as_str(), "proxy.test:3128", "{url}");
        }
    }

    #[test]
    fn route_for_builds_once_per_client_scheme_and_authority_on_a_thread() {
        use std::cell::Cell;
        let builds = Cell::new(0);
        let route = |client: u64, url: &str| {
            let uri: Uri = url.parse().unwrap();
            route_for(client, &uri, || {
                builds.set(builds.get() + 1);
                Route::from_uri(&uri, None)
            })
        };
        // A client number no other test uses: the memo is per thread, and tests share threads.
        let c = 1 << 40;
        let (r, k) = route(c, "http://Example.test:8080/a").unwrap();
        assert_eq!(builds.get(), 1);
        let (r2, k2) = route(c, "http://Example.test:8080/b?q").unwrap();
        assert_eq!(
            builds.get(),
            1,
            "same client, scheme and authority: remembered"
        );
        assert_eq!(
            (r2.host.as_str(), r2.port, k2),
            ("example.test", 8080, k.clone())
        );
        assert_eq!(r, r2);
        for (client, url) in [
            (c + 1, "http://Example.test:8080/"), // another client
            (c, "https://Example.test:8080/"),    // another scheme
            (c, "http://example.test:8080/"),     // authorities are compared byte for byte
            (c, "http://u@example.test:8080/"),   // userinfo is part of the authority
            (c, "http://example.test:8081/"),     // another port
        ] {
            let before = builds.get();
            let (r3, k3) = route(client, url).unwrap();
            assert_eq!(builds.get(), before + 1, "{client} {url}");
            assert_eq!(
                r3,
                Route::from_uri(&url.parse().unwrap(), None).unwrap(),
                "{url}"
            );
            assert_eq!(k3, r3.pool_key(), "{url}");
        }
        // The last one is remembered, not the first.
        let before = builds.get();
        route(c, "http://example.test:8081/x").unwrap();
        assert_eq!(builds.get(), before);
        route(c, "http://Example.test:8080/").unwrap();
        assert_eq!(builds.get(), before + 1);
        // Errors are passed through and not remembered.
        let bad: Uri = "http://h:99999/".parse().unwrap();
        let fails = Cell::new(0);
        for _ in 0..2 {
            let e = route_for(c, &bad, || {
                fails.set(fails.get() + 1);
                Route::from_uri(&bad, None)
            })
            .unwrap_err();
            assert!(e.is_request(), "{e}");
        }
        assert_eq!(fails.get(), 2);
        // A proxy chosen by `build` is part of what is remembered.
        let proxy = crate::dial::proxy::parse_proxy_url("http://proxy.test:3128").unwrap();
        let uri: Uri = "http://target.test/".parse().unwrap();
        let via = || {
            route_for(c + 2, &uri, || {
                let mut r = Route::from_uri(&uri, None)?;
                r.proxy = Some(proxy.clone());
                Ok(r)
            })
            .unwrap()
        };
        let (a, ka) = via();
        let (b, kb) = route_for(c + 2, &uri, || unreachable!("remembered")).unwrap();
        assert_eq!((a.proxy.clone(), ka), (b.proxy.clone(), kb.clone()));
        assert_eq!(kb.proxy, Some(proxy.clone()));
    }

    #[test]
    fn split_authority_refuses_bad_hosts_and_ports() {
        for bad in [
            "", "@", ":80", "[::1", "[::1]x", "h\u{e9}", "a b", "h:99999", "h:8a",
        ] {
            let e = split_authority(bad).unwrap_err();
            assert!(e.is_request(), "{bad:?}: {e}");
        }
    }

    #[test]
    fn host_is_inline_when_short_and_lower_cased() {
        let h = Host::new("Example.COM", true);
        assert!(matches!(h, Host::Inline { .. }));
        assert_eq!(h.as_str(), "example.com");
        let long = "a".repeat(Host::INLINE + 1);
        let h = Host::new(&long, false);
        assert!(matches!(h, Host::Heap(_)));
        assert_eq!(h.as_str(), long);
        assert_eq!(Host::from("X.test"), Host::new("x.test", false));
        let exact = "b".repeat(Host::INLINE);
        assert_eq!(Host::new(&exact, false).as_str(), exact);
    }

    #[test]
    fn host_port_formats_like_join_host_port() {
        for (h, p, want) in [
            ("a.test", 80, "a.test:80"),
            ("::1", 8443, "[::1]:8443"),
            ("h", 0, "h:0"),
            ("h", 65535, "h:65535"),
        ] {
            assert_eq!(HostPort::new(h.as_bytes(), p).as_str(), want);
            assert_eq!(join_host_port(h, p), want);
        }
        let long = "x".repeat(200);
        assert_eq!(
            HostPort::new(long.as_bytes(), 1).as_str(),
            format!("{long}:1")
        );
    }

    #[test]
    fn pool_keys_equal_exactly_when_their_parts_are() {
        let a = PoolKey::new(Scheme::Http, Host::from("a.test"), 80, None);
        let b = PoolKey::new(Scheme::Http, Host::from("A.test"), 80, None);
        let c = PoolKey::new(Scheme::Https, Host::from("a.test"), 80, None);
        let d = PoolKey::new(Scheme::Http, Host::from("a.test"), 81, None);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        let mut m: KeyMap<u8> = KeyMap::default();
        m.insert(a.clone(), 1);
        assert_eq!(m.get(&b), Some(&1));
        assert_eq!(m.get(&c), None);
    }
}
