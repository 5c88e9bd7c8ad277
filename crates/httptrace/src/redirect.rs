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
}

pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

pub(crate) fn has_location(resp: &Response<Incoming>) -> bool {
    resp.headers().contains_key(http::header::LOCATION)
}

/// Where a 3xx response sends the request, if it is to be followed (Go's rules): 301 and 302
/// turn POST into GET, 303 turns everything but HEAD into GET, and all three drop the body;
/// 307/308 keep the method and the body, and are followed only when the body can be sent again
/// (`replayable`: the request's body was empty or in memory).
pub(crate) fn next_hop(
    method: &Method,
    url: &Uri,
    resp: &Response<Incoming>,
    replayable: bool,
) -> Option<NextHop> {
    let status = resp.status();
    if !is_redirect(status) {
        return None;
    }
    let loc = resp.headers().get(http::header::LOCATION)?.to_str().ok()?;
    let next = resolve(url, loc)?;
    match status.as_u16() {
        301..=303 => {
            let m = match status.as_u16() {
                303 if *method != Method::HEAD => Method::GET,
                301 | 302 if *method == Method::POST => Method::GET,
                _ => method.clone(),
            };
            Some(NextHop {
                url: next,
                method: m,
                drop_body: true,
            })
        }
        _ => {
            if !replayable {
                return None;
            }
            Some(NextHop {
                url: next,
                method: method.clone(),
                drop_body: false,
            })
        }
    }
}

/// Resolve a `Location` value against the URL that answered (RFC 3986 §5.2, enough of it for
/// redirects: absolute, scheme-relative, absolute-path and relative-path references).
pub(crate) fn resolve(base: &Uri, loc: &str) -> Option<Uri> {
    let loc = loc.trim();
    if loc.is_empty() {
        return None;
    }
    let lower = loc.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return loc.parse().ok();
    }
    let scheme = base.scheme_str()?;
    if let Some(rest) = loc.strip_prefix("//") {
        return format!("{scheme}://{rest}").parse().ok();
    }
    let authority = base.authority()?.as_str();
    let (path_part, query) = match loc.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (loc, None),
    };
    let path = if path_part.starts_with('/') {
        remove_dot_segments(path_part)
    } else if path_part.is_empty() {
        base.path().to_string()
    } else {
        let bp = base.path();
        let dir = match bp.rfind('/') {
            Some(i) => &bp[..=i],
            None => "/",
        };
        remove_dot_segments(&format!("{dir}{path_part}"))
    };
    let q = match query {
        Some(q) => format!("?{q}"),
        None if path_part.is_empty() => base.query().map(|q| format!("?{q}")).unwrap_or_default(),
        None => String::new(),
    };
    format!("{scheme}://{authority}{path}{q}").parse().ok()
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::from("/");
    s.push_str(&out.join("/"));
    if trailing && !s.ends_with('/') {
        s.push('/');
    }
    s
}

/// Host (or port, or scheme) differs: credentials must not follow.
pub(crate) fn host_changed(a: &Uri, b: &Uri) -> bool {
    a.scheme_str() != b.scheme_str()
        || a.host().map(str::to_ascii_lowercase) != b.host().map(str::to_ascii_lowercase)
        || a.port_u16() != b.port_u16()
}

pub(crate) fn strip_credentials(h: &mut HeaderMap) {
    h.remove(http::header::AUTHORIZATION);
    h.remove(http::header::COOKIE);
    h.remove(http::header::PROXY_AUTHORIZATION);
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
        resolve(&base.parse().unwrap(), loc).unwrap().to_string()
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
        assert!(resolve(&"http://a.test/".parse().unwrap(), "").is_none());
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
