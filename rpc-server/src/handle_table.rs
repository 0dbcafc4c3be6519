//! [`HandleTable`]: one session's objects, by id, with reference counts.
//!
//! The seed kept `{id(obj): [obj, count]}`; this is the same table with ids that are never
//! addresses and never reused, a quota, and checked arithmetic.
//!
//! Two dashmaps: `entries` (id -> object and count) and `by_object` (object address -> id), so
//! returning the same object twice yields the same id with count 2. Lock order is always
//! `by_object` then `entries`; no guard is held while user code runs (an object's `Drop` runs
//! after both guards are released).

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
pub(crate) struct HandleTable {
    entries: DashMap<HandleId, Entry>,
    by_object: DashMap<usize, HandleId>,
    next_id: AtomicU64,
    len: AtomicUsize,
    max_handles: usize,
    /// Server-wide count of live handles, for `stats`.
    global_handles: Arc<AtomicU64>,
}

fn address(object: &Arc<dyn Object>) -> usize {
    Arc::as_ptr(object).cast::<()>() as usize
}

fn no_such_handle(id: HandleId) -> RemoteError {
    RemoteError::new(
        ErrorKind::NoSuchHandle,
        format!("handle {id} is not held by this session (never issued, released, or another session's)"),
    )
}

impl HandleTable {
    pub(crate) fn new(max_handles: usize, global_handles: Arc<AtomicU64>) -> Self {
        HandleTable {
            entries: DashMap::new(),
            by_object: DashMap::new(),
            next_id: AtomicU64::new(1),
            len: AtomicUsize::new(0),
            max_handles,
            global_handles,
        }
    }

    /// The object behind `id`.
    pub(crate) fn get(&self, id: HandleId) -> Result<Arc<dyn Object>, RemoteError> {
        self.entries
            .get(&id)
            .map(|e| Arc::clone(&e.object))
            .ok_or_else(|| no_such_handle(id))
    }

    /// Number of distinct objects held.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Registers one more reference to `object` and describes it; an object already in the
    /// table keeps its id and gains a count.
    pub(crate) fn insert(&self, object: Arc<dyn Object>) -> Result<HandleDescriptor, RemoteError> {
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
    pub(crate) fn release(&self, id: HandleId, count: u32) -> Result<(), RemoteError> {
        if count == 0 {
            return Err(RemoteError::new(
                ErrorKind::OverRelease,
                format!("release of handle {id} with a count of 0"),
            ));
        }
        let key = address(&self.get(id)?);
        let removed = {
            let by_object = self.by_object.entry(key);
            let mut entry = self.entries.get_mut(&id).ok_or_else(|| no_such_handle(id))?;
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
    pub(crate) fn clear(&self) {
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
