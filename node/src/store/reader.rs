//! [`Reader`]: a handle to read the store from outside the event loop (the local API's
//! history, moderation log and own profile), so that such reads do not queue behind the
//! loop's network work.
//!
//! sled trees are safe to read from any thread while the loop writes. Two things are the
//! reader's own:
//! * it holds the store weakly and never keeps the database open: when the node stops, the
//!   loop [closes](Store::close) the store and a node may open the same data dir at once;
//! * each read holds the store's gate (shared) for its length, and a
//!   [reopen](Store::reopen) or a close takes it exclusively: no read holds the old database
//!   while it is closed (sled releases its file lock only when the last handle is gone).
//!
//! A read must not start another read of the same reader inside it (the gate is not
//! re-entrant while a reopen waits).

use std::sync::atomic::Ordering;
use std::sync::{PoisonError, Weak};

use super::{Shared, Store};

/// A read-only way into a [`Store`] that does not keep it open. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    shared: Weak<Shared>,
}

impl Reader {
    /// Runs `read` on the store, holding the gate for its length; `None` once the store is
    /// closed (the node stopped). `read` is synchronous: a long one (a scan of thousands of
    /// records) belongs on a blocking thread (`tokio::task::spawn_blocking`).
    pub fn read<T>(&self, read: impl FnOnce(&Store) -> T) -> Option<T> {
        let shared = self.shared.upgrade()?;
        let _gate = shared.gate.read().unwrap_or_else(PoisonError::into_inner);
        if shared.closed.load(Ordering::SeqCst) {
            return None;
        }
        let store = Store {
            shared: shared.clone(),
        };
        Some(read(&store))
    }
}

impl Store {
    /// A [`Reader`] of this store.
    pub fn reader(&self) -> Reader {
        Reader {
            shared: std::sync::Arc::downgrade(&self.shared),
        }
    }

    /// Closes the database for good, once the reads of [`Reader`]s in flight are done:
    /// every clone then fails with [`super::Error::Unavailable`] and readers read nothing.
    /// The event loop closes its store as it stops.
    pub fn close(&self) {
        let _gate = self
            .shared
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared.closed.store(true, Ordering::SeqCst);
        drop(
            self.shared
                .trees
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_reads_until_the_store_closes_and_never_keeps_it_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        let reader = store.reader();
        assert_eq!(reader.read(|s| s.groups().unwrap().len()), Some(0));
        store.close();
        assert!(reader.read(|_| ()).is_none(), "read after close");
        assert!(matches!(
            store.groups(),
            Err(super::super::Error::Unavailable)
        ));
        drop(store);
        // The database is closed: another store opens the same dir at once.
        let again = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        assert!(
            reader.read(|_| ()).is_none(),
            "a reader follows no new store"
        );
        assert_eq!(
            again
                .reader()
                .read(|s| s.count(&qun_protocol::GroupId::from_bytes([1; 32]))),
            Some(0)
        );
    }

    #[test]
    fn a_reopen_waits_for_a_read_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        let reader = store.reader();
        let (started, wait) = std::sync::mpsc::channel();
        let read = std::thread::spawn(move || {
            reader.read(|s| {
                // Holds an open handle of the database while the reopen is asked for.
                let groups = s.tree("groups").unwrap();
                started.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(200));
                groups.len()
            })
        });
        wait.recv().unwrap();
        // Without the gate, sled's file lock (still held by the read) fails the reopen.
        store.reopen().unwrap();
        assert_eq!(read.join().unwrap(), Some(0));
        assert_eq!(store.groups().unwrap().len(), 0);
    }
}
