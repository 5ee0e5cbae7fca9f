//! The libp2p request-response codec of the sync protocol (`/qun/sync/2`).
//!
//! One request or response per stream, encoded with the protocol codec; reads stop at the
//! protocol's size limits before anything is decoded.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use qun_protocol::codec;
use qun_protocol::sync::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Request, Response};

/// The sync protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/qun/sync/2");

/// Encodes and decodes sync messages with limits.
#[derive(Debug, Clone, Default)]
pub struct Codec;

async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "sync message over the limit",
        ));
    }
    Ok(buf)
}

fn invalid(e: codec::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Request::decode(&read_limited(io, MAX_REQUEST_BYTES).await?).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        Response::decode(&read_limited(io, MAX_RESPONSE_BYTES).await?).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&codec::encode(&req).map_err(invalid)?).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&codec::encode(&res).map_err(invalid)?).await?;
        io.close().await
    }
}
