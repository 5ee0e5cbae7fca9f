//! The libp2p request-response codec of qun's protocols (`/qun/sync/2`,
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
