//! Authors by name: the display names the node shows next to author ids.
//!
//! A view of a message, a join request or a group carries the display name of each author
//! whose signed profile the node holds ([`crate::store::Records::name`], kept in memory).
//! Building a view never waits for the network. Names are learnt in the background: when a
//! message or a join request comes from an author with no known profile, and when a history
//! page shows one, the node looks the profile up in the DHT ([`EventLoop::want_name`]); the
//! valid answer is stored like any profile, and the next view shows the name. An author
//! whose profile is not found is asked for again after [`NAME_RETRY_FIRST`], then twice as
//! long each time up to [`NAME_RETRY_MAX`]; at most [`MAX_NAME_LOOKUPS`] lookups run at
//! once, so a sync of thousands of messages does not flood the DHT.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use qun_protocol::{AuthorId, Verified};

use super::dht::KadQuery;
use crate::event_loop::EventLoop;
use crate::view::{MessageView, MessageViewExt as _};

/// An author whose profile was not found is looked up again after this long at first...
pub(crate) const NAME_RETRY_FIRST: Duration = Duration::from_secs(15);

/// ...and then twice as long each time, up to this.
pub(crate) const NAME_RETRY_MAX: Duration = Duration::from_secs(3600);

/// Profile lookups running at once for names, at most.
pub(crate) const MAX_NAME_LOOKUPS: usize = 16;

/// Authors remembered as asked for, at most; entries whose retry time has come are dropped
/// first, and when it is still full nobody new is asked for until some are due.
pub(crate) const MAX_NAME_ASKED: usize = 4096;

impl EventLoop {
    /// The view of a message, with its author's display name when known.
    pub(crate) fn message_view(&self, msg: &Verified) -> MessageView {
        MessageView::of(msg).named(self.records.name(&msg.author()).as_deref())
    }

    /// The display name of `author`, when known.
    pub(crate) fn author_name(&self, author: &AuthorId) -> Option<String> {
        self.records.name(author)
    }

    /// Author id → display name, for the `authors` whose name is known.
    pub(crate) fn names_of<'a>(
        &self,
        authors: impl IntoIterator<Item = &'a AuthorId>,
    ) -> BTreeMap<String, String> {
        authors
            .into_iter()
            .filter_map(|a| Some((a.to_string(), self.author_name(a)?)))
            .collect()
    }

    /// Starts a DHT lookup of `author`'s profile when no name is held for them and they
    /// were not asked for within [`NAME_RETRY`]; never blocks.
    pub(crate) fn want_name(&mut self, author: AuthorId) {
        if author == self.identity.author() || self.records.has_name(&author) {
            return;
        }
        let now = Instant::now();
        let asked = &mut self.disc.names.asked;
        let tries = match asked.get(&author) {
            Some(a) if now < a.next => return,
            Some(a) => a.tries,
            None => 0,
        };
        if asked.len() >= MAX_NAME_ASKED {
            asked.retain(|_, a| now < a.next);
            if asked.len() >= MAX_NAME_ASKED {
                return;
            }
        }
        let running = self
            .disc
            .kad_queries
            .values()
            .filter(|q| matches!(q, KadQuery::Profile { .. }))
            .count();
        if running < MAX_NAME_LOOKUPS && self.lookup_profile(author) {
            let wait = NAME_RETRY_FIRST
                .saturating_mul(1 << tries.min(16))
                .min(NAME_RETRY_MAX);
            let next = now + wait;
            let tries = tries.saturating_add(1);
            self.disc
                .names
                .asked
                .insert(author, NameAsked { next, tries });
        }
    }
}

/// The names room: when each author's profile was last looked up for their name (at most
/// [`MAX_NAME_ASKED`]).
#[derive(Default)]
pub(crate) struct Names {
    pub asked: std::collections::HashMap<AuthorId, NameAsked>,
}

/// When an author's profile was looked up for their name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameAsked {
    /// Not asked for again before this.
    pub next: Instant,
    /// Lookups so far.
    pub tries: u32,
}
