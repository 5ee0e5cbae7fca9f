//! The API's routes as a client calls them: one function per route, each giving a
//! [`Call`] (method, path, JSON body) typed by its answer. Both clients run any `Call`
//! (`Client::call`, `AsyncClient::call`), so a new route is one function here.
//!
//! `group` arguments are a group id, an unambiguous id prefix or an unambiguous name;
//! `author` arguments are author ids; `member` arguments are an author id, a unique id
//! prefix or a profile name unique in the group. Path segments and query values are percent-encoded
//! here.

use std::marker::PhantomData;

use serde::Serialize;

use crate::request::{
    Announce, CreateGroup, Invite, Join, MuteMember, PinMessage, ProfileUpdate, RemoveMember,
    RoleName, Send, SetRole, Transfer,
};
use crate::view::{
    Created, Done, GroupInfo, GroupStats, IdInfo, InviteCode, JoinOutcome, JoinRequestView, Left,
    LogEntry, MessageView, PeerInfo, Posted, ProfileView, SearchResult, SyncStarted, UiLogin,
};

/// An HTTP method the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST` (with a JSON body, `{}` when the route takes none).
    Post,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// `GET`, `POST` or `DELETE`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to the API whose answer is a `T`.
#[derive(Debug, Clone)]
pub struct Call<T> {
    /// The method.
    pub method: Method,
    /// Path and query, e.g. `/v1/groups/G/messages?limit=50`.
    pub path: String,
    /// The JSON body of a `POST`.
    pub body: Option<Vec<u8>>,
    answer: PhantomData<fn() -> T>,
}

/// Percent-encodes one path segment or query value (everything but `A-Z a-z 0-9 - _ . ~`).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/v1/groups/{group}` with `group` encoded.
fn group_path(group: &str) -> String {
    format!("/v1/groups/{}", seg(group))
}

/// `/v1/groups/{group}/members/{member}/{action}` with both encoded.
fn member_path(group: &str, member: &str, action: &str) -> String {
    format!("{}/members/{}/{action}", group_path(group), seg(member))
}

impl<T> Call<T> {
    fn new(method: Method, path: String, body: Option<Vec<u8>>) -> Self {
        Self {
            method,
            path,
            body,
            answer: PhantomData,
        }
    }

    fn get(path: String) -> Self {
        Self::new(Method::Get, path, None)
    }

    fn post(path: String, body: &impl Serialize) -> Self {
        // The bodies are plain structs of strings, numbers and lists: encoding cannot fail.
        let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        Self::new(Method::Post, path, Some(body))
    }

    fn post_empty(path: String) -> Self {
        Self::new(Method::Post, path, Some(b"{}".to_vec()))
    }
}

impl Call<IdInfo> {
    /// `GET /v1/id`: our peer id and addresses.
    pub fn id() -> Self {
        Self::get("/v1/id".into())
    }
}

impl Call<Vec<PeerInfo>> {
    /// `GET /v1/peers`: connected peers.
    pub fn peers() -> Self {
        Self::get("/v1/peers".into())
    }
}

impl Call<Vec<GroupInfo>> {
    /// `GET /v1/groups`: every joined group, by name.
    pub fn groups() -> Self {
        Self::get("/v1/groups".into())
    }
}

impl Call<Created> {
    /// `POST /v1/groups`: creates a group; answers its id and an invite code.
    pub fn create_group(req: &CreateGroup) -> Self {
        Self::post("/v1/groups".into(), req)
    }
}

impl Call<JoinOutcome> {
    /// `POST /v1/groups/join`: joins by invite code or by group id.
    pub fn join(req: &Join) -> Self {
        Self::post("/v1/groups/join".into(), req)
    }
}

impl Call<GroupInfo> {
    /// `GET /v1/groups/{group}`: one group.
    pub fn group_info(group: &str) -> Self {
        Self::get(group_path(group))
    }
}

impl Call<Left> {
    /// `DELETE /v1/groups/{group}`: leaves a group and deletes its local history.
    pub fn leave(group: &str) -> Self {
        Self::new(Method::Delete, group_path(group), None)
    }
}

impl Call<InviteCode> {
    /// `POST /v1/groups/{group}/invite`: an invite code.
    pub fn invite(group: &str, req: &Invite) -> Self {
        Self::post(format!("{}/invite", group_path(group)), req)
    }
}

impl Call<Vec<MessageView>> {
    /// `GET /v1/groups/{group}/messages`: up to `limit` messages in group order, ending
    /// before the message `before` (or with the newest).
    pub fn history(group: &str, limit: usize, before: Option<&str>) -> Self {
        let mut path = format!("{}/messages?limit={limit}", group_path(group));
        if let Some(b) = before {
            path.push_str(&format!("&before={}", seg(b)));
        }
        Self::get(path)
    }
}

impl Call<Posted> {
    /// `POST /v1/groups/{group}/messages`: sends a text; answered once it is on disk.
    pub fn send(group: &str, req: &Send) -> Self {
        Self::post(format!("{}/messages", group_path(group)), req)
    }

    /// `POST /v1/groups/{group}/announcement`: sets the announcement (the owner and admins).
    pub fn announce(group: &str, req: &Announce) -> Self {
        Self::post(format!("{}/announcement", group_path(group)), req)
    }
}

/// The moderation ops: each answers the op's message id once it is on disk, or 403 with
/// the group's rule that refused it.
impl Call<Posted> {
    /// `POST /v1/groups/{group}/members/{member}/role`: makes a member an admin or a
    /// member again (owner only).
    pub fn set_role(group: &str, member: &str, role: RoleName) -> Self {
        Self::post(member_path(group, member, "role"), &SetRole { role })
    }

    /// `POST /v1/groups/{group}/transfer`: hands the group to a member (owner only).
    pub fn transfer(group: &str, member: &str) -> Self {
        let body = Transfer {
            member: member.to_owned(),
        };
        Self::post(format!("{}/transfer", group_path(group)), &body)
    }

    /// `POST /v1/groups/{group}/members/{member}/remove`: removes (and with `ban`, bans)
    /// a member.
    pub fn remove(group: &str, member: &str, ban: bool) -> Self {
        Self::post(member_path(group, member, "remove"), &RemoveMember { ban })
    }

    /// `POST /v1/groups/{group}/members/{member}/ban`: bans a key.
    pub fn ban(group: &str, member: &str) -> Self {
        Self::post_empty(member_path(group, member, "ban"))
    }

    /// `POST /v1/groups/{group}/members/{member}/unban`: lifts a ban.
    pub fn unban(group: &str, member: &str) -> Self {
        Self::post_empty(member_path(group, member, "unban"))
    }

    /// `POST /v1/groups/{group}/members/{member}/mute`: mutes a member for `for_secs`
    /// seconds, or until an unmute.
    pub fn mute(group: &str, member: &str, for_secs: Option<u64>) -> Self {
        Self::post(member_path(group, member, "mute"), &MuteMember { for_secs })
    }

    /// `POST /v1/groups/{group}/members/{member}/unmute`: lifts a mute.
    pub fn unmute(group: &str, member: &str) -> Self {
        Self::post_empty(member_path(group, member, "unmute"))
    }

    /// `POST /v1/groups/{group}/pins`: pins a message.
    pub fn pin(group: &str, message: &str) -> Self {
        let body = PinMessage {
            message: message.to_owned(),
        };
        Self::post(format!("{}/pins", group_path(group)), &body)
    }

    /// `DELETE /v1/groups/{group}/pins/{message}`: unpins a message.
    pub fn unpin(group: &str, message: &str) -> Self {
        let path = format!("{}/pins/{}", group_path(group), seg(message));
        Self::new(Method::Delete, path, None)
    }
}

impl Call<Vec<LogEntry>> {
    /// `GET /v1/groups/{group}/log`: the moderation log, in group order.
    pub fn moderation_log(group: &str) -> Self {
        Self::get(format!("{}/log", group_path(group)))
    }
}

impl Call<SyncStarted> {
    /// `POST /v1/groups/{group}/sync`: starts syncing with connected members.
    pub fn sync(group: &str) -> Self {
        Self::post_empty(format!("{}/sync", group_path(group)))
    }
}

impl Call<GroupStats> {
    /// `GET /v1/groups/{group}/stats`: the group's persona.
    pub fn stats(group: &str) -> Self {
        Self::get(format!("{}/stats", group_path(group)))
    }
}

impl Call<Vec<JoinRequestView>> {
    /// `GET /v1/groups/{group}/requests`: join requests, oldest first.
    pub fn join_requests(group: &str) -> Self {
        Self::get(format!("{}/requests", group_path(group)))
    }
}

impl Call<JoinRequestView> {
    /// `POST /v1/groups/{group}/requests/{author}/approve` (or `/reject`).
    pub fn decide_join(group: &str, author: &str, approve: bool) -> Self {
        let action = if approve { "approve" } else { "reject" };
        let path = format!("{}/requests/{}/{action}", group_path(group), seg(author));
        Self::post_empty(path)
    }
}

impl Call<SearchResult> {
    /// `GET /v1/search?q=`: public and listed groups matching `query`, best first.
    pub fn search(query: &str) -> Self {
        Self::get(format!("/v1/search?q={}", seg(query)))
    }
}

impl Call<ProfileView> {
    /// `GET /v1/profile` (ours, `None`) or `GET /v1/profile/{author}` (from the DHT).
    pub fn profile(author: Option<&str>) -> Self {
        match author {
            None => Self::get("/v1/profile".into()),
            Some(a) => Self::get(format!("/v1/profile/{}", seg(a))),
        }
    }

    /// `POST /v1/profile`: changes, signs and publishes our profile.
    pub fn set_profile(req: &ProfileUpdate) -> Self {
        Self::post("/v1/profile".into(), req)
    }
}

impl Call<Done> {
    /// `POST /v1/discovery/announce`: puts cards, keywords and profile to the DHT now.
    pub fn announce_discovery() -> Self {
        Self::post_empty("/v1/discovery/announce".into())
    }
}

impl Call<UiLogin> {
    /// `POST /v1/ui/login`: a one-time login URL for the web app (bearer token only).
    pub fn ui_login() -> Self {
        Self::post_empty("/v1/ui/login".into())
    }
}

/// The path of `GET /v1/events`, for every group's events or those of one group.
pub fn events_path(group: Option<&str>) -> String {
    match group {
        Some(g) => format!("/v1/events?group={}", seg(g)),
        None => "/v1/events".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::History;

    #[test]
    fn paths_are_encoded() {
        assert_eq!(seg("周 a/b"), "%E5%91%A8%20a%2Fb");
        assert_eq!(
            Call::history("my group", 10, Some("5k/")).path,
            "/v1/groups/my%20group/messages?limit=10&before=5k%2F"
        );
        let c = Call::decide_join("G", "12D3", false);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::Post, "/v1/groups/G/requests/12D3/reject")
        );
        assert_eq!(Call::leave("G").method, Method::Delete);
        assert_eq!(events_path(Some("a&b")), "/v1/events?group=a%26b");
        let c = Call::mute("G", "小 明", Some(60));
        assert_eq!(c.path, "/v1/groups/G/members/%E5%B0%8F%20%E6%98%8E/mute");
        let body: serde_json::Value = serde_json::from_slice(&c.body.unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({ "for_secs": 60 }));
        let c = Call::set_role("G", "12D3", RoleName::Admin);
        assert_eq!(c.body.unwrap(), br#"{"role":"admin"}"#);
        let c = Call::unpin("G", "5k");
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::Delete, "/v1/groups/G/pins/5k")
        );
    }

    #[test]
    fn bodies_are_json() {
        let c = Call::join(&Join::invite("qun1x", History::All));
        let body: serde_json::Value = serde_json::from_slice(&c.body.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({ "invite": "qun1x", "history": "all" })
        );
        assert_eq!(Call::sync("G").body.unwrap(), b"{}");
    }
}
