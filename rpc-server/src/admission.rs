//! [`Admission`]: connection slots, in total and per peer IP, taken before a connection is
//! served and given back when it ends.
//!
//! Excess connections are closed at accept, before a byte is read: a flood from one host
//! cannot take every slot (per-IP cap), and a flood from many cannot exhaust the server's
//! descriptors (total cap).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was refused a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds `max_connections` connections.
    Full,
    /// This peer IP holds `max_connections_per_ip` connections.
    PerIp,
}

/// The slots; see the module docs.
#[derive(Debug)]
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    /// Open connections per peer IP; entries at zero are removed. The lock is held only to
    /// change a count.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

/// The IP that counts for a peer: an IPv4-mapped IPv6 address counts as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Admission {
            total: Arc::new(Semaphore::new(max_total)),
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip,
        })
    }

    /// Takes a slot for a connection from `ip`.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let ip = canonical(ip);
        let permit = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *count += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            ip,
            _permit: permit,
        })
    }

    /// Connections now open from `ip`.
    #[cfg(test)]
    fn open_from(&self, ip: IpAddr) -> usize {
        let per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        per_ip.get(&canonical(ip)).copied().unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut per_ip = self
            .admission
            .per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address literal")
    }

    #[test]
    fn per_ip_cap_at_limit_minus_one_limit_and_plus_one() {
        let admission = Admission::new(100, 3);
        let a = ip("127.0.0.2");
        let tickets: Vec<Ticket> = (0..3)
            .map(|_| admission.admit(a).expect("under the per-IP cap"))
            .collect();
        assert_eq!(admission.admit(a).err(), Some(Refusal::PerIp));
        // The mapped form is the same peer.
        assert_eq!(
            admission.admit(ip("::ffff:127.0.0.2")).err(),
            Some(Refusal::PerIp)
        );
        let other = admission
            .admit(ip("127.0.0.3"))
            .expect("another IP has its own slots");
        drop(tickets);
        assert_eq!(admission.open_from(a), 0);
        assert!(admission.admit(a).is_ok(), "slots come back");
        drop(other);
    }

    #[test]
    fn total_cap_refuses_everyone_when_full() {
        let admission = Admission::new(2, 10);
        let first = admission.admit(ip("10.0.0.1")).expect("1");
        let _second = admission.admit(ip("10.0.0.2")).expect("2");
        assert_eq!(admission.admit(ip("10.0.0.3")).err(), Some(Refusal::Full));
        drop(first);
        assert!(admission.admit(ip("10.0.0.3")).is_ok());
    }
}
