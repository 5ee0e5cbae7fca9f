//! History sync between two members of a group.
//!
//! * [`wire`]: the messages of `/qun/sync/3` (reconcile rounds, fetches, pages of frames),
//!   their size limits, and the proof that only members sync. Its items are re-exported
//!   here (`sync::Request`, `sync::Response`...).
//! * [`session`]: the initiating side of a sync as a state machine with no IO: answers
//!   and timer firings in, requests to send, pages to store, misbehaving peers and
//!   finished sessions out. The node's actor drives it; the unit tests wire two of them
//!   back to back without a runtime.

pub mod session;
pub mod wire;

pub use session::Sessions;
pub use wire::{
    Ask, MAX_FETCH, MAX_PAGE_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, PROOF_DOMAIN, Proof,
    ProofContext, ProofError, Refusal, Request, Response,
};
