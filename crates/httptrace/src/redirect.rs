//! Following redirects: which status codes, which method and body for the next hop, how the
//! `Location` is resolved, and which headers must not follow the request to another host.

use http::{HeaderMap, Method, Response, StatusCode, Uri};

use crate::incoming::Incoming;

/// The next hop of a redirect.
pub(crate) struct NextHop {
    pub(crate) url: Uri,
    pub(crate) method: Method,
    /// 301/302/303 turn the request into a bodiless GET (HEAD stays HEAD).
    pub(crate) drop_body: bool,
    /// The Location had a scheme (`http://...`): a caller's custom `Host` does not follow it
    /// (Go keeps it only for a Location without one, issue 22233).
    pub(crate) absolute: bool,
}

pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Where a 3xx response sends the request, if it is to be followed (Go's `redirectBehavior`):
/// 301, 302 and 303 turn every method but GET and HEAD into GET and drop the body; 307/308
/// keep the method and the body, and are followed only when the body can be sent again
/// (`replayable`: the request's body was empty or in memory). `Ok(None)`: not followed (not a
/// redirect, no or empty Location, a body that cannot be replayed); the response is the answer.
///
/// # Errors
///
/// A Location that is not a URL, or one with another scheme than http/https (Go fails the
/// call, with "failed to parse Location header" or, from the transport, "unsupported protocol
/// scheme").
pub(crate) fn next_hop(
    method: &Method,
    url: &Uri,
    resp: &Response<Incoming>,
    replayable: bool,
) -> Result<Option<NextHop>, String> {
    let status = resp.status();
    if !is_redirect(status) {
        return Ok(None);
    }
    let Some(loc) = resp.headers().get(http::header::LOCATION) else {
        return Ok(None);
    };
    let loc = loc.as_bytes().trim_ascii();
    if loc.is_empty() {
        return Ok(None);
    }
    let (next, absolute) = resolve(url, loc)?;
    let (method, drop_body) = match status.as_u16() {
        301..=303 if *method != Method::GET && *method != Method::HEAD => (Method::GET, true),
        301..=303 => (method.clone(), true),
        _ if !replayable => return Ok(None),
        _ => (method.clone(), false),
    };
    Ok(Some(NextHop {
        url: next,
        method,
        drop_body,
        absolute,
    }))
}

/// Bytes a Location may carry that a request line may not: escaped, as Go's `EscapedPath` and
/// `RawQuery` handling sends them (a space, `"`, `<`, `>`, `\`, `^`, a backquote, `{`, `|`, `}`, and
/// every byte above 0x7E, raw UTF-8 included).
fn escape_location(loc: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(loc.len());
    let mut i = 0;
    while i < loc.len() {
        let b = loc[i];
        match b {
            0..=0x1f | 0x7f => return Err("invalid control character in the Location".into()),
            b'%' => {
                let hex = |j: usize| loc.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err("invalid %-escape in the Location".into());
                }
                out.push('%');
            }
            b' ' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' | 0x80.. => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
            _ => out.push(char::from(b)),
        }
        i += 1;
    }
    Ok(out)
}

/// The scheme of a reference (RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`),
/// and the rest after the colon.
fn split_scheme(r: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = r.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some((scheme, rest))
}

/// Resolve a `Location` value against the URL that answered (RFC 3986 §5.2, as Go's
/// `ResolveReference` does): the fragment dropped, dot segments removed (empty segments kept),
/// an empty path keeping the base's path and, without a query of its own, its query. Also
/// whether the Location had a scheme.
pub(crate) fn resolve(base: &Uri, loc: &[u8]) -> Result<(Uri, bool), String> {
    let escaped = escape_location(loc)?;
    let r = escaped.split('#').next().unwrap_or_default();
    let parse = |s: String| {
        s.parse::<Uri>()
            .map_err(|e| format!("the Location is not a URL: {e}"))
    };
    let base_scheme = base.scheme_str().unwrap_or("http");
    let (scheme, rest, absolute) = match split_scheme(r) {
        Some((sc, rest)) => {
            if !sc.eq_ignore_ascii_case("http") && !sc.eq_ignore_ascii_case("https") {
                return Err(format!(
                    "the Location has an unsupported protocol scheme {sc:?}"
                ));
            }
            (sc.to_ascii_lowercase(), rest, true)
        }
        None => (base_scheme.to_string(), r, false),
    };
    let (path_query, authority) = if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        (&after[end..], Some(&after[..end]))
    } else if absolute {
        return Err("the Location has a scheme but no host".into());
    } else {
        (rest, None)
    };
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    let Some(authority) = authority else {
        // A reference on the same authority.
        let base_path = base.path();
        let (path, query) = if path.is_empty() {
            (base_path.to_string(), query.or(base.query()))
        } else if path.starts_with('/') {
            (remove_dot_segments(path), query)
        } else {
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            (remove_dot_segments(&format!("{dir}{path}")), query)
        };
        let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
        let q = query.map(|q| format!("?{q}")).unwrap_or_default();
        return parse(format!("{scheme}://{authority}{path}{q}")).map(|u| (u, false));
    };
    let path = if path.is_empty() {
        String::new()
    } else {
        remove_dot_segments(path)
    };
    let q = query.map(|q| format!("?{q}")).unwrap_or_default();
    parse(format!("{scheme}://{authority}{path}{q}")).map(|u| (u, absolute))
}

/// RFC 3986 §5.2.4 as Go's `resolvePath` does it: `.` and `..` segments resolved, empty
/// segments kept (`/a//b`), a trailing `.` or `..` leaving a trailing slash.
fn remove_dot_segments(full: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut last = "";
    for elem in full.split('/') {
        last = elem;
        match elem {
            "." => {}
            ".." => {
                out.pop();
            }
            e => out.push(e),
        }
    }
    let mut s = String::with_capacity(full.len() + 1);
    s.push('/');
    s.push_str(&out.join("/"));
    if (last == "." || last == "..") && !s.ends_with('/') {
        s.push('/');
    }
    // A path that started with '/' gave a leading empty segment: one slash, not two.
    if s.starts_with("//") {
        s.remove(0);
    }
    s
}

/// Go's `refererForURL`: the URL of the hop that redirected, without its credentials, unless
/// the redirect goes from https to http (then none).
pub(crate) fn referer(from: &Uri, to: &Uri) -> Option<http::HeaderValue> {
    if from.scheme_str() == Some("https") && to.scheme_str() == Some("http") {
        return None;
    }
    let s = from.to_string();
    let s = match from.authority().map(|a| a.as_str()) {
        Some(a) if a.contains('@') => {
            let host = a.rsplit_once('@').map_or(a, |(_, h)| h);
            s.replacen(a, host, 1)
        }
        _ => s,
    };
    http::HeaderValue::try_from(s).ok()
}

/// Host (or port, or scheme) differs: credentials must not follow.
pub(crate) fn host_changed(a: &Uri, b: &Uri) -> bool {
    a.scheme_str() != b.scheme_str()
        || a.host().map(str::to_ascii_lowercase) != b.host().map(str::to_ascii_lowercase)
        || a.port_u16() != b.port_u16()
}

/// Go's `shouldCopyHeaderOnRedirect`: the fields that do not follow to another host (the
/// origin's credentials; a `Proxy-Authorization` the caller set is for the proxy, and follows).
pub(crate) fn strip_credentials(h: &mut HeaderMap) {
    h.remove(http::header::AUTHORIZATION);
    h.remove(http::header::COOKIE);
    h.remove("cookie2");
    h.remove("www-authenticate");
}

pub(crate) fn strip_body_headers(h: &mut HeaderMap) {
    h.remove(http::header::CONTENT_TYPE);
    h.remove(http::header::CONTENT_LENGTH);
    h.remove(http::header::CONTENT_ENCODING);
    h.remove(http::header::TRANSFER_ENCODING);
    h.remove(http::header::EXPECT);
}

/// Read a little of a redirect's body so its connection can be reused; drop the rest (which
/// closes the connection).
pub(crate) async fn discard(mut body: Incoming) {
    const SLURP: u64 = 4 * 1024;
    let mut n = 0u64;
    while n <= SLURP {
        match body.chunk().await {
            Ok(Some(c)) => n += c.len() as u64,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> String {
        resolve(&base.parse().unwrap(), loc.as_bytes())
            .unwrap()
            .0
            .to_string()
    }

    #[test]
    fn resolves_references() {
        assert_eq!(
            r("http://a.test/b/c?x", "http://o.test/p"),
            "http://o.test/p"
        );
        assert_eq!(r("https://a.test/b/c", "//o.test/p"), "https://o.test/p");
        assert_eq!(
            r("http://a.test:8080/b/c", "/d?e=1"),
            "http://a.test:8080/d?e=1"
        );
        assert_eq!(r("http://a.test/b/c", "d"), "http://a.test/b/d");
        assert_eq!(r("http://a.test/b/c/", "../d"), "http://a.test/b/d");
        assert_eq!(r("http://a.test/b/c", "./"), "http://a.test/b/");
        assert_eq!(r("http://a.test/b/c?x=1", "?y=2"), "http://a.test/b/c?y=2");
        // Go's ResolveReference: a fragment-only reference is the same document.
        assert_eq!(r("http://a.test/b/c?x=1", "#f"), "http://a.test/b/c?x=1");
        assert_eq!(r("http://a.test/b/c", "/d#f"), "http://a.test/d");
        assert_eq!(r("http://a.test/", "/a//b"), "http://a.test/a//b");
        assert_eq!(
            r("http://a.test/", "http://o.test/a/../b"),
            "http://o.test/b"
        );
        assert_eq!(r("http://a.test/", "HTTP://o.test"), "http://o.test/");
        assert_eq!(
            r("http://a.test/x", "/caf\u{e9} x"),
            "http://a.test/caf%C3%A9%20x"
        );
        assert_eq!(r("http://a.test/x", "/a/b/.."), "http://a.test/a/");
        assert_eq!(r("http://a.test/x", "../../.."), "http://a.test/");
        assert!(resolve(&"http://a.test/".parse().unwrap(), b"myapp://cb?code=1").is_err());
        assert!(resolve(&"http://a.test/".parse().unwrap(), b"mailto:x@y").is_err());
        assert!(resolve(&"http://a.test/".parse().unwrap(), b"http://[::1/x").is_err());
        assert!(resolve(&"http://a.test/".parse().unwrap(), b"/a%zz").is_err());
        assert!(resolve(&"http://a.test/".parse().unwrap(), b"/a\tb").is_err());
        // A colon after the first slash is no scheme.
        assert_eq!(r("http://a.test/x/", "./b:c/d"), "http://a.test/x/b:c/d");
    }

    #[test]
    fn referer_drops_credentials_and_https_to_http() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            referer(&u("http://u:p@a.test/x?y=1"), &u("http://b.test/")).unwrap(),
            "http://a.test/x?y=1"
        );
        assert!(referer(&u("https://a.test/x"), &u("http://a.test/")).is_none());
        assert_eq!(
            referer(&u("http://a.test/x"), &u("https://a.test/")).unwrap(),
            "http://a.test/x"
        );
    }

    #[test]
    fn credentials_only_dropped_across_hosts() {
        let a: Uri = "http://a.test/x".parse().unwrap();
        assert!(!host_changed(&a, &"http://A.test/y".parse().unwrap()));
        assert!(host_changed(&a, &"http://b.test/y".parse().unwrap()));
        assert!(host_changed(&a, &"https://a.test/y".parse().unwrap()));
        assert!(host_changed(&a, &"http://a.test:81/y".parse().unwrap()));
    }
}
