//! HTTP/1.x client protocol: request encoding, response head parsing,
//! response framing and body decoding.
//!
//! See the crate documentation for the order in which a driver uses these
//! items.

mod decode;
mod encode;
mod error;
mod head;
mod parser;

pub use decode::{Decoded, Decoder};
pub use encode::{
    validate_field_bytes, validate_header, validate_method, validate_request_target, Encoder,
    HeadWriter,
};
pub use error::{InvalidRequest, ProtoError};
pub use head::{
    connection_has_token, parse_response_head, parse_response_head_bytes, response_body_kind,
    response_keep_alive, BodyKind, FramingFields, Limits, ParseStatus, ResponseHead,
};
pub use parser::{ParsedHead, ResponseParser, MAX_CACHED_NAME_LEN, NAME_CACHE_SLOTS};
