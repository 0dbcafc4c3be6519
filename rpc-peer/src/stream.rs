//! Streams: a method returns many results, read by the caller as an async `Stream`.
//!
//! # On the end that produces
//!
//! A `#[remote]` method returning `impl Stream<Item = T>` or `impl Iterator<Item = T>` (with
//! `T` data, or `Result<T, E>`) hands the caller a stream object instead of a value. The
//! object answers one op, `next_batch(max)`: it waits for the next item, takes more while they
//! are ready at once (up to `max` items and [`BATCH_BYTES`] of memory), and answers
//! `(items, done)`. The producer runs only inside those calls, so it never runs ahead of the
//! reader: each `next_batch` is a grant of credit for `max` items, and the producer's memory
//! is one batch. An error ends the stream with a remote error carrying stack text (items
//! taken before it are delivered first). Releasing the stream object (the reader dropped its
//! stream, or the connection closed) stops the producer at once, even inside a wait, and drops
//! it.
//!
//! # On the end that reads
//!
//! [`RemoteStream`] keeps a window of `next_batch` calls in flight ([`RemoteStream::window`],
//! default 2, of [`RemoteStream::batch`] items, default 1,024) and yields their items in
//! order, so items move at close to the rate of one large reply while the first ones arrive at
//! once; memory is bounded by window × batch items, however slow the reader.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesOrdered};
use futures::{FutureExt, Stream, StreamExt};
use rpc_core::protocol::{Member, MemberKind};
use rpc_core::{Args, ErrorKind, RemoteError, Value, from_value, to_value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Notify};

use crate::call::{ArgReader, CallContext, Produced, raised};
use crate::error::CallError;
use crate::object::{Object, Started, no_such_member};
use crate::proxy::Proxy;

/// The type name a stream object has on the wire (in DIR, errors, `Proxy::type_name`).
pub const STREAM_TYPE: &str = "stream";

/// The most memory of items one `next_batch` answer holds (1 MiB), whatever `max` asks.
pub const BATCH_BYTES: usize = 1 << 20;

/// The most items one `next_batch` answer holds, whatever `max` asks.
pub const MAX_BATCH: u32 = 65_536;

type Items = BoxStream<'static, Result<Value, RemoteError>>;

/// The producer and its state, shared by the stream object and its calls in flight.
struct Producer {
    items: Mutex<ProducerState>,
    /// Notified when the stream object is released: calls waiting for an item stop.
    released: Notify,
    /// Set before `released` is notified, for a call that starts waiting after it.
    gone: AtomicBool,
}

struct ProducerState {
    items: Option<Items>,
    /// An error met after some items of a batch: the answer to the next call.
    failed: Option<RemoteError>,
}

/// The object a streaming method hands out (see the module docs). The handle table holds it;
/// its calls hold only the producer, so releasing it stops them.
struct StreamObject {
    producer: Arc<Producer>,
}

impl Drop for StreamObject {
    fn drop(&mut self) {
        self.producer.gone.store(true, Ordering::SeqCst);
        self.producer.released.notify_waiters();
        // A call that starts waiting after this notification sees the producer gone.
        if let Ok(mut state) = self.producer.items.try_lock() {
            state.items = None;
        }
    }
}

fn stream_object(items: Items) -> Produced {
    Produced::Object(Arc::new(StreamObject {
        producer: Arc::new(Producer {
            items: Mutex::new(ProducerState {
                items: Some(items),
                failed: None,
            }),
            released: Notify::new(),
            gone: AtomicBool::new(false),
        }),
    }))
}

fn item_value<T: Serialize>(item: &T) -> Result<Value, RemoteError> {
    to_value(item).map_err(|e| {
        RemoteError::new(
            ErrorKind::WrongType,
            format!("a stream item cannot be sent as a value: {e}"),
        )
    })
}

/// What a method returning `impl Stream<Item = T>` hands out. Used by generated code.
pub fn from_stream<S, T>(stream: S) -> Produced
where
    S: Stream<Item = T> + Send + 'static,
    T: Serialize,
{
    stream_object(stream.map(|item| item_value(&item)).boxed())
}

/// What a method returning `impl Stream<Item = Result<T, E>>` hands out: an `Err` ends the
/// stream as a `Raised` remote error. Used by generated code.
pub fn from_fallible_stream<S, T, E>(
    stream: S,
    location: &'static str,
    cx: &CallContext,
) -> Produced
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Serialize,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let cx = cx.clone();
    stream_object(
        stream
            .map(move |item| match item {
                Ok(item) => item_value(&item),
                Err(e) => Err(raised(e, location, &cx)),
            })
            .boxed(),
    )
}

/// What a method returning `impl Iterator<Item = T>` hands out. Used by generated code.
pub fn from_iter<I, T>(iter: I) -> Produced
where
    I: Iterator<Item = T> + Send + 'static,
    T: Serialize,
{
    from_stream(futures::stream::iter(iter))
}

/// What a method returning `impl Iterator<Item = Result<T, E>>` hands out. Used by generated
/// code.
pub fn from_fallible_iter<I, T, E>(iter: I, location: &'static str, cx: &CallContext) -> Produced
where
    I: Iterator<Item = Result<T, E>> + Send + 'static,
    T: Serialize,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    from_fallible_stream(futures::stream::iter(iter), location, cx)
}

impl Producer {
    /// One `next_batch(max)`: see the module docs.
    async fn next_batch(&self, max: u32) -> Result<Value, RemoteError> {
        let max = max.clamp(1, MAX_BATCH) as usize;
        let mut state = self.items.lock().await;
        if let Some(e) = state.failed.take() {
            state.items = None;
            return Err(e);
        }
        let Some(items) = state.items.as_mut() else {
            return Ok(batch(Vec::new(), true));
        };
        // Wait for the first item, unless the stream object is released meanwhile (the flag
        // covers a release between taking the lock and listening).
        let released = self.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        let first = if self.gone.load(Ordering::SeqCst) {
            None
        } else {
            tokio::select! {
                first = items.next() => Some(first),
                () = &mut released => None,
            }
        };
        let Some(first) = first else {
            state.items = None;
            return Err(RemoteError::new(
                ErrorKind::Protocol,
                "the stream was released while a batch was being read",
            ));
        };
        let mut taken = Vec::new();
        let mut bytes = 0usize;
        let mut next = first;
        loop {
            match next {
                None => {
                    state.items = None;
                    return Ok(batch(taken, true));
                }
                Some(Err(e)) if taken.is_empty() => {
                    state.items = None;
                    return Err(e);
                }
                Some(Err(e)) => {
                    state.failed = Some(e);
                    return Ok(batch(taken, false));
                }
                Some(Ok(value)) => {
                    bytes = bytes.saturating_add(value.memory_size());
                    taken.push(value);
                }
            }
            if taken.len() >= max || bytes >= BATCH_BYTES {
                return Ok(batch(taken, false));
            }
            // More only while ready at once: a slow producer delivers what it has.
            match items.next().now_or_never() {
                Some(more) => next = more,
                None => return Ok(batch(taken, false)),
            }
        }
    }
}

fn batch(items: Vec<Value>, done: bool) -> Value {
    Value::Tuple(vec![Value::List(items), Value::Bool(done)])
}

const NEXT_BATCH: &str = "next_batch";

impl Object for StreamObject {
    fn type_name(&self) -> &'static str {
        STREAM_TYPE
    }

    fn doc(&self) -> &'static str {
        "A stream of results; read it with Proxy::into_stream (or next_batch)."
    }

    fn members(&self) -> Vec<Member> {
        vec![Member {
            name: NEXT_BATCH.to_owned(),
            kind: MemberKind::Method,
            ty: "(Vec<Value>, bool)".to_owned(),
            params: vec![rpc_core::Param {
                name: "max".to_owned(),
                ty: "u32".to_owned(),
            }],
            read_only: false,
            doc: "The next items (at least one, at most `max`, waiting for the first) and \
                  whether the stream ended."
                .to_owned(),
        }]
    }

    fn has_method(&self, name: &str) -> bool {
        name == NEXT_BATCH
    }

    fn call(
        self: Arc<Self>,
        name: Option<&str>,
        args: Args,
        cx: &CallContext,
    ) -> Result<Started, RemoteError> {
        match name {
            Some(NEXT_BATCH) => {}
            Some(other) => return Err(no_such_member(STREAM_TYPE, other, "method")),
            None => {
                return Err(RemoteError::new(
                    ErrorKind::NoSuchMember,
                    "a stream is not callable; read it with next_batch",
                ));
            }
        }
        let mut reader = ArgReader::new(args, "stream.next_batch", 1, cx);
        let max: u32 = reader.take(0, "max")?;
        reader.finish()?;
        // The call holds the producer, not the object, so a release stops it.
        let producer = Arc::clone(&self.producer);
        drop(self);
        Ok(Started::Pending(Box::pin(async move {
            producer.next_batch(max).await.map(Produced::Data)
        })))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The error for a `next_batch` answer that is not `(items, done)`.
fn bad_batch(answer: &Value) -> CallError {
    CallError::Unexpected(format!(
        "a stream's next_batch answered a value of kind {}, not (items, done)",
        answer.kind_name()
    ))
}

type Batch = BoxFuture<'static, Result<(Vec<Value>, bool), CallError>>;

/// The items of a peer's stream, read as an async `Stream` (see the module docs). Dropping it
/// releases the stream object, which stops the producer.
#[must_use = "a stream does nothing unless polled"]
pub struct RemoteStream<T> {
    proxy: Proxy,
    in_flight: FuturesOrdered<Batch>,
    ready: VecDeque<Value>,
    /// The producer said it ended, or failed: no more calls.
    finished: bool,
    window: usize,
    batch: u32,
    _item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for RemoteStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteStream")
            .field("proxy", &self.proxy)
            .field("buffered", &self.ready.len())
            .field("in_flight", &self.in_flight.len())
            .field("finished", &self.finished)
            .finish()
    }
}

impl<T> RemoteStream<T> {
    /// Reads the stream object behind `proxy`.
    ///
    /// # Errors
    /// [`CallError::Unexpected`] when `proxy` is not a stream.
    pub fn new(proxy: Proxy) -> Result<Self, CallError> {
        if proxy.type_name() != STREAM_TYPE {
            return Err(CallError::Unexpected(format!(
                "expected a stream, found a {} object",
                proxy.type_name()
            )));
        }
        Ok(RemoteStream {
            proxy,
            in_flight: FuturesOrdered::new(),
            ready: VecDeque::new(),
            finished: false,
            window: 2,
            batch: 1024,
            _item: PhantomData,
        })
    }

    /// Keeps `calls` batch requests in flight (at least 1; default 2).
    pub fn window(mut self, calls: usize) -> Self {
        self.window = calls.max(1);
        self
    }

    /// Asks for at most `items` per batch (1 ..= 65,536; default 1,024).
    pub fn batch(mut self, items: u32) -> Self {
        self.batch = items.clamp(1, MAX_BATCH);
        self
    }

    fn request(&self) -> Batch {
        let proxy = self.proxy.clone();
        let max = self.batch;
        Box::pin(async move {
            // The answer is taken apart as the value it is, not deserialized into
            // `(Vec<Value>, bool)`: that would rebuild every item once more before
            // `poll_next` reads it as `T` (P10 in `docs/PERFORMANCE.md`).
            match proxy.call(NEXT_BATCH, (max,)).await? {
                crate::Returned::Value(Value::Tuple(answer)) => {
                    match <[Value; 2]>::try_from(answer) {
                        Ok([Value::List(items), Value::Bool(done)]) => Ok((items, done)),
                        Ok(other) => Err(bad_batch(&Value::Tuple(other.into()))),
                        Err(answer) => Err(bad_batch(&Value::Tuple(answer))),
                    }
                }
                crate::Returned::Value(other) => Err(bad_batch(&other)),
                crate::Returned::Object(proxy) => Err(CallError::Unexpected(format!(
                    "a stream's next_batch answered a {} object, not its items",
                    proxy.type_name()
                ))),
            }
        })
    }
}

impl<T: DeserializeOwned> Stream for RemoteStream<T> {
    type Item = Result<T, CallError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(value) = this.ready.pop_front() {
                let kind = value.kind_name();
                return Poll::Ready(Some(from_value(value).map_err(|e| {
                    CallError::Unexpected(format!(
                        "cannot read a stream item of kind {kind} as {}: {e}",
                        std::any::type_name::<T>()
                    ))
                })));
            }
            while !this.finished && this.in_flight.len() < this.window {
                let next = this.request();
                this.in_flight.push_back(next);
            }
            match std::task::ready!(this.in_flight.poll_next_unpin(cx)) {
                Some(Ok((items, done))) => {
                    this.ready.extend(items);
                    if done {
                        this.finished = true;
                    }
                }
                Some(Err(e)) => {
                    this.finished = true;
                    this.in_flight = FuturesOrdered::new();
                    return Poll::Ready(Some(Err(e)));
                }
                None => return Poll::Ready(None),
            }
        }
    }
}
