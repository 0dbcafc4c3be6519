//! [`FrameCodec`]: the one place the server parses the framing (a 4-byte big-endian length,
//! then that many bytes of body), and everything it knows from it.
//!
//! As it takes frames out of the read buffer it
//! - refuses a declared length over `max_frame_bytes` before the body is read;
//! - charges a started frame of 64 KiB or more to the server-wide budget for incomplete
//!   frames (`max_partial_frame_bytes`) until it completes, and closes the connection whose
//!   frame would pass it (a fat slowloris: all but the last bytes of many large frames);
//! - grows the buffer as the body arrives, a piece at a time, not by the declared length at
//!   once, so a peer that declares 8 MiB and sends a few bytes holds a few bytes;
//! - tells the connection's [`Clock`] when a frame is incomplete and when frames complete, for
//!   the first-frame and frame-progress timeouts;
//! - logs each frame in (`rpc_server::wire`).
//!
//! Writing, it puts the length in front of each encoded message.

use std::io;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::budget::ByteBudget;
use crate::connection_clock::Clock;
use crate::limits::PENDING_BYTES_FROM;

/// Bytes of a declared body the buffer grows by at a time, at most.
const GROW_BY: usize = 64 << 10;

const HEADER: usize = 4;

/// The server's framing: see the module docs.
#[derive(Debug)]
pub(crate) struct FrameCodec {
    max_frame: usize,
    clock: Arc<Clock>,
    budget: Arc<ByteBudget>,
    /// The declared length of the frame being read, once its header is in.
    body: Option<usize>,
    /// What the frame being read holds of the budget.
    charged: usize,
}

impl FrameCodec {
    /// Frames of at most `max_frame` bytes, reported to `clock`, large ones charged to
    /// `budget`.
    pub(crate) fn new(max_frame: usize, clock: Arc<Clock>, budget: Arc<ByteBudget>) -> Self {
        FrameCodec {
            max_frame,
            clock,
            budget,
            body: None,
            charged: 0,
        }
    }

    fn release(&mut self) {
        self.budget.give_back(self.charged);
        self.charged = 0;
    }
}

impl Drop for FrameCodec {
    fn drop(&mut self) {
        self.release();
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        let len = match self.body {
            Some(len) => len,
            None => {
                let Some(header) = src.get(..HEADER) else {
                    if !src.is_empty() {
                        self.clock.frame_incomplete();
                    }
                    return Ok(None);
                };
                let mut bytes = [0; HEADER];
                bytes.copy_from_slice(header);
                let declared = u32::from_be_bytes(bytes);
                let len = usize::try_from(declared).unwrap_or(usize::MAX);
                if len > self.max_frame {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a frame of {declared} bytes is over the limit of {} \
                             (max_frame_bytes)",
                            self.max_frame
                        ),
                    ));
                }
                if len >= PENDING_BYTES_FROM {
                    if self.budget.take(len).is_err() {
                        tracing::warn!(
                            frame_bytes = len,
                            "connection closed: its frame would pass the server's budget for \
                             incomplete frames (max_partial_frame_bytes)"
                        );
                        return Err(io::Error::other(format!(
                            "a frame of {len} bytes would pass the server's budget for \
                             incomplete frames"
                        )));
                    }
                    self.charged = len;
                }
                src.advance(HEADER);
                self.body = Some(len);
                len
            }
        };
        if src.len() < len {
            self.clock.frame_incomplete();
            src.reserve((len - src.len()).min(GROW_BY));
            return Ok(None);
        }
        let frame = src.split_to(len);
        self.body = None;
        self.release();
        self.clock.frame_complete();
        tracing::debug!(target: "rpc_server::wire", bytes = len + HEADER, "frame in");
        Ok(Some(frame))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        // The message codec refuses a reply over the limit before this (as `TooLarge`).
        let len = u32::try_from(item.len())
            .ok()
            .filter(|&n| n as usize <= self.max_frame)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a frame of {} bytes is over the limit", item.len()),
                )
            })?;
        dst.reserve(HEADER + item.len());
        dst.put_u32(len);
        dst.extend_from_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(max_frame: usize, budget: usize) -> (FrameCodec, Arc<Clock>, Arc<ByteBudget>) {
        let clock = Clock::new();
        let budget = ByteBudget::new(budget);
        let codec = FrameCodec::new(max_frame, Arc::clone(&clock), Arc::clone(&budget));
        (codec, clock, budget)
    }

    fn framed(bodies: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for body in bodies {
            bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
            bytes.extend_from_slice(body);
        }
        bytes
    }

    #[test]
    fn frames_come_out_whole_across_arbitrary_splits() {
        let (mut c, clock, _) = codec(1 << 20, 1 << 20);
        let bytes = framed(&[b"abc", b"", b"0123456789"]);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        // One byte at a time: a frame is incomplete until its last byte.
        for b in &bytes {
            buf.extend_from_slice(std::slice::from_ref(b));
            while let Some(frame) = c.decode(&mut buf).expect("decodes") {
                frames.push(frame.to_vec());
            }
            // Between frames (nothing of the next one read) the connection is idle, not slow.
            let inside = !buf.is_empty() || c.body.is_some();
            assert_eq!(
                clock.is_frame_incomplete(),
                inside,
                "after {} frames",
                frames.len()
            );
        }
        assert_eq!(frames, [b"abc".to_vec(), vec![], b"0123456789".to_vec()]);
        assert!(clock.has_first_frame());
        // All at once gives the same frames.
        let mut buf = BytesMut::from(&bytes[..]);
        let mut again = Vec::new();
        while let Some(frame) = c.decode(&mut buf).expect("decodes") {
            again.push(frame.to_vec());
        }
        assert_eq!(again, frames);
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_its_body() {
        let (mut c, _, _) = codec(100, 1 << 20);
        let mut buf = BytesMut::from(&101u32.to_be_bytes()[..]);
        let e = c.decode(&mut buf).expect_err("over the limit");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("101 bytes"), "{e}");
    }

    #[test]
    fn a_large_frame_holds_the_budget_until_it_completes_and_reserves_by_pieces() {
        let len = 4 * PENDING_BYTES_FROM;
        let (mut c, _, budget) = codec(1 << 24, len + 10);
        let mut buf = BytesMut::from(&(len as u32).to_be_bytes()[..]);
        buf.extend_from_slice(&[7; 10]);
        assert!(c.decode(&mut buf).expect("incomplete").is_none());
        assert_eq!(budget.held(), len, "the started frame is charged");
        assert!(
            buf.capacity() < len,
            "a declared length is not reserved at once: capacity {}",
            buf.capacity()
        );
        // A second connection's large frame does not fit beside it.
        let mut other = FrameCodec::new(1 << 24, Clock::new(), Arc::clone(&budget));
        let mut second = BytesMut::from(&(len as u32).to_be_bytes()[..]);
        assert!(
            other.decode(&mut second).is_err(),
            "over the server's budget"
        );
        buf.extend_from_slice(&vec![7; len - 10]);
        let frame = c.decode(&mut buf).expect("decodes").expect("complete");
        assert_eq!(frame.len(), len);
        assert_eq!(budget.held(), 0, "given back when complete");
        // A connection that ends inside a frame gives its share back too.
        let mut buf = BytesMut::from(&(len as u32).to_be_bytes()[..]);
        assert!(c.decode(&mut buf).expect("incomplete").is_none());
        assert_eq!(budget.held(), len);
        drop(c);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn frames_out_carry_their_length() {
        let (mut c, _, _) = codec(8, 0);
        let mut dst = BytesMut::new();
        c.encode(Bytes::from_static(b"abc"), &mut dst)
            .expect("fits");
        assert_eq!(&dst[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
        assert!(c.encode(Bytes::from(vec![0; 9]), &mut dst).is_err());
    }
}
