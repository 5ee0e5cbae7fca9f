//! Messages on disk: the `msgs` tree (group id ‖ order key → the frame exactly as
//! received and verified), the `control` tree (same keys, control messages only:
//! announcement, join, leave, meta, so group state is re-folded without scanning the chat)
//! and the `ids` tree (message id → group id ‖ order key: de-duplication and lookup).
//!
//! A group's history is one ordered range scan and every node orders it the same way.
//! Frames are not metadata records: they stay the bytes received (their encoding is the
//! protocol's, and their id is a hash over it), so no migration ever rewrites them. The
//! sync index of the event loop is rebuilt from [`Store::order_keys`].

use std::collections::HashMap;

use qun_protocol::{AuthorId, GroupId, MsgId, OrderKey, Verified};

use super::{Error, Store};

/// The key of a message in `msgs` and `control`: group id ‖ order key (80 bytes).
pub(crate) fn msg_key(group: &GroupId, key: &OrderKey) -> [u8; 80] {
    let mut k = [0u8; 80];
    k[..32].copy_from_slice(group.as_bytes());
    k[32..].copy_from_slice(&key.to_bytes());
    k
}

/// The first key past every key of `group`.
fn group_end(group: &GroupId) -> Vec<u8> {
    let mut e = group.as_bytes().to_vec();
    e.extend_from_slice(&[0xff; 49]);
    e
}

impl Store {
    /// Whether a message is stored.
    pub fn has_message(&self, id: &MsgId) -> Result<bool, Error> {
        Ok(self.t()?.ids.contains_key(id.as_bytes())?)
    }

    /// Stores a validated message. Returns `false` if it was already stored. Refused while
    /// the disk is full ([`Store::check_space`]).
    pub fn insert(&self, msg: &Verified) -> Result<bool, Error> {
        let t = self.t()?;
        if t.ids.contains_key(msg.id.as_bytes())? {
            return Ok(false);
        }
        self.check_space()?;
        let key = msg_key(&msg.body.group, &msg.order_key());
        let bytes = msg.encoded.as_slice();
        if msg.body.kind.is_control() {
            self.written(t.control.insert(key, bytes))?;
        }
        self.written(t.msgs.insert(key, bytes))?;
        self.written(t.ids.insert(msg.id.as_bytes(), &key[..]))?;
        Ok(true)
    }

    /// Removes a stored message (all three trees); returns whether it was stored. Only for
    /// a post of our own that no other node takes (closed out by a re-key, re-sent in the
    /// current epoch: `event_loop::repost`).
    pub fn remove(&self, msg: &Verified) -> Result<bool, Error> {
        let t = self.t()?;
        let key = msg_key(&msg.body.group, &msg.order_key());
        if t.ids.get(msg.id.as_bytes())?.is_none() {
            return Ok(false);
        }
        self.written(t.control.remove(key))?;
        self.written(t.msgs.remove(key))?;
        self.written(t.ids.remove(msg.id.as_bytes()))?;
        Ok(true)
    }

    fn decode(bytes: &[u8]) -> Result<Verified, Error> {
        qun_protocol::Envelope::decode_stored(bytes)
            .map_err(|e| Error::Corrupt(format!("a stored message: {e}")))
    }

    /// Up to `limit` messages of `group` in group order, ending just before `before`
    /// (or at the newest message).
    pub fn history(
        &self,
        group: &GroupId,
        limit: usize,
        before: Option<&MsgId>,
    ) -> Result<Vec<Verified>, Error> {
        let t = self.t()?;
        let start = msg_key(group, &OrderKey::MIN);
        let end = match before {
            Some(id) => match t.ids.get(id.as_bytes())? {
                Some(k) => k.to_vec(),
                None => return Ok(Vec::new()),
            },
            None => group_end(group),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in t.msgs.range(start.to_vec()..end).rev().take(limit) {
            let (_, v) = kv?;
            out.push(Self::decode(&v)?);
        }
        out.reverse();
        Ok(out)
    }

    /// Up to `limit` messages of `group` after `after` (exclusive), in group order.
    pub fn page_after(
        &self,
        group: &GroupId,
        after: Option<&OrderKey>,
        limit: usize,
    ) -> Result<Vec<Verified>, Error> {
        let t = self.t()?;
        let end = group_end(group);
        let iter = match after {
            Some(k) => {
                let start = msg_key(group, k);
                t.msgs.range(start.to_vec()..end)
            }
            None => t.msgs.range(group.as_bytes().to_vec()..end),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in iter {
            let (k, v) = kv?;
            if after.is_some_and(|a| k[32..] == a.to_bytes()) {
                continue;
            }
            if out.len() == limit {
                break;
            }
            out.push(Self::decode(&v)?);
        }
        Ok(out)
    }

    /// The message with id `id`, if stored (of any group).
    pub fn by_id(&self, id: &MsgId) -> Result<Option<Verified>, Error> {
        let t = self.t()?;
        let Some(key) = t.ids.get(id.as_bytes())? else {
            return Ok(None);
        };
        match t.msgs.get(key)? {
            Some(v) => Ok(Some(Self::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The message of `group` at `key`, if stored.
    pub fn get(&self, group: &GroupId, key: &OrderKey) -> Result<Option<Verified>, Error> {
        match self.t()?.msgs.get(msg_key(group, key))? {
            Some(v) => Ok(Some(Self::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The epoch and order key of every stored message of `group`, in order (decodes each
    /// message for its epoch: sync reconciles one epoch at a time).
    pub fn order_keys(&self, group: &GroupId) -> Result<Vec<(u64, OrderKey)>, Error> {
        let mut out = Vec::new();
        for kv in self.t()?.msgs.scan_prefix(group.as_bytes()) {
            let (k, v) = kv?;
            let key = OrderKey::from_bytes(&k[32..])
                .ok_or_else(|| Error::Corrupt("message key length".into()))?;
            out.push((Self::decode(&v)?.body.epoch, key));
        }
        Ok(out)
    }

    /// Every control message of `group` (in group order).
    pub fn control_ops(&self, group: &GroupId) -> Result<Vec<Verified>, Error> {
        self.t()?
            .control
            .scan_prefix(group.as_bytes())
            .map(|kv| Self::decode(&kv?.1))
            .collect()
    }

    /// How many messages of `group` are stored (0 while the store is unavailable).
    pub fn count(&self, group: &GroupId) -> usize {
        self.t()
            .map_or(0, |t| t.msgs.scan_prefix(group.as_bytes()).count())
    }

    /// Posts (text and announcement) of `group` per day: `days` counts, the first for the
    /// day starting at `from_ms`, each `day_ms` long, by the author's stamp. Posts stamped
    /// before `from_ms` or after `until_ms` are left out. Reads every stored envelope of
    /// the group.
    pub fn posts_per_day(
        &self,
        group: &GroupId,
        from_ms: u64,
        day_ms: u64,
        days: usize,
        until_ms: u64,
    ) -> Result<Vec<usize>, Error> {
        let mut out = vec![0; days];
        for kv in self.t()?.msgs.scan_prefix(group.as_bytes()) {
            let (_, v) = kv?;
            let msg = Self::decode(&v)?;
            let t = msg.body.stamp.wall_ms();
            if t < from_ms || t > until_ms || !msg.body.kind.is_post() {
                continue;
            }
            let day = usize::try_from((t - from_ms) / day_ms.max(1)).unwrap_or(usize::MAX);
            if let Some(n) = out.get_mut(day) {
                *n += 1;
            }
        }
        Ok(out)
    }

    /// The authors of `group`'s messages, with the time of their latest message and of
    /// their latest post (text or announcement), read from the stored envelopes. Times after
    /// `until_ms` are left out (a stamp from the future says nothing about now).
    pub fn author_activity(
        &self,
        group: &GroupId,
        until_ms: u64,
    ) -> Result<HashMap<AuthorId, (u64, Option<u64>)>, Error> {
        let mut out: HashMap<_, (u64, Option<u64>)> = HashMap::new();
        for kv in self.t()?.msgs.scan_prefix(group.as_bytes()) {
            let (_, v) = kv?;
            let msg = Self::decode(&v)?;
            let t = msg.body.stamp.wall_ms();
            if t > until_ms {
                continue;
            }
            let post = msg.body.kind.is_post();
            let e = out.entry(msg.author()).or_insert((0, None));
            e.0 = e.0.max(t);
            if post {
                e.1 = Some(e.1.map_or(t, |p| p.max(t)));
            }
        }
        Ok(out)
    }
}
