//! Typed errors of the HTTP/1.1 codec.

use std::fmt;

/// Everything that can go wrong while encoding a request or decoding a
/// response.
///
/// Every variant except [`ProtoError::InvalidRequest`] describes bytes the
/// peer sent; after such an error the connection is in an unknown state and
/// must be closed, never reused. [`ProtoError::InvalidRequest`] is raised
/// before the offending bytes are written, so nothing invalid has reached the
/// wire (the driver should still discard the partially built request buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// The response head (status line plus header section, including any
    /// leading empty lines) is longer than [`crate::Limits::max_head_bytes`].
    HeadTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The response head, or the trailer section, holds more fields than
    /// [`crate::Limits::max_headers`].
    TooManyHeaders {
        /// The limit that was exceeded, in fields.
        limit: usize,
    },
    /// The status line is malformed: bad separators, a status code that is
    /// not exactly three digits or is below 100, or forbidden bytes in the
    /// reason phrase.
    InvalidStatusLine,
    /// The status line names an `HTTP/x.y` version other than 1.0 or 1.1.
    UnsupportedVersion,
    /// A header field is malformed: an invalid name, a forbidden byte in the
    /// value, a bad line ending, or an obsolete line folding.
    InvalidHeader,
    /// A `Content-Length` value is not a plain decimal number (sign, inner
    /// space, empty element, overflow of `u64`), or one field holds a list
    /// whose elements differ (`1, 2`).
    InvalidContentLength,
    /// Several `Content-Length` fields carry different values.
    ConflictingContentLength,
    /// The response carries both `Transfer-Encoding` and `Content-Length`.
    ConflictingFraming,
    /// The `Transfer-Encoding` field cannot be honoured: it is empty, it
    /// applies `chunked` more than once, it is not visible ASCII, or it
    /// appears in an HTTP/1.0 response (RFC 9112 §6.1 says such framing is
    /// faulty).
    UnsupportedTransferEncoding,
    /// A chunk-size line is malformed (no hex digit, a stray byte, a missing
    /// CRLF), or the CRLF after a chunk's data is missing.
    InvalidChunkSize,
    /// A chunk size has more than 16 hex digits or does not fit in a `u64`.
    ChunkSizeOverflow,
    /// The chunk extensions of one body add up to more than
    /// [`crate::Limits::max_chunk_ext_bytes`].
    ChunkExtensionTooLong {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The trailer section is longer than
    /// [`crate::Limits::max_trailer_bytes`].
    TrailersTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// A trailer field is malformed.
    InvalidTrailer,
    /// The transport reached end-of-file before the body framing said the
    /// body was complete.
    IncompleteBody {
        /// The declared body length, when the framing declared one
        /// (`Content-Length`); `None` for chunked bodies.
        expected: Option<u64>,
        /// Body payload bytes delivered before the end-of-file.
        received: u64,
    },
    /// The request the caller asked to send cannot be serialized safely.
    InvalidRequest(InvalidRequest),
}

/// Why a request cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// The method is empty or contains a byte that is not a token character.
    Method,
    /// The request target is empty, or contains a space, a control
    /// character or a non-ASCII byte.
    Target,
    /// A header (or trailer) field name is empty or not a token; holds the
    /// name, lossily converted to UTF-8.
    HeaderName(String),
    /// A header (or trailer) field value contains a control character other
    /// than horizontal tab (CR, LF and NUL included); holds the field name.
    HeaderValue(String),
    /// The body does not match its declared `Content-Length`.
    ContentLengthMismatch {
        /// The length the request declared.
        declared: u64,
        /// The length the caller sent, or tried to send.
        actual: u64,
    },
    /// Body data or another `finish` was given after the body was finished.
    BodyAfterFinish,
    /// Trailer fields were given for a body that is not chunked (only the
    /// chunked coding can carry trailers).
    TrailersNotChunked,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::HeadTooLarge { limit } => {
                write!(f, "response head exceeds the limit of {limit} bytes")
            }
            ProtoError::TooManyHeaders { limit } => {
                write!(f, "more than {limit} header fields")
            }
            ProtoError::InvalidStatusLine => f.write_str("malformed status line"),
            ProtoError::UnsupportedVersion => f.write_str("unsupported HTTP version"),
            ProtoError::InvalidHeader => f.write_str("malformed header field"),
            ProtoError::InvalidContentLength => f.write_str("malformed Content-Length"),
            ProtoError::ConflictingContentLength => f.write_str("Content-Length fields disagree"),
            ProtoError::ConflictingFraming => {
                f.write_str("both Transfer-Encoding and Content-Length present")
            }
            ProtoError::UnsupportedTransferEncoding => f.write_str("unsupported Transfer-Encoding"),
            ProtoError::InvalidChunkSize => f.write_str("malformed chunk-size line"),
            ProtoError::ChunkSizeOverflow => f.write_str("chunk size too large"),
            ProtoError::ChunkExtensionTooLong { limit } => {
                write!(f, "chunk extensions exceed the limit of {limit} bytes")
            }
            ProtoError::TrailersTooLarge { limit } => {
                write!(f, "trailer section exceeds the limit of {limit} bytes")
            }
            ProtoError::InvalidTrailer => f.write_str("malformed trailer field"),
            ProtoError::IncompleteBody {
                expected: Some(n),
                received,
            } => write!(f, "connection closed after {received} of {n} body bytes"),
            ProtoError::IncompleteBody {
                expected: None,
                received,
            } => write!(
                f,
                "connection closed inside a chunked body after {received} bytes"
            ),
            ProtoError::InvalidRequest(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidRequest::Method => f.write_str("invalid method"),
            InvalidRequest::Target => f.write_str("invalid request target"),
            InvalidRequest::HeaderName(n) => write!(f, "invalid header field name {n:?}"),
            InvalidRequest::HeaderValue(n) => write!(f, "invalid value for header field {n:?}"),
            InvalidRequest::ContentLengthMismatch { declared, actual } => write!(
                f,
                "body length {actual} does not match Content-Length {declared}"
            ),
            InvalidRequest::BodyAfterFinish => f.write_str("body data after the end of the body"),
            InvalidRequest::TrailersNotChunked => {
                f.write_str("trailers on a body that is not chunked")
            }
        }
    }
}

impl std::error::Error for ProtoError {}

impl std::error::Error for InvalidRequest {}

impl From<InvalidRequest> for ProtoError {
    fn from(e: InvalidRequest) -> Self {
        ProtoError::InvalidRequest(e)
    }
}
