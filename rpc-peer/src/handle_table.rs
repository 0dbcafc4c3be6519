//! [`HandleTable`]: one session's objects, by id, with reference counts.
//!
//! The seed kept `{id(obj): [obj, count]}`; this is the same table with ids that are never
//! addresses and never reused, a quota, and checked arithmetic.
//!
//! Two dashmaps: `entries` (id -> object and count) and `by_object` (object address -> id), so
//! returning the same object twice yields the same id with count 2. Lock order is always
//! `by_object` then `entries`; no guard is held while user code runs (an object's `Drop` runs
//! after both guards are released).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;
use rpc_core::{ErrorKind, HandleDescriptor, HandleId, RemoteError};

use crate::object::Object;

struct Entry {
    object: Arc<dyn Object>,
    count: u32,
}

/// One session's handle table. See the module docs.
pub struct HandleTable {
    entries: DashMap<HandleId, Entry, IdHash>,
    by_object: DashMap<usize, HandleId, IdHash>,
    next_id: AtomicU64,
    len: AtomicUsize,
    max_handles: usize,
    /// Server-wide count of live handles, for `stats`.
    global_handles: Arc<AtomicU64>,
}

/// Shards per table. One session's calls are few at a time, so a handful of shards keeps
/// contention low; dashmap's default (four per CPU, 256 on a 64-CPU host) would cost every
/// session memory that grows with the host's size.
const TABLE_SHARDS: usize = 4;

/// Hashes the tables' keys, handle ids and object addresses, with one multiplication.
///
/// Both kinds of key are chosen by the server (ids are sequential, addresses come from the
/// allocator), never by a peer, so a keyed hash against flooding buys nothing here; a peer
/// only looks ids up. The multiplier (2^64 / φ) spreads sequential keys over the high bits,
/// which pick the shard and the control bytes; `finish` folds them into the low bits too.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// See [`IdHash`].
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // The table indexes by the low bits: fold the well-mixed high half into them
        // (addresses are multiples of 16, so a product alone has zero low bits).
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the tables' keys (u64 and usize), kept correct for any other.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

fn address(object: &Arc<dyn Object>) -> usize {
    Arc::as_ptr(object).cast::<()>() as usize
}

fn no_such_handle(id: HandleId) -> RemoteError {
    RemoteError::new(
        ErrorKind::NoSuchHandle,
        format!(
            "handle {id} is not held by this session (never issued, released, or another session's)"
        ),
    )
}

impl fmt::Debug for HandleTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleTable")
            .field("len", &self.len())
            .field("max_handles", &self.max_handles)
            .finish_non_exhaustive()
    }
}

impl HandleTable {
    /// An empty table holding at most `max_handles` objects; `global_handles` counts the
    /// handles of every table that shares it (the server's `stats`).
    pub fn new(max_handles: usize, global_handles: Arc<AtomicU64>) -> Self {
        HandleTable {
            entries: DashMap::with_hasher_and_shard_amount(IdHash, TABLE_SHARDS),
            by_object: DashMap::with_hasher_and_shard_amount(IdHash, TABLE_SHARDS),
            next_id: AtomicU64::new(1),
            len: AtomicUsize::new(0),
            max_handles,
            global_handles,
        }
    }

    /// The object behind `id`.
    pub fn get(&self, id: HandleId) -> Result<Arc<dyn Object>, RemoteError> {
        self.entries
            .get(&id)
            .map(|e| Arc::clone(&e.object))
            .ok_or_else(|| no_such_handle(id))
    }

    /// Number of distinct objects held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers one more reference to `object` and describes it; an object already in the
    /// table keeps its id and gains a count.
    pub fn insert(&self, object: Arc<dyn Object>) -> Result<HandleDescriptor, RemoteError> {
        let describe = |id: HandleId, object: &Arc<dyn Object>| HandleDescriptor {
            id,
            type_name: object.type_name().to_owned(),
            doc: object.doc().to_owned(),
        };
        match self.by_object.entry(address(&object)) {
            MapEntry::Occupied(known) => {
                let id = *known.get();
                let mut entry = self.entries.get_mut(&id).ok_or_else(|| {
                    // Both maps change together under the `by_object` guard held here.
                    RemoteError::new(ErrorKind::Protocol, "handle table out of step")
                })?;
                entry.count = entry.count.checked_add(1).ok_or_else(|| {
                    RemoteError::new(
                        ErrorKind::QuotaExceeded,
                        format!("handle {id} already has {} references", u32::MAX),
                    )
                })?;
                Ok(describe(id, &entry.object))
            }
            MapEntry::Vacant(slot) => {
                if self.len.load(Ordering::Relaxed) >= self.max_handles {
                    return Err(RemoteError::new(
                        ErrorKind::QuotaExceeded,
                        format!(
                            "session holds {} handles, the most it may; release some",
                            self.max_handles
                        ),
                    ));
                }
                let id = HandleId(self.next_id.fetch_add(1, Ordering::Relaxed));
                let descriptor = describe(id, &object);
                self.entries.insert(id, Entry { object, count: 1 });
                slot.insert(id);
                self.len.fetch_add(1, Ordering::Relaxed);
                self.global_handles.fetch_add(1, Ordering::Relaxed);
                Ok(descriptor)
            }
        }
    }

    /// Drops `count` references to `id`; at zero the entry goes and, if nothing else holds
    /// it, the object is dropped.
    pub fn release(&self, id: HandleId, count: u32) -> Result<(), RemoteError> {
        if count == 0 {
            return Err(RemoteError::new(
                ErrorKind::OverRelease,
                format!("release of handle {id} with a count of 0"),
            ));
        }
        let key = address(&self.get(id)?);
        let removed = {
            let by_object = self.by_object.entry(key);
            let mut entry = self
                .entries
                .get_mut(&id)
                .ok_or_else(|| no_such_handle(id))?;
            if count > entry.count {
                return Err(RemoteError::new(
                    ErrorKind::OverRelease,
                    format!(
                        "release of {count} references to handle {id}, which has {}",
                        entry.count
                    ),
                ));
            }
            entry.count -= count;
            if entry.count > 0 {
                return Ok(());
            }
            drop(entry);
            let removed = self.entries.remove(&id);
            if let MapEntry::Occupied(known) = by_object {
                if *known.get() == id {
                    known.remove();
                }
            }
            self.len.fetch_sub(1, Ordering::Relaxed);
            self.global_handles.fetch_sub(1, Ordering::Relaxed);
            removed
        };
        // The object's Drop (user code) runs here, with no table guard held.
        drop(removed);
        Ok(())
    }

    /// Releases everything (the connection closed).
    pub fn clear(&self) {
        let ids: Vec<HandleId> = self.entries.iter().map(|e| *e.key()).collect();
        let mut objects = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some((_, entry)) = self.entries.remove(&id) {
                self.len.fetch_sub(1, Ordering::Relaxed);
                self.global_handles.fetch_sub(1, Ordering::Relaxed);
                objects.push(entry.object);
            }
        }
        self.by_object.clear();
        drop(objects);
    }
}

impl Drop for HandleTable {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Remote;
    use crate::{Dict, List};

    fn table(max: usize) -> HandleTable {
        HandleTable::new(max, Arc::new(AtomicU64::new(0)))
    }

    #[test]
    fn same_object_twice_is_same_id_with_count_two() {
        let t = table(8);
        let d = Remote::new(Dict::new()).into_object();
        let a = t.insert(Arc::clone(&d)).expect("insert");
        let b = t.insert(Arc::clone(&d)).expect("insert again");
        assert_eq!(a.id, b.id);
        assert_eq!(t.len(), 1);
        t.release(a.id, 1).expect("first release");
        assert!(t.get(a.id).is_ok(), "one reference left");
        t.release(a.id, 1).expect("second release");
        assert_eq!(
            t.get(a.id).err().map(|e| e.kind),
            Some(ErrorKind::NoSuchHandle)
        );
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn ids_are_monotonic_and_never_reused() {
        let t = table(8);
        let first = t
            .insert(Remote::new(List::new()).into_object())
            .expect("insert");
        t.release(first.id, 1).expect("release");
        let second = t
            .insert(Remote::new(List::new()).into_object())
            .expect("insert");
        assert!(second.id > first.id);
    }

    #[test]
    fn over_release_and_unknown_ids_are_errors_and_change_nothing() {
        let t = table(8);
        let d = t
            .insert(Remote::new(Dict::new()).into_object())
            .expect("insert");
        let kind = |r: Result<(), RemoteError>| r.err().map(|e| e.kind);
        assert_eq!(kind(t.release(d.id, 2)), Some(ErrorKind::OverRelease));
        assert_eq!(kind(t.release(d.id, 0)), Some(ErrorKind::OverRelease));
        for id in [0, 999, u64::MAX] {
            assert_eq!(
                kind(t.release(HandleId(id), 1)),
                Some(ErrorKind::NoSuchHandle)
            );
        }
        assert!(t.get(d.id).is_ok(), "the count was not touched");
        t.release(d.id, 1).expect("the real count still releases");
    }

    #[test]
    fn quota_refuses_new_objects_but_not_new_references() {
        let t = table(2);
        let a = Remote::new(Dict::new()).into_object();
        t.insert(Arc::clone(&a)).expect("1");
        t.insert(Remote::new(Dict::new()).into_object()).expect("2");
        let third = t.insert(Remote::new(Dict::new()).into_object());
        assert_eq!(third.err().map(|e| e.kind), Some(ErrorKind::QuotaExceeded));
        t.insert(a).expect("a known object only gains a count");
    }

    #[test]
    fn releasing_to_zero_and_clearing_drop_objects() {
        let global = Arc::new(AtomicU64::new(0));
        let t = HandleTable::new(8, Arc::clone(&global));
        let mut ids = Vec::new();
        let mut weak = Vec::new();
        for _ in 0..3 {
            let object = Remote::new(List::new()).into_object();
            ids.push(t.insert(Arc::clone(&object)).expect("insert").id);
            weak.push(Arc::downgrade(&object));
        }
        assert_eq!(global.load(Ordering::Relaxed), 3);
        t.release(ids[0], 1).expect("release");
        assert!(weak[0].upgrade().is_none(), "released object is gone");
        assert!(weak[1].upgrade().is_some());
        t.clear();
        assert!(weak.iter().all(|w| w.upgrade().is_none()));
        assert_eq!(global.load(Ordering::Relaxed), 0);
    }

    mod model {
        //! The table against a reference model: random inserts and releases must leave the
        //! same counts as a plain map, and concurrent use must balance exactly.

        use std::collections::HashMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Clone, Debug)]
        enum Step {
            /// Return object `k` of a small pool (registering it or adding a count).
            Insert(usize),
            /// Release `n` references of the id object `k` got, if it has one.
            Release(usize, u32),
            /// Release an id that was never issued.
            ReleaseUnknown(u64),
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                (0..6usize).prop_map(Step::Insert),
                (0..6usize, 0..4u32).prop_map(|(k, n)| Step::Release(k, n)),
                (1_000..2_000u64).prop_map(Step::ReleaseUnknown),
            ]
        }

        proptest! {
            #[test]
            fn counts_match_a_reference_model(steps in proptest::collection::vec(step(), 1..200)) {
                let t = HandleTable::new(4, Arc::new(AtomicU64::new(0)));
                let pool: Vec<Arc<dyn Object>> =
                    (0..6).map(|_| Remote::new(List::new()).into_object()).collect();
                // Model: object index -> (id, count); ids are never reused.
                let mut model: HashMap<usize, (HandleId, u32)> = HashMap::new();
                let mut last_id = 0u64;
                for step in steps {
                    match step {
                        Step::Insert(k) => {
                            let result = t.insert(Arc::clone(&pool[k]));
                            let full = model.len() >= 4;
                            match model.get_mut(&k) {
                                Some((id, count)) => {
                                    prop_assert_eq!(result.expect("known object").id, *id);
                                    *count += 1;
                                }
                                None if full => {
                                    prop_assert_eq!(
                                        result.err().map(|e| e.kind),
                                        Some(ErrorKind::QuotaExceeded)
                                    );
                                }
                                None => {
                                    let id = result.expect("room left").id;
                                    prop_assert!(id.0 > last_id, "ids only grow");
                                    last_id = id.0;
                                    model.insert(k, (id, 1));
                                }
                            }
                        }
                        Step::Release(k, n) => {
                            let Some(&(id, count)) = model.get(&k) else { continue };
                            let result = t.release(id, n);
                            if n == 0 || n > count {
                                prop_assert_eq!(result.err().map(|e| e.kind), Some(ErrorKind::OverRelease));
                            } else {
                                prop_assert!(result.is_ok());
                                if n == count {
                                    model.remove(&k);
                                    prop_assert!(t.get(id).is_err());
                                } else {
                                    model.insert(k, (id, count - n));
                                }
                            }
                        }
                        Step::ReleaseUnknown(id) => {
                            let result = t.release(HandleId(id), 1);
                            prop_assert_eq!(result.err().map(|e| e.kind), Some(ErrorKind::NoSuchHandle));
                        }
                    }
                    prop_assert_eq!(t.len(), model.len());
                }
                // Everything the model still holds resolves to the right object.
                for (k, (id, _)) in &model {
                    let got = t.get(*id).expect("held");
                    prop_assert!(Arc::ptr_eq(&got, &pool[*k]));
                }
            }
        }

        #[test]
        fn concurrent_inserts_releases_and_lookups_balance() {
            let global = Arc::new(AtomicU64::new(0));
            let t = Arc::new(HandleTable::new(64, Arc::clone(&global)));
            let pool: Arc<Vec<Arc<dyn Object>>> = Arc::new(
                (0..4)
                    .map(|_| Remote::new(List::new()).into_object())
                    .collect(),
            );
            let threads: Vec<_> = (0..8)
                .map(|thread| {
                    let t = Arc::clone(&t);
                    let pool = Arc::clone(&pool);
                    std::thread::spawn(move || {
                        // Each thread inserts and releases its own references in bursts; the
                        // objects and their ids are shared, so counts race across threads.
                        let mut held: Vec<HandleId> = Vec::new();
                        for i in 0..125_000usize {
                            let k = (i * 7 + thread) % pool.len();
                            if i % 3 == 2 {
                                if let Some(id) = held.pop() {
                                    t.release(id, 1).expect("a reference this thread holds");
                                }
                            } else if held.len() < 32 {
                                held.push(t.insert(Arc::clone(&pool[k])).expect("insert").id);
                            } else if let Some(id) = held.last() {
                                t.get(*id).expect("a held id resolves");
                            }
                        }
                        for id in held {
                            t.release(id, 1).expect("final release");
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().expect("no panic in a worker");
            }
            assert_eq!(t.len(), 0);
            assert_eq!(global.load(Ordering::Relaxed), 0);
            for object in pool.iter() {
                assert_eq!(Arc::strong_count(object), 1, "the table kept no reference");
            }
        }
    }
}
