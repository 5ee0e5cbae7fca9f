//! Reads served without the event loop: what the local API (and any [`Node`] handle) reads
//! that is wholly in the store does not queue behind the loop's network work.
//!
//! [`Reads`] holds a [`Reader`] of the store (sled trees read from any thread; it never
//! keeps the database open, see [`crate::store::reader`]), the display names of held
//! profiles ([`Names`], shared with the loop) and our author id.
//!
//! Served here: group lookup by id, name or id prefix ([`Node::resolve`]), a history page
//! ([`Node::history`]), the moderation log ([`Node::moderation_log`]) and our own profile
//! ([`Node::profile`] of ourselves). A group is known here when its record is in the
//! store: the loop writes it before it answers a create or a join, and deletes it as it
//! answers a leave, so these reads see what the loop's own did. Reads needing live state
//! stay with the loop: our id and addresses, peers, group info and list (mesh, queue,
//! sync progress), stats (profile lookups in the DHT), join requests (the folded state's
//! admin check), someone else's profile, search.
//!
//! Short reads run inline; a history page over [`INLINE_PAGE`] messages and the
//! moderation log (a scan of every control op and a fold) run on tokio's blocking pool.

use std::collections::BTreeSet;

use qun_protocol::group::Genesis;
use qun_protocol::{AuthorId, GroupId, Kind, MsgId, Verified, text};

use crate::store::{Names, Reader, Store};
use crate::view::{LogEntry, MessageView, MessageViewExt as _, ProfileView, profile_view};
use crate::{Command, DiscoveryCmd, Error, Node};

/// Most messages one history request returns.
pub const MAX_HISTORY_PAGE: usize = 10_000;

/// History pages up to this many messages are read inline, longer ones on the blocking
/// pool.
pub const INLINE_PAGE: usize = 200;

/// The read-only handle (see the module docs). Cheap to clone.
#[derive(Clone)]
pub(crate) struct Reads {
    store: Reader,
    names: Names,
    me: AuthorId,
}

impl Reads {
    pub fn new(store: Reader, names: Names, me: AuthorId) -> Self {
        Self { store, names, me }
    }

    /// Runs `read` on the store; [`Error::Closed`] once the node stopped.
    fn read<T>(&self, read: impl FnOnce(&Store) -> Result<T, Error>) -> Result<T, Error> {
        self.store.read(read).unwrap_or(Err(Error::Closed))
    }

    /// The joined group `query` names (see [`resolve_among`]).
    pub fn resolve(&self, query: &str) -> Result<GroupId, Error> {
        let groups = self.read(|s| Ok(s.groups()?))?;
        resolve_among(
            query,
            groups
                .iter()
                .map(|(id, r)| (id, r.genesis.genesis.name.as_str())),
        )
    }

    /// Up to `limit` (at most [`MAX_HISTORY_PAGE`]) messages of a joined group in group
    /// order, ending before `before` (or the newest); with the authors on the page whose
    /// name is not known (for the loop to look up in the background).
    pub fn history(
        &self,
        group: &GroupId,
        limit: usize,
        before: Option<MsgId>,
    ) -> Result<(Vec<MessageView>, Vec<AuthorId>), Error> {
        let msgs = self.read(|s| {
            if !s.has_group(group)? {
                return Err(Error::UnknownGroup(group.to_string()));
            }
            Ok(s.history(group, limit.min(MAX_HISTORY_PAGE), before.as_ref())?)
        })?;
        let mut unnamed = BTreeSet::new();
        let views = msgs
            .iter()
            .map(|m| {
                let name = self.names.get(&m.author());
                if name.is_none() && m.author() != self.me {
                    unnamed.insert(m.author());
                }
                MessageView::of(m).named(name.as_deref())
            })
            .collect();
        Ok((views, unnamed.into_iter().collect()))
    }

    /// The moderation log of a joined group: every stored control op in group order, with
    /// who did it, to whom, and the fold's verdict
    /// ([`qun_protocol::group::State::fold_log`]).
    pub fn moderation_log(&self, group: &GroupId) -> Result<Vec<LogEntry>, Error> {
        let (genesis, ops) = self.read(|s| {
            let record = s
                .group(group)?
                .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
            Ok((record.genesis.genesis, s.control_ops(group)?))
        })?;
        Ok(log_of(&genesis, &ops, &self.names))
    }

    /// Our own profile ([`Error::NotFound`] until one is set).
    pub fn own_profile(&self) -> Result<ProfileView, Error> {
        let held = self.read(|s| Ok(crate::store::records::profile_in(s, &self.me)?))?;
        held.map(|p| profile_view(&p)).ok_or_else(|| {
            Error::NotFound("you have no profile yet: qun profile set --name NAME".into())
        })
    }
}

/// The moderation log of the control ops `ops` of the group of `genesis`.
fn log_of(genesis: &Genesis, ops: &[Verified], names: &Names) -> Vec<LogEntry> {
    let mut log = Vec::with_capacity(ops.len());
    qun_protocol::group::State::fold_log(genesis, ops, |m, verdict| {
        let preview = m.body.kind.preview();
        let author = m.author();
        let target = match &m.body.kind {
            Kind::Transfer(t) => Some(t.to),
            _ => preview.mentions.first().copied(),
        };
        log.push(LogEntry {
            id: m.id.to_string(),
            author: author.to_string(),
            author_name: names.get(&author),
            kind: m.body.kind.name().to_owned(),
            target: target.map(|t| t.to_string()),
            target_name: target.and_then(|t| names.get(&t)),
            text: preview.text,
            timestamp_ms: m.body.stamp.wall_ms(),
            allowed: verdict.is_ok(),
            rule: verdict.as_ref().err().map(|r| r.rule().to_owned()),
            reason: verdict.err().map(|r| r.to_string()),
        });
    });
    log
}

/// The group `query` names among `groups` (id and name): a group's id, its name (both
/// sides trimmed and in NFC, so `"hiking "` and a decomposed `Café` are found), or a
/// unique id prefix of at least 4 characters. [`Error::UnknownGroup`] when none matches,
/// [`Error::Ambiguous`] with the ids when several do.
pub(crate) fn resolve_among<'a>(
    query: &str,
    groups: impl Iterator<Item = (&'a GroupId, &'a str)> + Clone,
) -> Result<GroupId, Error> {
    let q = query.trim();
    if let Ok(id) = q.parse::<GroupId>()
        && groups.clone().any(|(g, _)| *g == id)
    {
        return Ok(id);
    }
    let name = text::normalize_name(q);
    let by_name: Vec<GroupId> = groups
        .clone()
        .filter(|(_, n)| text::normalize_name(n) == name)
        .map(|(id, _)| *id)
        .collect();
    let matches = if by_name.is_empty() && q.len() >= 4 {
        groups
            .filter(|(id, _)| id.to_string().starts_with(q))
            .map(|(id, _)| *id)
            .collect()
    } else {
        by_name
    };
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::UnknownGroup(q.to_owned())),
        many => Err(Error::Ambiguous {
            query: q.to_owned(),
            ids: many
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Runs `read` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| Error::Internal(format!("a store read failed: {e}")))?
}

impl Node {
    /// Finds a joined group by id, unambiguous id prefix, or unambiguous name.
    pub async fn resolve(&self, query: &str) -> Result<GroupId, Error> {
        self.reads.resolve(query)
    }

    /// Up to `limit` messages in group order, ending before `before` (or the newest).
    /// Authors without a known name are looked up in the background, for the next page.
    pub async fn history(
        &self,
        group: GroupId,
        limit: usize,
        before: Option<MsgId>,
    ) -> Result<Vec<MessageView>, Error> {
        let (views, unnamed) = if limit <= INLINE_PAGE {
            self.reads.history(&group, limit, before)?
        } else {
            let reads = self.reads.clone();
            blocking(move || reads.history(&group, limit, before)).await?
        };
        if !unnamed.is_empty() {
            // A hint: when the loop's queue is full, the next page asks again.
            let _ = self
                .commands
                .try_send(Command::Discovery(DiscoveryCmd::WantNames(unnamed)));
        }
        Ok(views)
    }

    /// The moderation log: every control op stored for the group, in group order, with
    /// who did what to whom and whether the group's rule let it take effect.
    pub async fn moderation_log(&self, group: GroupId) -> Result<Vec<LogEntry>, Error> {
        let reads = self.reads.clone();
        blocking(move || reads.moderation_log(&group)).await
    }

    /// Our own profile, from the store.
    pub(crate) fn own_profile(&self) -> Result<ProfileView, Error> {
        self.reads.own_profile()
    }
}

#[cfg(test)]
#[path = "reads_tests.rs"]
mod tests;
