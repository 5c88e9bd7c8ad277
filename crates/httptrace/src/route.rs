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

/// A configured proxy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    pub(crate) host: Arc<str>,
    pub(crate) port: u16,
    pub(crate) proxy: Option<Arc<ProxyTarget>>,
}

impl Route {
    /// Build the route of `uri` (absolute URI required).
    pub(crate) fn from_uri(uri: &Uri, proxy: Option<Arc<ProxyTarget>>) -> Result<Route, Error> {
        let scheme = match uri.scheme_str() {
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
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::with(Kind::InvalidRequest, msg("URL has no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        check_host(host)?;
        // One allocation: lower-case only when needed.
        let host: Arc<str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Arc::from(host.to_ascii_lowercase())
        } else {
            Arc::from(host)
        };
        let port = uri.port_u16().unwrap_or_else(|| scheme.default_port());
        Ok(Route {
            scheme,
            host,
            port,
            proxy,
        })
    }

    /// Go's `connectMethod.addr()`: the first hop's `host:port` (the proxy's with a proxy).
    pub(crate) fn first_hop(&self) -> String {
        match &self.proxy {
            Some(p) => p.host_port(),
            None => self.target_host_port(),
        }
    }

    /// The target's `host:port`.
    pub(crate) fn target_host_port(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    /// The pool key: for plain http through a forward proxy the target is dropped (one pool of
    /// connections to the proxy serves every http target), as Go does.
    pub(crate) fn pool_key(&self) -> PoolKey {
        match &self.proxy {
            Some(p) if p.is_forward_for(self.scheme) => PoolKey {
                scheme: self.scheme,
                host: Arc::from(""),
                port: 0,
                proxy: Some(p.clone()),
            },
            _ => PoolKey {
                scheme: self.scheme,
                host: self.host.clone(),
                port: self.port,
                proxy: self.proxy.clone(),
            },
        }
    }

    /// True when this request is sent in absolute form to a forward proxy.
    pub(crate) fn uses_forward_proxy(&self) -> bool {
        matches!(&self.proxy, Some(p) if p.is_forward_for(self.scheme))
    }
}

/// Key of the idle pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) scheme: Scheme,
    pub(crate) host: Arc<str>,
    pub(crate) port: u16,
    pub(crate) proxy: Option<Arc<ProxyTarget>>,
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
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Reject non-ASCII names (IDNA is not implemented: the `http` crate already refuses non-ASCII
/// URIs, so this only guards hosts built by other means) and bytes no host can hold.
pub(crate) fn check_host(host: &str) -> Result<(), Error> {
    if !host.is_ascii() {
        return Err(Error::with(
            Kind::InvalidRequest,
            msg(format!(
                "host {host:?} is not ASCII; give its punycode form"
            )),
        ));
    }
    if host
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'/' || b == b'@')
    {
        return Err(Error::with(
            Kind::InvalidRequest,
            msg(format!("invalid host {host:?}")),
        ));
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
