//! The request-response codec of the sync protocol (`/qun/sync/3`).

use libp2p::StreamProtocol;
use qun_protocol::codec;
use qun_protocol::sync::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Request, Response};

use crate::wire::{self, Message};

/// The sync protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/qun/sync/3");

/// Encodes and decodes sync messages with limits.
pub type Codec = wire::Codec<Request, Response>;

impl Message for Request {
    const MAX_BYTES: usize = MAX_REQUEST_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        Request::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        codec::encode(self)
    }
}

impl Message for Response {
    const MAX_BYTES: usize = MAX_RESPONSE_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        Response::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        codec::encode(self)
    }
}
