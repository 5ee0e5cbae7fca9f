//! Request bodies of the API's `POST` routes, and the choices they carry.
//!
//! Every field a client may leave out has a serde default, so `{}` or a partial body is
//! read the same way by the daemon whatever client wrote it.

use serde::{Deserialize, Serialize};

/// Who can find and join a group: `public`, `listed` or `private` in JSON. The protocol's
/// own type (a group's genesis signs it), so that a [`CreateGroup`] built in Rust takes the
/// same value as a genesis; it is the one thing qun-api takes from qun-protocol.
pub use qun_protocol::Visibility;

/// How much of a group's history a new member fetches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum History {
    /// Everything (the default).
    #[default]
    All,
    /// Only messages written from about the time we joined (one minute of clock slack):
    /// older ones are never fetched, and once the first sync has found where the recent
    /// history starts, later syncs do not even compare keys below it.
    SinceJoin,
}

impl History {
    /// `all` or `since-join`.
    pub fn as_str(&self) -> &'static str {
        match self {
            History::All => "all",
            History::SinceJoin => "since-join",
        }
    }
}

impl std::str::FromStr for History {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "since-join" => Ok(Self::SinceJoin),
            _ => Err(format!("history must be `all` or `since-join`, not {s:?}")),
        }
    }
}

/// `POST /v1/groups`: parameters of a new group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateGroup {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Search tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Visibility (default private).
    #[serde(default = "private")]
    pub visibility: Visibility,
}

fn private() -> Visibility {
    Visibility::Private
}

/// `POST /v1/groups/join`: exactly one of `invite` and `group`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// An invite code (text around it is fine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
    /// A group id found by search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// For a listed group joined by id: a note to its admins.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// `all` (default) or `since-join`.
    #[serde(default)]
    pub history: History,
}

impl Join {
    /// Joining with an invite code.
    pub fn invite(code: impl Into<String>, history: History) -> Self {
        Self {
            invite: Some(code.into()),
            history,
            ..Self::default()
        }
    }

    /// Joining a group found by search, by its id, with a note to its admins (listed
    /// groups).
    pub fn group(id: impl Into<String>, note: impl Into<String>, history: History) -> Self {
        Self {
            group: Some(id.into()),
            note: note.into(),
            history,
            ..Self::default()
        }
    }
}

/// `POST /v1/groups/{GROUP}/invite`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Lifetime in seconds, 1 s to 366 days (default 7 days).
    #[serde(default)]
    pub expires_secs: Option<u64>,
    /// The long, self-contained code instead of the short one.
    #[serde(default)]
    pub long: bool,
}

/// `POST /v1/groups/{GROUP}/messages`: a text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Send {
    /// The text.
    pub text: String,
    /// Id of the message this replies to.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Author ids of the members it mentions (at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// `POST /v1/groups/{GROUP}/announcement`: the group announcement (the owner and admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// The text.
    pub text: String,
}

/// `POST /v1/profile`: changes to our profile; `None` leaves a field as it is, an empty
/// bio clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileUpdate {
    /// Display name (required the first time).
    #[serde(default)]
    pub name: Option<String>,
    /// Bio (`""` clears it).
    #[serde(default)]
    pub bio: Option<String>,
    /// `female`, `male`, `other`, or `""` to stop sharing it.
    #[serde(default)]
    pub gender: Option<String>,
    /// Birth year, or 0 to stop sharing it.
    #[serde(default)]
    pub birth_year: Option<u16>,
    /// Joined groups to show (id or name).
    #[serde(default)]
    pub show_groups: Vec<String>,
    /// Groups to stop showing (id or name).
    #[serde(default)]
    pub hide_groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_read_with_their_defaults() {
        let c: CreateGroup = serde_json::from_value(json!({ "name": "g" })).unwrap();
        assert_eq!(c.visibility, Visibility::Private);
        assert!(c.tags.is_empty());
        let j: Join = serde_json::from_value(json!({ "invite": "qun1x" })).unwrap();
        assert_eq!(j, Join::invite("qun1x", History::All));
        let i: Invite = serde_json::from_value(json!({})).unwrap();
        assert_eq!(i, Invite::default());
    }

    #[test]
    fn join_bodies_carry_only_what_is_set() {
        assert_eq!(
            serde_json::to_value(Join::invite("qun1x", History::SinceJoin)).unwrap(),
            json!({ "invite": "qun1x", "history": "since-join" })
        );
        assert_eq!(
            serde_json::to_value(Join::group("G", "hi", History::All)).unwrap(),
            json!({ "group": "G", "note": "hi", "history": "all" })
        );
    }

    #[test]
    fn names_parse_back() {
        for v in [Visibility::Public, Visibility::Listed, Visibility::Private] {
            assert_eq!(v.as_str().parse::<Visibility>().unwrap(), v);
            assert_eq!(serde_json::to_value(v).unwrap(), json!(v.as_str()));
        }
        for h in [History::All, History::SinceJoin] {
            assert_eq!(h.as_str().parse::<History>().unwrap(), h);
            assert_eq!(serde_json::to_value(h).unwrap(), json!(h.as_str()));
        }
        assert!("secret".parse::<Visibility>().is_err());
    }
}

/// A role a member can be given (`admin` or `member` in JSON); the owner changes only by
/// a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// An admin.
    Admin,
    /// A member.
    Member,
}

impl RoleName {
    /// `admin` or `member`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RoleName::Admin => "admin",
            RoleName::Member => "member",
        }
    }
}

impl std::str::FromStr for RoleName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(format!("role must be `admin` or `member`, not {s:?}")),
        }
    }
}

/// `POST /v1/groups/{GROUP}/members/{MEMBER}/role`: make a member an admin or a member
/// again (owner only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRole {
    /// The new role.
    pub role: RoleName,
}

/// `POST /v1/groups/{GROUP}/transfer`: hand the group to a member (owner only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The next owner: an author id, a unique id prefix, or a profile name unique in the
    /// group.
    pub member: String,
}

/// `POST /v1/groups/{GROUP}/members/{MEMBER}/remove`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveMember {
    /// Ban the member too (it cannot rejoin until an unban).
    #[serde(default)]
    pub ban: bool,
}

/// `POST /v1/groups/{GROUP}/members/{MEMBER}/mute`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuteMember {
    /// How long, in seconds; until an unmute when absent.
    #[serde(default)]
    pub for_secs: Option<u64>,
}

/// `POST /v1/groups/{GROUP}/pins`: pin a message (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinMessage {
    /// The message id.
    pub message: String,
}
