//! Default limits both ends of a connection share: frames, values, deadlines, error text,
//! names. A server's own policy (connection caps, memory allowances, clocks, keepalive) is
//! `rpc_server::limits`.
//!
//! Every limit is a named constant whose doc says which failure it stops; servers and clients
//! copy them into their configs, where each one can be changed.

use std::time::Duration;

/// Largest frame accepted or sent (8 MiB). Stops memory blow-up from a declared frame length:
/// a longer frame closes the connection before its body is read.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// Deepest nesting of a decoded [`Value`](crate::Value) (64 levels). Stops the stack overflow
/// (a process abort, not a catchable panic) that a few kilobytes of nested lists cause in a
/// recursive decoder.
pub const DEFAULT_MAX_VALUE_DEPTH: usize = 64;

/// Shortest deadline a request may carry (1 ms); shorter ones are raised to it.
pub const MIN_DEADLINE: Duration = Duration::from_millis(1);

/// Longest deadline a request may carry (1 h); longer ones are lowered to it. Stops the
/// `Instant` overflow panic a huge deadline causes, and calls that pin resources forever.
/// It is also the client's default per-call timeout: no short default silently kills long calls.
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);

/// Bytes of message and stack text a remote error may carry (64 KiB); longer text is cut.
pub const DEFAULT_MAX_ERROR_TEXT: usize = 64 * 1024;

/// Longest member or root name accepted (256 bytes).
pub const MAX_NAME_BYTES: usize = 256;

/// Time the server leaves between the end of its work on a call and the deadline the call
/// carries (at most 500 ms, at most half the deadline). The reply to a call is then always
/// written before tarpc's own expiry of the request on either side, so a reply carrying a
/// handle is never dropped on the way and the handle is always released.
pub const REPLY_MARGIN: Duration = Duration::from_millis(500);

/// The deadline a client puts on the wire for a call that should time out after `timeout`:
/// `timeout` plus the margin the server keeps back ([`work_budget`]).
pub fn wire_deadline(timeout: Duration) -> Duration {
    timeout.saturating_add(timeout.min(REPLY_MARGIN))
}

/// How long the server works on a call whose deadline is `remaining` away: `remaining` less
/// the reply margin. For `remaining = wire_deadline(t)` this is `t`.
pub fn work_budget(remaining: Duration) -> Duration {
    remaining.saturating_sub((remaining / 2).min(REPLY_MARGIN))
}

/// Clamps a requested deadline into [`MIN_DEADLINE`, `MAX_DEADLINE`].
pub fn clamp_deadline(requested: Duration) -> Duration {
    requested.clamp(MIN_DEADLINE, MAX_DEADLINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_works_exactly_the_clients_timeout() {
        for ms in [1, 3, 100, 499, 500, 501, 10_000, 3_600_000] {
            let t = Duration::from_millis(ms);
            assert_eq!(work_budget(wire_deadline(t)), t, "{ms} ms");
            assert!(wire_deadline(t) > t);
        }
        assert_eq!(work_budget(Duration::ZERO), Duration::ZERO);
    }
}
