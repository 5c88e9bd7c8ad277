//! Request bodies.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::error::BoxError;

/// A request body: empty, a buffer in memory (replayable, so the request can be retried and
/// redirected with 307/308), or a stream of bytes (sent once).
pub struct Body {
    pub(crate) kind: BodyKind,
}

pub(crate) type DynBody = Pin<Box<dyn HttpBody<Data = Bytes, Error = BoxError> + Send + 'static>>;

pub(crate) enum BodyKind {
    Empty,
    Full(Bytes),
    Stream {
        body: DynBody,
        /// Declared length, when the stream knows it (sent as Content-Length).
        len: Option<u64>,
    },
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body {
            kind: BodyKind::Empty,
        }
    }

    /// A body held in memory. Sent with `Content-Length`; replayable.
    pub fn full(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        Body {
            kind: BodyKind::Full(b),
        }
    }

    /// Wrap any `http_body::Body`. Sent with `Content-Length` when its size hint is exact,
    /// otherwise with `Transfer-Encoding: chunked`. Not replayable: a request with such a body
    /// is never retried and 307/308 redirects are not followed.
    ///
    /// The length is checked as the body is sent: yielding more or fewer bytes than an exact
    /// hint fails the request ([`Error::is_request`](crate::Error::is_request)). A body hinting
    /// 0 bytes is read to its end too unless `is_end_stream` already says it ended.
    pub fn wrap<B>(body: B) -> Body
    where
        B: HttpBody + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        let len = body.size_hint().exact();
        let mapped = MapBody {
            inner: Box::pin(body),
        };
        Body {
            kind: BodyKind::Stream {
                body: Box::pin(mapped),
                len,
            },
        }
    }

    /// Wrap a stream of byte chunks, sent with `Transfer-Encoding: chunked`.
    pub fn from_stream<S, D, E>(stream: S) -> Body
    where
        S: futures_util::Stream<Item = Result<D, E>> + Send + 'static,
        D: Into<Bytes>,
        E: Into<BoxError>,
    {
        Body {
            kind: BodyKind::Stream {
                body: Box::pin(StreamBody {
                    inner: Box::pin(stream),
                }),
                len: None,
            },
        }
    }

    /// True when the body can be sent again (empty or in memory).
    pub fn is_replayable(&self) -> bool {
        !matches!(self.kind, BodyKind::Stream { .. })
    }

    /// The body's exact length, when known.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Full(b) => Some(b.len() as u64),
            BodyKind::Stream { len, .. } => *len,
        }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// A stream whose size hint says 0 bytes but which has not said it ended: it is polled
    /// (and any data it yields fails the request as a length mismatch) instead of trusted.
    pub(crate) fn is_unended_empty_stream(&self) -> bool {
        matches!(&self.kind, BodyKind::Stream { body, len: Some(0) } if !body.is_end_stream())
    }

    /// A copy of a replayable body (`None` for streams).
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            BodyKind::Empty => Some(Body::empty()),
            BodyKind::Full(b) => Some(Body::full(b.clone())),
            BodyKind::Stream { .. } => None,
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Empty => f.write_str("Body(empty)"),
            BodyKind::Full(b) => write!(f, "Body({} bytes)", b.len()),
            BodyKind::Stream { len, .. } => write!(f, "Body(stream, len {len:?})"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::full(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::full(b)
    }
}
impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::full(s)
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::full(Bytes::from_static(s))
    }
}
impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

struct MapBody<B> {
    inner: Pin<Box<B>>,
}

impl<B> HttpBody for MapBody<B>
where
    B: HttpBody,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut().inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f.map_data(Into::into)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

struct StreamBody<S> {
    inner: Pin<Box<S>>,
}

impl<S, D, E> HttpBody for StreamBody<S>
where
    S: futures_util::Stream<Item = Result<D, E>>,
    D: Into<Bytes>,
    E: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut().inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(d))) => Poll::Ready(Some(Ok(Frame::data(d.into())))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
