//! The request-response codec of the discovery protocol (`/qun/discovery/1`): search
//! questions to keyword providers, join requests and approvals.

use libp2p::StreamProtocol;
use qun_protocol::codec;
use qun_protocol::discovery::wire::{Request, Response};
use qun_protocol::limits::{MAX_DISCOVERY_REQUEST_BYTES, MAX_DISCOVERY_RESPONSE_BYTES};

use crate::wire::{self, Message};

/// The discovery protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(qun_protocol::discovery::wire::PROTOCOL);

/// Encodes and decodes discovery messages with limits.
pub type Codec = wire::Codec<Request, Response>;

impl Message for Request {
    const MAX_BYTES: usize = MAX_DISCOVERY_REQUEST_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        Request::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        Request::encode(self)
    }
}

impl Message for Response {
    const MAX_BYTES: usize = MAX_DISCOVERY_RESPONSE_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        Response::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        Response::encode(self)
    }
}
