//! HTTP/2 serving of one connection with the `h2` crate's server API, using
//! the same [`Handler`] as the HTTP/1.1 server.
//!
//! Normally reached through [`crate::http1::Server`] (TLS + ALPN `h2`, or
//! [`crate::http1::ServerBuilder::h2_prior_knowledge`]); [`serve`] runs it on
//! any stream directly.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ::h2::server::SendResponse;
use ::h2::{Reason, RecvStream, SendStream};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

use crate::http1::{Body, ConnCtx, ContinuePolicy, Handler, Request, Response, Shared};
use crate::util::MAX_BODY;

/// HTTP/2 connection options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct H2Options {
    /// SETTINGS_MAX_CONCURRENT_STREAMS to advertise (None: h2's default, unlimited).
    pub max_concurrent_streams: Option<u32>,
    /// After this many requests on a connection, start a graceful GOAWAY.
    pub goaway_after: Option<usize>,
    /// What to do with `expect: 100-continue`.
    pub continue_policy: ContinuePolicy,
}

/// Serves HTTP/2 (the client must start with the connection preface) on `io`
/// until the connection ends.
pub async fn serve<S>(io: S, handler: Handler, options: H2Options) -> Result<(), ::h2::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ctx = ConnCtx {
        shared: Shared::standalone(handler, options),
        conn_id: 0,
        remote: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        tls: false,
    };
    serve_ctx(io, ctx).await
}

pub(crate) async fn serve_ctx<S>(io: S, ctx: ConnCtx) -> Result<(), ::h2::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = ::h2::server::Builder::new();
    if let Some(n) = ctx.shared.h2.max_concurrent_streams {
        builder.max_concurrent_streams(n);
    }
    let handshake = builder.handshake::<_, Bytes>(io);
    let mut conn = match tokio::time::timeout(Duration::from_secs(10), handshake).await {
        Ok(r) => r?,
        Err(_) => return Err(::h2::Error::from(Reason::SETTINGS_TIMEOUT)),
    };
    let goaway_after = ctx.shared.h2.goaway_after;
    let ctx = Arc::new(ctx);
    let mut streams: JoinSet<()> = JoinSet::new();
    let mut count = 0usize;
    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => {
                    count += 1;
                    let ctx = ctx.clone();
                    streams.spawn(async move {
                        let _ = handle_stream(req, respond, ctx).await;
                    });
                    if goaway_after == Some(count) {
                        conn.graceful_shutdown();
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
        }
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn header_map(fields: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in fields {
        if HOP_BY_HOP.iter().any(|h| n.eq_ignore_ascii_case(h)) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.append(n, v);
        }
    }
    map
}

fn head(status: u16, fields: &[(String, String)]) -> Result<http::Response<()>, ::h2::Error> {
    let status =
        StatusCode::from_u16(status).map_err(|_| ::h2::Error::from(Reason::INTERNAL_ERROR))?;
    let mut resp = http::Response::new(());
    *resp.status_mut() = status;
    *resp.headers_mut() = header_map(fields);
    Ok(resp)
}

async fn handle_stream(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    ctx: Arc<ConnCtx>,
) -> Result<(), ::h2::Error> {
    let (parts, mut body) = req.into_parts();
    let expects = parts
        .headers
        .get_all("expect")
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let target = if parts.method == Method::CONNECT {
        parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default()
    } else {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".to_string())
    };
    let mut request = Request {
        method: parts.method,
        target,
        version: parts.version,
        headers: parts.headers,
        body: Bytes::new(),
        connection: ctx.conn_id,
        remote_addr: ctx.remote,
        tls: ctx.tls,
        authority: parts.uri.authority().map(|a| a.to_string()),
    };
    if expects {
        match ctx.shared.continue_policy {
            ContinuePolicy::Auto => {
                if !body.is_end_stream() {
                    respond.send_informational(head(100, &[])?)?;
                }
            }
            ContinuePolicy::Never => {}
            ContinuePolicy::Reject(status) => {
                ctx.shared.record(&request);
                respond.send_response(head(status, &[])?, true)?;
                return Ok(());
            }
        }
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buf.len() + chunk.len() > MAX_BODY {
            respond.send_reset(Reason::REFUSED_STREAM);
            return Ok(());
        }
        buf.extend_from_slice(&chunk);
    }
    request.body = buf.freeze();
    ctx.shared.record(&request);
    let head_only = request.method == Method::HEAD;
    let resp = (ctx.shared.handler)(request);
    send(&mut respond, resp, head_only).await
}

async fn send(
    respond: &mut SendResponse<Bytes>,
    resp: Response,
    head_only: bool,
) -> Result<(), ::h2::Error> {
    for (status, fields) in &resp.informational {
        respond.send_informational(head(*status, fields)?)?;
    }
    if !resp.delay.is_zero() {
        tokio::time::sleep(resp.delay).await;
    }
    let no_body_status = resp.status == 204 || resp.status == 304;
    let mut final_head = head(resp.status, &resp.headers)?;
    if let Body::Full(b) = &resp.body {
        if !no_body_status && !resp.has_header("content-length") {
            final_head
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(b.len()));
        }
    }
    let trailers = if resp.trailers.is_empty() {
        None
    } else {
        Some(header_map(&resp.trailers))
    };
    let (pieces, delay) = match resp.body {
        Body::Full(b) => (vec![b], Duration::ZERO),
        Body::Chunked { chunks, delay } | Body::CloseDelimited { chunks, delay } => (chunks, delay),
    };
    let pieces: Vec<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
    if head_only || no_body_status || (pieces.is_empty() && trailers.is_none()) {
        respond.send_response(final_head, true)?;
        return Ok(());
    }
    let mut stream = respond.send_response(final_head, false)?;
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        send_all(&mut stream, p, i + 1 == n && trailers.is_none()).await?;
    }
    match trailers {
        Some(t) => stream.send_trailers(t)?,
        None if n == 0 => stream.send_data(Bytes::new(), true)?,
        None => {}
    }
    Ok(())
}

/// Sends `data` respecting flow control, ending the stream if `end`.
async fn send_all(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> Result<(), ::h2::Error> {
    if data.is_empty() {
        if end {
            stream.send_data(Bytes::new(), true)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            None => return Err(::h2::Error::from(Reason::CANCEL)),
            Some(Err(e)) => return Err(e),
            Some(Ok(0)) => continue,
            Some(Ok(n)) => {
                let piece = data.split_to(n.min(data.len()));
                stream.send_data(piece, end && data.is_empty())?;
            }
        }
    }
    Ok(())
}
