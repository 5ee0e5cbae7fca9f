//! What a node tells its subscribers: the items of `GET /v1/events` (one JSON object per
//! Server-Sent Event, tagged by `type`) and of the node's in-process subscription.

use serde::{Deserialize, Serialize};

use crate::view::MessageView;

/// One event, tagged by `type` (`message`, `peer_connected`, …) in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A new message was stored (received, synced, or sent by us).
    Message(MessageView),
    /// A peer connected.
    PeerConnected {
        /// Its PeerId.
        peer: String,
    },
    /// A peer disconnected.
    PeerDisconnected {
        /// Its PeerId.
        peer: String,
    },
    /// Someone asks to join a listed group we administer.
    JoinRequested {
        /// Group id.
        group: String,
        /// Who asks.
        requester: String,
        /// The display name on the requester's profile, when this node holds it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        requester_name: Option<String>,
        /// Their note.
        note: String,
    },
    /// We joined a group (after an approval, or from its card).
    Joined {
        /// Group id.
        group: String,
    },
    /// An admin rejected our join request.
    JoinRejected {
        /// Group id.
        group: String,
    },
    /// A frame, record or card was rejected.
    Rejected {
        /// The peer that forwarded it.
        peer: String,
        /// Why.
        reason: String,
    },
    /// Only on the API's event stream: this subscriber fell behind and `missed` events
    /// were dropped for it (the node never sends it to an in-process subscriber, whose
    /// receiver reports the same as `Lagged`).
    Lagged {
        /// Events dropped.
        missed: u64,
    },
}

impl NodeEvent {
    /// The `type` names of the events this version knows: a client skips others (from a
    /// newer daemon) rather than failing.
    pub const TYPES: [&'static str; 8] = [
        "message",
        "peer_connected",
        "peer_disconnected",
        "join_requested",
        "joined",
        "join_rejected",
        "rejected",
        "lagged",
    ];

    /// The group an event is about, if any: what `GET /v1/events?group=` filters on.
    pub fn group(&self) -> Option<&str> {
        match self {
            NodeEvent::Message(m) => Some(&m.group),
            NodeEvent::JoinRequested { group, .. }
            | NodeEvent::Joined { group }
            | NodeEvent::JoinRejected { group } => Some(group),
            NodeEvent::PeerConnected { .. }
            | NodeEvent::PeerDisconnected { .. }
            | NodeEvent::Rejected { .. }
            | NodeEvent::Lagged { .. } => None,
        }
    }

    /// Reads one event's JSON. `Ok(None)` for an event of a `type` this version does not
    /// know; an error for anything else that is not a [`NodeEvent`].
    pub fn from_json(data: &str) -> Result<Option<NodeEvent>, serde_json::Error> {
        match serde_json::from_str::<NodeEvent>(data) {
            Ok(ev) => Ok(Some(ev)),
            Err(e) => {
                #[derive(Deserialize)]
                struct Tagged {
                    #[serde(rename = "type")]
                    kind: String,
                }
                match serde_json::from_str::<Tagged>(data) {
                    Ok(t) if !Self::TYPES.contains(&t.kind.as_str()) => Ok(None),
                    _ => Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_name_is_known() {
        let m = MessageView {
            id: "M".into(),
            group: "G".into(),
            author: "A".into(),
            author_name: None,
            timestamp_ms: 1,
            logical: 0,
            kind: "text".into(),
            text: "hi".into(),
            reply_to: None,
            mentions: Vec::new(),
        };
        let events = [
            NodeEvent::Message(m),
            NodeEvent::PeerConnected { peer: "P".into() },
            NodeEvent::PeerDisconnected { peer: "P".into() },
            NodeEvent::JoinRequested {
                group: "G".into(),
                requester: "R".into(),
                requester_name: None,
                note: String::new(),
            },
            NodeEvent::Joined { group: "G".into() },
            NodeEvent::JoinRejected { group: "G".into() },
            NodeEvent::Rejected {
                peer: "P".into(),
                reason: "bad".into(),
            },
            NodeEvent::Lagged { missed: 3 },
        ];
        for (ev, name) in events.iter().zip(NodeEvent::TYPES) {
            let v = serde_json::to_value(ev).unwrap();
            assert_eq!(v["type"], name);
            let back = NodeEvent::from_json(&v.to_string()).unwrap();
            assert_eq!(back.as_ref(), Some(ev));
        }
    }

    #[test]
    fn unknown_types_are_skipped_and_broken_events_refused() {
        assert_eq!(
            NodeEvent::from_json(r#"{"type":"role_changed","group":"G"}"#).unwrap(),
            None
        );
        assert!(NodeEvent::from_json(r#"{"type":"joined"}"#).is_err());
        assert!(NodeEvent::from_json("not json").is_err());
        let lagged = json!({ "type": "lagged", "missed": 7 }).to_string();
        assert_eq!(
            NodeEvent::from_json(&lagged).unwrap(),
            Some(NodeEvent::Lagged { missed: 7 })
        );
    }
}
