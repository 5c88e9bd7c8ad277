//! HTTP(S) proxies: the CONNECT tunnel, proxy URLs, and Go's `HTTP_PROXY`/`HTTPS_PROXY`/
//! `NO_PROXY` rules (`golang.org/x/net/http/httpproxy`).
//!
//! The CONNECT exchange fires **no** trace hooks (Go sends it with a background context).
//!
//! Decisions:
//! * Any 2xx answer opens the tunnel (RFC 9110 §9.3.6; Go accepts only 200). 1xx interim answers
//!   are skipped. Any other status fails with `Kind::Proxy(Some(status))`.
//! * The response head is read in chunks, bounded to 64 KiB. If the proxy sends bytes after a
//!   2xx head before we said anything, the dial fails (`Kind::Proxy(None)`): for the TLS we run
//!   next the server never speaks first, so such bytes mean a broken proxy, and Go, which drops
//!   them silently, would fail later with a confusing TLS error.
//! * Proxy credentials go in `Proxy-Authorization: Basic` on the CONNECT only.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use http::{StatusCode, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dial::resolve::parse_ip_literal;
use crate::error::{msg, Error, Kind};
use crate::route::{join_host_port, normalize_host, ProxyScheme, ProxyTarget, Scheme};
use crate::stream::Stream;

/// Upper bound of the CONNECT response head(s).
const MAX_CONNECT_HEAD: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// CONNECT
// ---------------------------------------------------------------------------------------------

/// Open a CONNECT tunnel to `target_host_port` (`host:port`, brackets for IPv6) through the proxy
/// at the other end of `stream`. The caller bounds it with a timeout (60 s by default).
pub(crate) async fn connect_tunnel(
    mut stream: Stream,
    target_host_port: &str,
    auth: Option<&(String, String)>,
    user_agent: Option<&str>,
) -> Result<Stream, Error> {
    let bad = |s: &str| s.bytes().any(|b| b.is_ascii_control() || b == b' ');
    if target_host_port.is_empty() || bad(target_host_port) || user_agent.is_some_and(bad) {
        return Err(Error::with(
            Kind::InvalidRequest,
            msg(format!("invalid CONNECT target {target_host_port:?}")),
        ));
    }
    let mut req = String::with_capacity(128);
    req.push_str("CONNECT ");
    req.push_str(target_host_port);
    req.push_str(" HTTP/1.1\r\nHost: ");
    req.push_str(target_host_port);
    req.push_str("\r\n");
    if let Some(ua) = user_agent {
        req.push_str("User-Agent: ");
        req.push_str(ua);
        req.push_str("\r\n");
    }
    if let Some(a) = auth {
        req.push_str("Proxy-Authorization: ");
        req.push_str(&basic_auth(&a.0, &a.1));
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let io_err = |e: io::Error| {
        Error::with(
            Kind::Proxy(None),
            io::Error::new(
                e.kind(),
                ProxyIoError {
                    what: format!("CONNECT {target_host_port}"),
                    source: e,
                },
            ),
        )
    };
    stream.write_all(req.as_bytes()).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;

    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    // Bytes of the interim (1xx) heads already parsed and dropped: they count against the
    // limit too, or a proxy sending 1xx heads without end would hold the dial until its timeout.
    let mut interim = 0usize;
    loop {
        // Parse every complete head in the buffer.
        while let Some(end) = head_end(&buf) {
            let (code, line) = parse_status_line(&buf[..end]).map_err(|m| {
                Error::with(
                    Kind::Proxy(None),
                    msg(format!("CONNECT {target_host_port}: {m}")),
                )
            })?;
            if (100..200).contains(&code) && code != 101 {
                interim += end;
                buf.drain(..end);
                continue;
            }
            if (200..300).contains(&code) {
                if end < buf.len() {
                    return Err(Error::with(
                        Kind::Proxy(None),
                        msg(format!(
                            "CONNECT {target_host_port}: proxy sent {} unexpected bytes after its {code} response",
                            buf.len() - end
                        )),
                    ));
                }
                return Ok(stream);
            }
            let status = StatusCode::from_u16(code).ok();
            return Err(Error::with(
                Kind::Proxy(status),
                msg(format!(
                    "CONNECT {target_host_port}: proxy answered {line:?}"
                )),
            ));
        }
        let used = interim.saturating_add(buf.len());
        if used >= MAX_CONNECT_HEAD {
            return Err(Error::with(
                Kind::Proxy(None),
                msg(format!(
                    "CONNECT {target_host_port}: proxy response head exceeds {MAX_CONNECT_HEAD} bytes"
                )),
            ));
        }
        let want = chunk.len().min(MAX_CONNECT_HEAD - used);
        let n = stream.read(&mut chunk[..want]).await.map_err(io_err)?;
        if n == 0 {
            return Err(Error::with(
                Kind::Proxy(None),
                msg(format!(
                    "CONNECT {target_host_port}: proxy closed the connection {}",
                    if buf.is_empty() {
                        "without answering"
                    } else {
                        "in the middle of its response"
                    }
                )),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[derive(Debug)]
struct ProxyIoError {
    what: String,
    source: io::Error,
}

impl fmt::Display for ProxyIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for ProxyIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Length of the first response head in `buf` (through its empty line; bare LF tolerated).
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() && line_start > 0 {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// `HTTP/1.x NNN reason` → (NNN, the line).
fn parse_status_line(head: &[u8]) -> Result<(u16, String), String> {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line).into_owned();
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or_else(|| format!("malformed proxy response {text:?}"))?;
    let code = match rest {
        [a, b, c, tail @ ..]
            if a.is_ascii_digit()
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && (tail.is_empty() || tail[0] == b' ') =>
        {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(format!("malformed proxy status line {text:?}")),
    };
    if code < 100 {
        return Err(format!("malformed proxy status line {text:?}"));
    }
    Ok((code, text))
}

/// `Basic base64(user:pass)`.
pub(crate) fn basic_auth(user: &str, pass: &str) -> String {
    let mut raw = Vec::with_capacity(user.len() + pass.len() + 1);
    raw.extend_from_slice(user.as_bytes());
    raw.push(b':');
    raw.extend_from_slice(pass.as_bytes());
    format!("Basic {}", base64(&raw))
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Proxy URLs
// ---------------------------------------------------------------------------------------------

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8 (Go's
/// `url.Parse` refuses both in a userinfo).
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (h, l) = (
                b.get(i + 1).and_then(|&c| hex(c))?,
                b.get(i + 2).and_then(|&c| hex(c))?,
            );
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `user:password` of a userinfo, decoded; a builder error naming proxy credentials.
fn proxy_credentials(user: &str, pass: &str) -> Result<(String, String), Error> {
    match (percent_decode(user), percent_decode(pass)) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => Err(Error::with(
            Kind::Builder,
            msg("invalid percent-encoding or non-UTF-8 bytes in proxy credentials"),
        )),
    }
}

/// `s` (a proxy URL, possibly malformed) with its credentials, if any, replaced by `***`,
/// for messages and `Debug` output: the `user:password@` before the host, in the authority
/// (the text after `://`, or from the start, up to the first `/`, `?` or `#`).
pub(crate) fn redact_userinfo(s: &str) -> std::borrow::Cow<'_, str> {
    let start = s.find("://").map_or(0, |i| i + 3);
    let rest = &s[start..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..auth_len].rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &rest[at..]).into(),
        None => s.into(),
    }
}

/// Parse an explicit proxy URL: `http://`, `https://`, `socks5://`, `socks5h://` (scheme
/// case-insensitive), optional percent-encoded `user:password@`, host (IPv6 in brackets),
/// optional port (default 80, 443, 1080, 1080). A value without `://` means `http://` (Go's
/// `parseProxy`, curl). Path, query and fragment are ignored. Errors are `Kind::Builder`.
pub(crate) fn parse_proxy_url(s: &str) -> Result<Arc<ProxyTarget>, Error> {
    let bad = |why: &str| {
        Error::with(
            Kind::Builder,
            msg(format!("invalid proxy URL {:?}: {why}", redact_userinfo(s))),
        )
    };
    let s_trim = s.trim();
    if s_trim.is_empty() {
        return Err(bad("empty"));
    }
    let (scheme_str, rest) = match s_trim.split_once("://") {
        Some((sch, rest)) => (sch.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), s_trim),
    };
    let scheme = match scheme_str.as_str() {
        "http" => ProxyScheme::Http,
        "https" => ProxyScheme::Https,
        "socks5" => ProxyScheme::Socks5,
        "socks5h" => ProxyScheme::Socks5h,
        other => return Err(bad(&format!("unsupported proxy scheme {other:?}"))),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let auth = match userinfo {
        None => None,
        Some(u) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            Some(proxy_credentials(user, pass)?)
        }
    };
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("invalid IPv6 address"));
        }
        match after {
            "" => (h, None),
            a => (
                h,
                Some(a.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let default_port = match scheme {
        ProxyScheme::Http => 80,
        ProxyScheme::Https => 443,
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p.parse::<u16>().map_err(|_| bad("invalid port"))?,
    };
    let host = normalize_host(host).map_err(|_| bad("invalid host"))?;
    let uri: Uri = format!("{scheme_str}://{}", join_host_port(&host, port))
        .parse()
        .map_err(|_| bad("invalid host"))?;
    Ok(Arc::new(ProxyTarget {
        scheme,
        host: host.into(),
        port,
        auth,
        uri,
    }))
}

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

/// Proxies from the environment with Go's rules: `HTTP_PROXY` for http targets, `HTTPS_PROXY`
/// for https targets (no fallback between them), `NO_PROXY` exceptions, loopback never proxied.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyConfig {
    http: Option<Arc<ProxyTarget>>,
    https: Option<Arc<ProxyTarget>>,
    no_proxy: NoProxy,
}

#[derive(Clone, Debug, Default)]
struct NoProxy {
    all: bool,
    ips: Vec<(IpAddr, Option<String>)>,
    cidrs: Vec<(IpAddr, u8)>,
    domains: Vec<DomainMatch>,
}

#[derive(Clone, Debug)]
struct DomainMatch {
    /// Always starts with '.'.
    suffix: String,
    port: Option<String>,
    /// The entry had no leading dot, so it also matches the bare domain.
    match_host: bool,
}

/// Read the process environment (Go's `httpproxy.FromEnvironment`): for each of `HTTP_PROXY`,
/// `HTTPS_PROXY`, `NO_PROXY`, the upper-case name first, then the lower-case one; an empty value
/// counts as unset. `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set (CGI; Go fails such
/// requests instead). Unparsable proxy values are ignored, as Go does.
pub(crate) fn proxy_from_env() -> ProxyConfig {
    proxy_from_vars(|k| std::env::var(k).ok())
}

/// [`proxy_from_env`] over any variable lookup (tests pass a map).
pub(crate) fn proxy_from_vars(get: impl Fn(&str) -> Option<String>) -> ProxyConfig {
    let any = |names: [&str; 2]| names.iter().filter_map(|n| get(n)).find(|v| !v.is_empty());
    let cgi = get("REQUEST_METHOD").is_some_and(|v| !v.is_empty());
    let parse = |v: Option<String>, var: &str| {
        let v = v?;
        match parse_proxy_url(&v) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(variable = var, error = %e, "ignoring invalid proxy setting");
                None
            }
        }
    };
    let http = if cgi {
        None
    } else {
        parse(any(["HTTP_PROXY", "http_proxy"]), "HTTP_PROXY")
    };
    let https = parse(any(["HTTPS_PROXY", "https_proxy"]), "HTTPS_PROXY");
    let no_proxy = parse_no_proxy(&any(["NO_PROXY", "no_proxy"]).unwrap_or_default());
    ProxyConfig {
        http,
        https,
        no_proxy,
    }
}

/// Go's `net.SplitHostPort`, loosely: `host:port`, `[v6]:port`; `None` without a port.
fn split_host_port(p: &str) -> Option<(&str, &str)> {
    if let Some(rest) = p.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        Some((h, after.strip_prefix(':')?))
    } else {
        let (h, port) = p.rsplit_once(':')?;
        if h.contains(':') {
            None
        } else {
            Some((h, port))
        }
    }
}

fn parse_cidr(p: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = p.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn cidr_contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, canonical(ip)) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// IPv4-mapped IPv6 as IPv4 (Go's `net.IP` makes no difference between the two).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn parse_no_proxy(value: &str) -> NoProxy {
    let mut np = NoProxy::default();
    for p in value.split(',') {
        let p = p.trim().to_ascii_lowercase();
        if p.is_empty() {
            continue;
        }
        if p == "*" {
            return NoProxy {
                all: true,
                ..NoProxy::default()
            };
        }
        if let Some(c) = parse_cidr(&p) {
            np.cidrs.push(c);
            continue;
        }
        let (phost, pport) = match split_host_port(&p) {
            Some((h, port)) => {
                if h.is_empty() {
                    continue;
                }
                // `host:` (an empty port) matches every port, as in Go.
                (
                    h.to_owned(),
                    Some(port.to_owned()).filter(|p| !p.is_empty()),
                )
            }
            None => (p.clone(), None),
        };
        if let Some(ip) = parse_ip_literal(&phost) {
            np.ips.push((canonical(ip), pport));
            continue;
        }
        let phost = phost
            .strip_prefix("*.")
            .map(|h| format!(".{h}"))
            .unwrap_or(phost);
        if phost.is_empty() {
            continue;
        }
        let (suffix, match_host) = if phost.starts_with('.') {
            (phost, false)
        } else {
            (format!(".{phost}"), true)
        };
        np.domains.push(DomainMatch {
            suffix,
            port: pport,
            match_host,
        });
    }
    np
}

/// An entry without a port matches every port.
fn port_matches(entry: &Option<String>, port: &str) -> bool {
    match entry {
        None => true,
        Some(p) => p == port,
    }
}

impl ProxyConfig {
    /// A configuration without proxies.
    #[allow(dead_code)]
    pub(crate) fn none() -> ProxyConfig {
        ProxyConfig::default()
    }

    /// True when no proxy is configured at all.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The proxy for a request to `scheme://host:port` (`host` without brackets, `port` with the
    /// scheme's default filled in), or `None` to go direct. Go's `useProxy`: `localhost` and
    /// loopback IPs are never proxied; `NO_PROXY` entries are `*` (everything), IPs and CIDRs
    /// (for IP hosts), `[.]domain[:port]` and `*.domain` (suffix match on the name; an entry
    /// without a leading dot also matches the name itself), each with an optional port.
    pub(crate) fn proxy_for(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> Option<Arc<ProxyTarget>> {
        let proxy = match scheme {
            Scheme::Http => self.http.as_ref()?,
            Scheme::Https => self.https.as_ref()?,
        };
        self.use_proxy(host, port).then(|| proxy.clone())
    }

    fn use_proxy(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" {
            return false;
        }
        let ip = parse_ip_literal(host).map(canonical);
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        let np = &self.no_proxy;
        if np.all {
            return false;
        }
        let host = host.trim().to_ascii_lowercase();
        let port = port.to_string();
        if let Some(ip) = ip {
            if np
                .ips
                .iter()
                .any(|(m, p)| *m == ip && port_matches(p, &port))
            {
                return false;
            }
            if np.cidrs.iter().any(|(n, b)| cidr_contains(*n, *b, ip)) {
                return false;
            }
        }
        for d in &np.domains {
            let hit = host.ends_with(&d.suffix) || (d.match_host && host == d.suffix[1..]);
            if hit && port_matches(&d.port, &port) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tokio::net::{TcpListener, TcpStream};

    #[test]
    fn base64_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn proxy_urls() {
        let p = parse_proxy_url("http://u%40x:p%3Ass@Proxy.Example:3128/ignored").unwrap();
        assert_eq!(p.scheme, ProxyScheme::Http);
        assert_eq!(&*p.host, "proxy.example");
        assert_eq!(p.port, 3128);
        assert_eq!(p.auth, Some(("u@x".into(), "p:ss".into())));
        assert_eq!(p.uri.to_string(), "http://proxy.example:3128/");
        assert_eq!(p.host_port(), "proxy.example:3128");

        let p = parse_proxy_url("proxy:8080").unwrap();
        assert_eq!((p.scheme, p.port), (ProxyScheme::Http, 8080));
        let p = parse_proxy_url("localhost").unwrap();
        assert_eq!(p.port, 80);
        let p = parse_proxy_url("HTTPS://[::1]").unwrap();
        assert_eq!(
            (p.scheme, &*p.host, p.port),
            (ProxyScheme::Https, "::1", 443)
        );
        assert_eq!(p.host_port(), "[::1]:443");
        let p = parse_proxy_url("socks5://127.0.0.1").unwrap();
        assert_eq!((p.scheme, p.port), (ProxyScheme::Socks5, 1080));
        let p = parse_proxy_url("socks5h://user@h:9050").unwrap();
        assert_eq!(p.scheme, ProxyScheme::Socks5h);
        assert_eq!(p.auth, Some(("user".into(), String::new())));
        for bad in [
            "",
            "ftp://x",
            "http://",
            "http://h:99999",
            "http://[::1",
            "http://h:x",
            "http://a%zz@h",
        ] {
            assert!(parse_proxy_url(bad).unwrap_err().is_builder(), "{bad}");
        }
    }

    fn env(vars: &[(&str, &str)]) -> ProxyConfig {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        proxy_from_vars(|k| m.get(k).cloned())
    }

    fn proxied(c: &ProxyConfig, scheme: Scheme, host: &str, port: u16) -> Option<String> {
        c.proxy_for(scheme, host, port).map(|p| p.host_port())
    }

    #[test]
    fn env_selection_and_precedence() {
        let c = env(&[
            ("HTTP_PROXY", "http://up:1"),
            ("http_proxy", "http://low:2"),
            ("https_proxy", "low-s:3"),
        ]);
        assert_eq!(
            proxied(&c, Scheme::Http, "example.com", 80).as_deref(),
            Some("up:1")
        );
        assert_eq!(
            proxied(&c, Scheme::Https, "example.com", 443).as_deref(),
            Some("low-s:3")
        );
        // Empty upper-case value falls through to lower-case.
        let c = env(&[("HTTP_PROXY", ""), ("http_proxy", "http://low:2")]);
        assert_eq!(
            proxied(&c, Scheme::Http, "a.b", 80).as_deref(),
            Some("low:2")
        );
        // No fallback from https to HTTP_PROXY.
        assert_eq!(proxied(&c, Scheme::Https, "a.b", 443), None);
        // CGI: HTTP_PROXY ignored, HTTPS_PROXY kept.
        let c = env(&[
            ("HTTP_PROXY", "http://p:1"),
            ("HTTPS_PROXY", "http://p:2"),
            ("REQUEST_METHOD", "GET"),
        ]);
        assert_eq!(proxied(&c, Scheme::Http, "a.b", 80), None);
        assert_eq!(
            proxied(&c, Scheme::Https, "a.b", 443).as_deref(),
            Some("p:2")
        );
        // Invalid values ignored.
        let c = env(&[("HTTP_PROXY", "gopher://x")]);
        assert!(c.is_empty());
        assert!(env(&[]).is_empty());
    }

    #[test]
    fn loopback_never_proxied() {
        let c = env(&[("HTTP_PROXY", "p:1"), ("HTTPS_PROXY", "p:1")]);
        for h in [
            "localhost",
            "127.0.0.1",
            "127.9.8.7",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(proxied(&c, Scheme::Http, h, 80), None, "{h}");
            assert_eq!(proxied(&c, Scheme::Https, h, 443), None, "{h}");
        }
        // Go only special-cases exactly "localhost".
        assert!(proxied(&c, Scheme::Http, "localhost.localdomain", 80).is_some());
        assert!(proxied(&c, Scheme::Http, "10.0.0.1", 80).is_some());
    }

    #[test]
    fn no_proxy_rules() {
        let c = env(&[
            ("HTTP_PROXY", "p:1"),
            (
                "NO_PROXY",
                " Foo.com, .bar.com ,*.baz.com,qux.com:8080,10.1.2.3,192.168.0.0/16,[2001:db8::1]:81,fd00::/8,,",
            ),
        ]);
        let direct = |h: &str, port: u16| proxied(&c, Scheme::Http, h, port).is_none();
        // "foo.com" matches itself and subdomains.
        assert!(direct("foo.com", 80) && direct("a.foo.com", 80));
        assert!(!direct("xfoo.com", 80));
        // ".bar.com" matches subdomains only.
        assert!(direct("a.bar.com", 80) && !direct("bar.com", 80));
        // "*.baz.com" is ".baz.com".
        assert!(direct("x.baz.com", 80) && !direct("baz.com", 80));
        // Port-qualified.
        assert!(direct("qux.com", 8080) && !direct("qux.com", 80));
        assert!(direct("a.qux.com", 8080));
        // IPs and CIDRs.
        assert!(direct("10.1.2.3", 80) && !direct("10.1.2.4", 80));
        assert!(direct("192.168.44.1", 80) && !direct("192.169.0.1", 80));
        assert!(direct("2001:db8::1", 81) && !direct("2001:db8::1", 80));
        assert!(direct("fd12::7", 80) && !direct("fe80::1", 80));
        assert!(!direct("example.org", 80));

        let all = env(&[("HTTPS_PROXY", "p:1"), ("no_proxy", "example.com,*")]);
        assert_eq!(proxied(&all, Scheme::Https, "anything.test", 443), None);
        let ip_as_domain = env(&[("HTTP_PROXY", "p:1"), ("NO_PROXY", "2.3")]);
        // Go's domain matchers apply to IP hosts too (string suffix ".2.3").
        assert_eq!(proxied(&ip_as_domain, Scheme::Http, "1.1.2.3", 80), None);
        // An empty port (`host:`, `[v6]:`, `ip:`) matches every port, as in Go (whose
        // `SplitHostPort` gives an empty port); it used to match none.
        let empty_port = env(&[
            ("HTTP_PROXY", "p:1"),
            ("NO_PROXY", "direct.test:,[2001:db8::2]:,10.9.9.9:"),
        ]);
        let direct = |h: &str, port: u16| proxied(&empty_port, Scheme::Http, h, port).is_none();
        assert!(direct("direct.test", 80) && direct("a.direct.test", 8080));
        assert!(direct("2001:db8::2", 443) && direct("10.9.9.9", 1));
        assert!(!direct("other.test", 80));
    }

    /// Messages and `Debug` output show a proxy URL without its credentials.
    #[test]
    fn credentials_are_redacted() {
        assert_eq!(redact_userinfo("http://u:pw@h:1/x@y"), "http://***@h:1/x@y");
        assert_eq!(redact_userinfo("u:p@w@h:1"), "***@h:1");
        assert_eq!(redact_userinfo("socks5://h:1"), "socks5://h:1");
        assert_eq!(
            redact_userinfo("http://h/p?q=a@b#c@d"),
            "http://h/p?q=a@b#c@d"
        );
        assert_eq!(redact_userinfo("http://ü:é@[::1"), "http://***@[::1");
        assert_eq!(redact_userinfo(""), "");
        for bad in [
            "http://user:S3cr3t@h:99999",
            "ftp://user:S3cr3t@h",
            "user:S3cr3t@[::1",
        ] {
            let e = parse_proxy_url(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains("invalid proxy URL") && !e.contains("S3cr3t"),
                "{e}"
            );
        }
        let p = parse_proxy_url("http://user:S3cr3t@h:1").unwrap();
        let d = format!("{p:?}");
        assert!(d.contains("\"h\"") && !d.contains("S3cr3t"), "{d}");
    }

    // ----- CONNECT -----

    /// A one-shot proxy: reads the request head, sends `answer`, then echoes.
    async fn tiny_proxy(
        answer: &'static [u8],
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut b).await.unwrap() == 0 {
                    break;
                }
                head.push(b[0]);
            }
            s.write_all(answer).await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            String::from_utf8(head).unwrap()
        });
        (addr, h)
    }

    async fn tcp(a: std::net::SocketAddr) -> Stream {
        Stream::Tcp(TcpStream::connect(a).await.unwrap())
    }

    #[tokio::test]
    async fn connect_200_tunnel_works() {
        let (addr, h) = tiny_proxy(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\nX: y\r\n\r\n",
        )
        .await;
        let auth = ("user".to_string(), "pa:ss".to_string());
        let mut s = connect_tunnel(
            tcp(addr).await,
            "example.com:443",
            Some(&auth),
            Some("ua/1"),
        )
        .await
        .unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
        drop(s);
        let head = h.await.unwrap();
        assert_eq!(
            head,
            format!(
                "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: ua/1\r\nProxy-Authorization: {}\r\n\r\n",
                basic_auth("user", "pa:ss")
            )
        );
    }

    #[tokio::test]
    async fn connect_407_and_eof_and_junk() {
        let (addr, _h) = tiny_proxy(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let e = connect_tunnel(tcp(addr).await, "[::1]:443", None, None)
            .await
            .unwrap_err();
        assert!(e.is_proxy() && e.is_connect());
        assert_eq!(
            e.proxy_status(),
            Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        );
        assert!(
            e.to_string()
                .starts_with("proxy refused the tunnel: 407 Proxy Authentication Required"),
            "{e}"
        );

        // A proxy that closes without answering.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 512];
            let _ = s.read(&mut b).await;
            // closes
        });
        let e = connect_tunnel(tcp(a).await, "h:443", None, None)
            .await
            .unwrap_err();
        assert!(e.is_proxy() && e.proxy_status().is_none(), "{e}");
        assert!(e.to_string().contains("without answering"), "{e}");

        let (addr, _h) = tiny_proxy(b"HTTP/1.1 200 OK\r\n\r\nEXTRA").await;
        let e = connect_tunnel(tcp(addr).await, "h:443", None, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("unexpected bytes"), "{e}");

        let (addr, _h) = tiny_proxy(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        let e = connect_tunnel(tcp(addr).await, "h:443", None, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("malformed"), "{e}");

        let e = connect_tunnel(tcp(addr).await, "h:443\r\nX: y", None, None).await;
        assert!(e.is_err());
    }

    #[test]
    fn head_parsing() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nrest"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\n\n"), Some(17));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.0 204\r\n").unwrap().0, 204);
        assert!(parse_status_line(b"HTTP/1.1 20 OK").is_err());
        assert!(parse_status_line(b"HTTP/1.1 2000 OK").is_err());
        assert!(parse_status_line(b"HTTP/2 200").is_err());
    }
}
