//! The libp2p request-response codecs of qun's protocols (`/qun/sync/3`,
//! `/qun/discovery/1`).
//!
//! One request or response per stream, encoded with the protocol codec; reads stop at the
//! message type's size limit before anything is decoded.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use qun_protocol::codec;
use qun_protocol::discovery::wire as disc_wire;
use qun_protocol::limits::{MAX_DISCOVERY_REQUEST_BYTES, MAX_DISCOVERY_RESPONSE_BYTES};
use qun_protocol::sync as sync_wire;

/// A message that travels on one request-response stream.
pub trait Message: Sized + Send + Sync + 'static {
    /// Most bytes read for one message.
    const MAX_BYTES: usize;
    /// Decodes, with the type's limits.
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error>;
    /// Encodes.
    fn encode(&self) -> Result<Vec<u8>, codec::Error>;
}

/// Encodes and decodes `Req`/`Resp` with limits.
pub struct Codec<Req, Resp>(PhantomData<fn() -> (Req, Resp)>);

impl<Req, Resp> Default for Codec<Req, Resp> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Req, Resp> Clone for Codec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message over the limit",
        ));
    }
    Ok(buf)
}

fn invalid(e: codec::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn write_one<T: AsyncWrite + Unpin + Send, M: Message>(io: &mut T, m: &M) -> io::Result<()> {
    io.write_all(&m.encode().map_err(invalid)?).await?;
    io.close().await
}

impl<Req: Message, Resp: Message> request_response::Codec for Codec<Req, Resp> {
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        Req::decode(&read_limited(io, Req::MAX_BYTES).await?).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        Resp::decode(&read_limited(io, Resp::MAX_BYTES).await?).map_err(invalid)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_one(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_one(io, &res).await
    }
}

/// The sync protocol: history catch-up (`qun_protocol::sync`).
pub mod sync {
    use super::*;

    /// The sync protocol name.
    pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/qun/sync/3");

    /// Encodes and decodes sync messages with limits.
    pub type Codec = super::Codec<sync_wire::Request, sync_wire::Response>;
}

/// The discovery protocol: search questions to keyword providers, join requests,
/// approvals and admissions (`qun_protocol::discovery::wire`).
pub mod discovery {
    use super::*;

    /// The discovery protocol name.
    pub const PROTOCOL: StreamProtocol = StreamProtocol::new(disc_wire::PROTOCOL);

    /// Encodes and decodes discovery messages with limits.
    pub type Codec = super::Codec<disc_wire::Request, disc_wire::Response>;
}

impl Message for sync_wire::Request {
    const MAX_BYTES: usize = sync_wire::MAX_REQUEST_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        sync_wire::Request::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        codec::encode(self)
    }
}

impl Message for sync_wire::Response {
    const MAX_BYTES: usize = sync_wire::MAX_RESPONSE_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        sync_wire::Response::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        codec::encode(self)
    }
}

impl Message for disc_wire::Request {
    const MAX_BYTES: usize = MAX_DISCOVERY_REQUEST_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        disc_wire::Request::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        disc_wire::Request::encode(self)
    }
}

impl Message for disc_wire::Response {
    const MAX_BYTES: usize = MAX_DISCOVERY_RESPONSE_BYTES;
    fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        disc_wire::Response::decode(bytes)
    }
    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        disc_wire::Response::encode(self)
    }
}
