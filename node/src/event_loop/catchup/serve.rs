//! The serving side of history sync: who is answered, and with what (see the parent
//! module's "Who is served").

use std::time::Instant;

use qun_protocol::frame::seal_verified;
use qun_protocol::reconcile;
use qun_protocol::sync::{MAX_FETCH, MAX_PAGE_BYTES, ProofContext, Refusal, Request, Response};
use qun_protocol::{GroupId, OrderKey, SyncKey};

use super::super::{EventLoop, GroupRt, nonce};
use crate::net::{self, PeerId, Responder};

impl EventLoop {
    pub(crate) fn handle_sync_request(
        &mut self,
        peer: PeerId,
        req: Request,
        channel: Responder<Response>,
    ) {
        let fetch = matches!(req, Request::Fetch { .. });
        let resp = if !self.limits.sync_allowed(&peer, fetch, Instant::now()) {
            tracing::debug!(%peer, fetch, "sync rate limit");
            Response::Refused {
                reason: Refusal::RateLimited,
            }
        } else {
            self.answer(&peer, req)
        };
        if let Response::Frames { frames } = &resp {
            let bytes = frames.iter().map(Vec::len).sum();
            self.limits.fetch_served(&peer, bytes, Instant::now());
        }
        self.net.respond_sync(channel, resp);
    }

    fn answer(&self, peer: &PeerId, req: Request) -> Response {
        let refuse = |reason| Response::Refused { reason };
        let Some(rt) = self.authorized(peer, &req) else {
            return Response::Unknown;
        };
        match req {
            Request::Reconcile { epoch, message, .. } => {
                let set = rt.index.epoch(epoch);
                let reply = reconcile::Message::decode(&message)
                    .and_then(|m| reconcile::respond(set, &m, &reconcile::Config::default()));
                match reply {
                    Ok(m) => Response::Reconcile {
                        message: m.encode(),
                    },
                    Err(_) => refuse(Refusal::Malformed),
                }
            }
            Request::Fetch {
                group, epoch, keys, ..
            } => {
                if keys.len() > MAX_FETCH {
                    return refuse(Refusal::Malformed);
                }
                match self.frames_for(rt, &group, epoch, &keys) {
                    Ok(frames) => Response::Frames { frames },
                    Err(e) => {
                        tracing::warn!(error = %e, "could not serve a fetch");
                        Response::Frames { frames: Vec::new() }
                    }
                }
            }
        }
    }

    /// The group `req` may be served from: we hold its epoch, the proof is right for that
    /// epoch, `peer` and us, and `peer` has not left the group. `None` for anything else,
    /// after the same checks (a group or epoch we do not hold is checked against a dummy
    /// key), so the answer does not tell a stranger whether we are in the group.
    fn authorized(&self, peer: &PeerId, req: &Request) -> Option<&GroupRt> {
        let rt = self.groups.get(req.group());
        let key = rt.and_then(|rt| rt.sync_keys.get(&req.epoch()));
        let requester = peer.to_bytes();
        let responder = self.net.local_peer_id().to_bytes();
        let ctx = ProofContext {
            requester: &requester,
            responder: &responder,
            group: req.group(),
            epoch: req.epoch(),
            ask: req.ask(),
        };
        let dummy = SyncKey::unknown();
        let proven = ctx.verify(key.unwrap_or(&dummy), req.proof()).is_ok();
        let rt = rt.filter(|_| proven && key.is_some())?;
        let left = net::author(peer).is_some_and(|a| rt.state.has_left(&a));
        if left {
            tracing::debug!(%peer, group = %req.group(), "sync from a member who left");
            return None;
        }
        Some(rt)
    }

    /// Sealed frames of the messages of `epoch` at `keys` that we hold, up to the page
    /// limit. Messages the group state refuses (written by a member after it left) are
    /// left out.
    fn frames_for(
        &self,
        rt: &GroupRt,
        group: &GroupId,
        epoch: u64,
        keys: &[OrderKey],
    ) -> Result<Vec<Vec<u8>>, crate::Error> {
        let (Some(mk), set) = (rt.keys.get(&epoch), rt.index.epoch(epoch)) else {
            return Ok(Vec::new());
        };
        let mut frames = Vec::new();
        let mut bytes = 0;
        for key in keys {
            if !set.contains(key) {
                continue;
            }
            let Some(msg) = self.store.get(group, key)? else {
                continue;
            };
            if msg.body.epoch != epoch || rt.state.admits(&msg).is_err() {
                continue;
            }
            let f = seal_verified(&msg, mk, nonce()?)
                .and_then(|f| f.encode())
                .map_err(|e| crate::Error::Internal(e.to_string()))?;
            bytes += f.len();
            if bytes > MAX_PAGE_BYTES {
                break;
            }
            frames.push(f);
        }
        Ok(frames)
    }
}
