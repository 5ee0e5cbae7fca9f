//! qun-protocol: the sans-IO core of qun.
//!
//! Everything that two qun nodes must agree on lives here: identities and ids, the group
//! secret and what is derived from it, the signed message envelope, the encrypted wire frame,
//! invite codes, the canonical codec with its size limits, and the pure state machines
//! (message order, group state). There is no tokio, no libp2p swarm and no sled in this
//! crate: time and randomness are passed in by the caller, so every rule can be tested
//! without a runtime.

pub mod codec;
pub mod crypto;
pub mod discovery;
pub mod frame;
pub mod group;
pub mod id;
pub mod identity;
pub mod invite;
pub mod limits;
pub mod message;
pub mod order;
pub mod reconcile;
pub mod secret;
pub mod sync;
pub mod text;

pub use frame::{Frame, OpenError};
pub use group::{Genesis, SignedGenesis, Visibility};
pub use id::{AuthorId, GroupId, MsgId};
pub use identity::{Identity, Signature};
pub use invite::Invite;
pub use message::{Body, Envelope, Kind, Verified};
pub use order::{Clock, OrderKey, Stamp};
pub use secret::{GroupSecret, MessageKey, SyncKey};
