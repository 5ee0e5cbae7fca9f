//! What the node shows its users. The views themselves are the API's contract and live in
//! qun-api ([`qun_api::view`]); they are re-exported here under their old paths. What
//! needs protocol types stays here: [`MessageViewExt::of`] (a verified message as a view);
//! and [`NetStats`], which the simulator reads and the API does not serve.

use qun_protocol::Verified;
use qun_protocol::discovery::profile::SignedProfile;
use serde::{Deserialize, Serialize};

pub use qun_api::request::{CreateGroup, History, ProfileUpdate, Visibility};
pub use qun_api::view::*;

/// Views built from protocol types.
pub trait MessageViewExt {
    /// The view of a verified message (no author name: see [`MessageView::named`]).
    fn of(msg: &Verified) -> Self;
}

impl MessageViewExt for MessageView {
    fn of(msg: &Verified) -> Self {
        // Each kind says what a user sees of it (`message/kinds/*.rs`).
        let preview = msg.body.kind.preview();
        Self {
            id: msg.id.to_string(),
            group: msg.body.group.to_string(),
            author: msg.author().to_string(),
            author_name: None,
            timestamp_ms: msg.body.stamp.wall_ms(),
            logical: if msg.body.stamp.is_legacy() {
                msg.body.stamp.ms
            } else {
                msg.body.stamp.counter
            },
            kind: msg.body.kind.name().to_owned(),
            text: preview.text,
            reply_to: preview.reply_to.map(|r| r.to_string()),
            mentions: preview.mentions.iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// Network counters of one node, for the simulator and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    /// Gossip messages received, duplicates included (0 without `Config::metrics`).
    pub gossip_received: u64,
    /// Gossip messages received after de-duplication (0 without `Config::metrics`).
    pub gossip_unique: u64,
    /// Peers connected now.
    pub connected_peers: usize,
}

/// The view of a profile.
pub(crate) fn profile_view(p: &SignedProfile) -> ProfileView {
    let v = &p.value;
    ProfileView {
        author: p.signer.to_string(),
        name: v.name.clone(),
        bio: v.bio.clone(),
        gender: v.gender.map(|g| g.as_str().to_owned()),
        birth_year: v.birth_year,
        groups: v
            .groups
            .iter()
            .map(|g| ShownGroupView {
                group: g.group.to_string(),
                name: g.name.clone(),
            })
            .collect(),
        updated_ms: v.updated_ms,
    }
}
