//! qun-api: the contract of a qun daemon's local API, and clients for it.
//!
//! The daemon (`qun daemon`, crate qun-node) serves JSON over HTTP on loopback, guarded by
//! a bearer token that it writes with its address in `DATA_DIR/api.json` ([`ApiFile`]).
//! This crate holds what both sides agree on, with no node code in it (no libp2p, no sled,
//! no tokio outside the async client); from the workspace it takes only qun-protocol's
//! `Visibility` (sans-IO), so that a `CreateGroup` and a group's genesis share one type:
//!
//! * [`view`]: the answers (messages, groups, peers, search results, profiles…);
//! * [`request`]: the bodies of the `POST` routes;
//! * [`event`]: [`NodeEvent`], the items of the event stream (`GET /v1/events`, SSE);
//! * [`file`]: the API file; [`error`]: the error body `{"error": "..."}` and the clients'
//!   errors;
//! * [`call`]: every route as a typed [`Call`], run by either client:
//!   [`Client`] (blocking, feature `blocking`, on by default; the CLI's) or
//!   [`AsyncClient`] (feature `async`, with the event stream as a `Stream`);
//! * [`sse`]: the event-stream parser both clients use.
//!
//! ```no_run
//! # fn main() -> Result<(), qun_api::Error> {
//! use qun_api::{Call, Client};
//! let client = Client::connect(std::path::Path::new("/home/me/.local/share/qun"))?;
//! for g in client.call(Call::groups())? {
//!     println!("{} {}", g.group, g.name);
//! }
//! # Ok(()) }
//! ```

pub mod call;
pub mod error;
pub mod event;
pub mod file;
pub mod request;
pub mod sse;
pub mod view;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "async")]
pub mod nonblocking;

pub use call::{Call, Method};
pub use error::{ApiError, Error, ErrorBody};
pub use event::NodeEvent;
pub use file::{API_FILE, ApiFile};
pub use request::{CreateGroup, History, ProfileUpdate, Visibility};
pub use view::{
    AgeBucket, AnnouncementView, Created, DayCount, Done, GenderCounts, GroupInfo, GroupStats,
    IdInfo, InviteCode, JoinOutcome, JoinRequestView, Left, LogEntry, MessageView, MutedView,
    PeerInfo, PinView, Posted, ProfileView, SearchHit, SearchResult, ShownGroupView, SyncStarted,
    SyncView, UiLogin,
};

#[cfg(feature = "blocking")]
pub use blocking::Client;
#[cfg(feature = "async")]
pub use nonblocking::AsyncClient;
