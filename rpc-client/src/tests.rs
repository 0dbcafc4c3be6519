//! Client tests against a small in-process mock of the server side of the wire contract (not
//! the real server crate): handshake, reply mapping, timeouts, size checks, releases.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use rpc_core::protocol::{ObjectService, ServerInfo};
use rpc_core::{
    Args, ErrorKind, HandleDescriptor, HandleId, Op, PROTOCOL_VERSION, Release, RemoteError, Reply,
    Request, Response, Value, WireCodec,
};
use tarpc::context;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::TcpListener;
use tokio_util::codec::LengthDelimitedCodec;

use crate::{CallError, Client, ConnectError, Proxy, Returned};

#[derive(Clone, Default)]
struct Mock {
    /// Every request received, in order.
    log: Arc<Mutex<Vec<Request>>>,
    /// Answer hello with this protocol version (0 = ours).
    protocol: u32,
}

fn desc(id: u64, type_name: &str) -> HandleDescriptor {
    HandleDescriptor {
        id: HandleId(id),
        type_name: type_name.into(),
        doc: format!("A {type_name}."),
    }
}

impl ObjectService for Mock {
    async fn call(self, _ctx: context::Context, request: Request) -> Response {
        self.answer(request).await.map_err(Box::new)
    }
}

impl Mock {
    async fn answer(&self, request: Request) -> Result<Reply, RemoteError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.clone());
        match request.op {
            Op::Hello { protocol, .. } if protocol != PROTOCOL_VERSION => Err(RemoteError::new(
                ErrorKind::VersionMismatch,
                "wrong version",
            )),
            Op::Hello { .. } => Ok(Reply::Hello(ServerInfo {
                protocol: if self.protocol == 0 {
                    PROTOCOL_VERSION
                } else {
                    self.protocol
                },
                server: "mock".into(),
                session: 42,
                max_frame_bytes: 1 << 20,
                max_value_depth: 64,
                roots: vec!["Counter".into()],
            })),
            Op::Open { root, .. } if root == "Counter" => Ok(Reply::Object(desc(1, "Counter"))),
            Op::Open { root, .. } => Err(RemoteError::new(ErrorKind::NoSuchRoot, root)),
            Op::Get { name, .. } => match name.as_str() {
                "value" => Ok(Reply::Value(Value::Int(5))),
                "child" => Ok(Reply::Object(desc(2, "Child"))),
                "confused" => Ok(Reply::Members(Vec::new())),
                _ => Err(RemoteError::new(ErrorKind::NoSuchMember, name)),
            },
            Op::Set { .. } | Op::Del { .. } | Op::Release | Op::Ping => Ok(Reply::Done),
            Op::Run { name, args, .. } => match name.as_deref() {
                Some("echo") => Ok(Reply::Value(Value::Tuple(args.positional))),
                Some("slow") => {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    Ok(Reply::Value(Value::None))
                }
                Some("fail") => {
                    let mut e =
                        RemoteError::new(ErrorKind::Raised, "boom").at("Counter", Some("fail"));
                    e.type_name = "std::io::Error".into();
                    e.chain = vec!["disk full".into()];
                    e.stack = "0: mock::fail\n".into();
                    Err(e)
                }
                None => Ok(Reply::Value(Value::Str("invoked".into()))),
                Some(other) => Err(RemoteError::new(ErrorKind::NoSuchMember, other)),
            },
            Op::Dir { .. } => Ok(Reply::Done),
            Op::All { .. } => Ok(Reply::Value(Value::Map(vec![(
                Value::Str("value".into()),
                Value::Int(5),
            )]))),
            Op::Stats => Ok(Reply::Stats(Default::default())),
            Op::Rejected(e) => Err(*e),
        }
    }
}

impl Mock {
    fn requests(&self) -> Vec<Request> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn releases(&self) -> Vec<Release> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.releases)
            .collect()
    }

    async fn start(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let framed = LengthDelimitedCodec::builder()
                    .max_frame_length(1 << 20)
                    .new_framed(stream);
                let transport = tarpc::serde_transport::new(framed, WireCodec::default());
                let serve = self.clone().serve();
                tokio::spawn(
                    BaseChannel::with_defaults(transport)
                        .execute(serve)
                        .for_each(|call| async {
                            tokio::spawn(call);
                        }),
                );
            }
        });
        addr
    }
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached in time");
}

fn release(id: u64, count: u32) -> Release {
    Release {
        handle: HandleId(id),
        count,
    }
}

#[test]
fn public_handles_are_send_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Client>();
    check::<Proxy>();
    check::<Returned>();
}

#[tokio::test]
async fn connect_says_hello_and_ops_map_to_replies() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::builder()
        .client_name("unit")
        .connect(addr)
        .await
        .expect("connects");
    assert_eq!(client.server_info().session, 42);
    assert_eq!(client.peer_addr(), addr);
    let first = &mock.requests()[0];
    assert_eq!(
        first.op,
        Op::Hello {
            protocol: PROTOCOL_VERSION,
            client: "unit".into()
        }
    );

    let counter = client.open("Counter", (10, "x")).await.expect("opens");
    assert_eq!(
        (counter.id(), counter.type_name()),
        (HandleId(1), "Counter")
    );
    assert_eq!(counter.doc(), "A Counter.");
    let Op::Open { args, .. } = &mock.requests()[1].op else {
        panic!("expected open")
    };
    assert_eq!(args.positional, [Value::Int(10), Value::Str("x".into())]);

    assert_eq!(counter.get_as::<i64>("value").await.expect("get"), 5);
    counter.set("value", 7).await.expect("set");
    counter.del("value").await.expect("del");
    let echoed: (i64, String) = counter.call_as("echo", (1, "a")).await.expect("call");
    assert_eq!(echoed, (1, "a".into()));
    let method = counter
        .get("child")
        .await
        .expect("get")
        .into_proxy()
        .expect("a proxy");
    assert_eq!(to_string_lossy(&method), "<remote Child #2>");
    assert_eq!(
        method.invoke(()).await.expect("invoke").to_string(),
        "'invoked'"
    );
    let copy: std::collections::BTreeMap<String, i64> = counter.all_as().await.expect("all");
    assert_eq!(copy["value"], 5);
    client.ping().await.expect("ping");
    client.stats().await.expect("stats");

    // A reply that does not fit the op is a protocol error, not a panic.
    assert!(matches!(counter.dir().await, Err(CallError::Protocol(_))));
    assert!(matches!(
        counter.get("confused").await,
        Err(CallError::Protocol(_))
    ));
    assert_eq!(
        client.open("Nope", ()).await.expect_err("no root").kind(),
        Some(ErrorKind::NoSuchRoot)
    );
}

fn to_string_lossy(proxy: &Proxy) -> String {
    Returned::Object(proxy.clone()).to_string()
}

#[tokio::test]
async fn remote_errors_show_the_server_stack_under_a_header() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::connect(addr).await.expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    let err = counter.call("fail", ()).await.expect_err("fails");
    assert_eq!(err.kind(), Some(ErrorKind::Raised));
    let text = format!("{err:?}");
    assert!(text.starts_with(
        "RUN Counter.fail failed on the server: raised std::io::Error: boom\n  caused by: disk full\n"
    ));
    assert!(text.contains(&format!(
        "--- remote stack (server {addr}, session 42, Counter.fail) ---\n0: mock::fail\n--- end of remote stack ---"
    )));
    // The session keeps working.
    client.ping().await.expect("ping after an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_handle_twice_is_released_once_with_count_two_before_the_next_request() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::connect(addr).await.expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    for round in 1..=20u32 {
        let a = counter
            .get("child")
            .await
            .expect("get")
            .into_proxy()
            .expect("proxy");
        let b = counter
            .get("child")
            .await
            .expect("get")
            .into_proxy()
            .expect("proxy");
        assert_eq!(a.id(), b.id());
        drop(a);
        drop(b);
        // Either the next request carries the release or it waits for the background task's
        // release op: either way the server has it before the request's op runs.
        client.ping().await.expect("ping");
        let releases = mock.releases();
        assert_eq!(
            releases.len(),
            round as usize,
            "round {round}: {releases:?}"
        );
        assert!(releases.iter().all(|r| *r == release(2, 2)), "{releases:?}");
    }
}

#[tokio::test]
async fn the_background_task_sends_releases_without_other_traffic() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::connect(addr).await.expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    drop(counter);
    wait_for(|| !mock.releases().is_empty()).await;
    let requests = mock.requests();
    let last = requests.last().expect("a request");
    assert_eq!(last.op, Op::Release);
    assert_eq!(last.releases, [release(1, 1)]);
    drop(client);
}

#[tokio::test]
async fn releases_left_at_close_are_flushed() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::connect(addr).await.expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    drop(client);
    // The proxy kept the connection open; dropping it releases and closes.
    ping_through(&counter).await;
    drop(counter);
    wait_for(|| mock.releases() == [release(1, 1)]).await;
}

async fn ping_through(proxy: &Proxy) {
    proxy
        .get_as::<i64>("value")
        .await
        .expect("the proxy keeps the connection");
}

#[tokio::test]
async fn proxies_pass_as_handles_but_not_across_connections() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::connect(addr).await.expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    let echoed = counter.call("echo", (&counter, 3)).await.expect("call");
    assert_eq!(
        echoed.into_value().expect("a value"),
        Value::Tuple(vec![Value::Handle(HandleId(1)), Value::Int(3)])
    );
    let other = Client::connect(addr).await.expect("second session");
    let foreign = other.open("Counter", ()).await.expect("opens");
    let err = counter
        .call("echo", (&foreign,))
        .await
        .expect_err("refused");
    assert!(matches!(err, CallError::Value(_)), "{err}");
    assert!(err.to_string().contains("another connection"), "{err}");
}

#[tokio::test]
async fn timeouts_fail_the_call_not_the_connection() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::connect(addr).await.expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    let quick = counter.with_timeout(Duration::from_millis(50));
    assert_eq!(quick.timeout(), Some(Duration::from_millis(50)));
    let err = quick.call("slow", ()).await.expect_err("times out");
    assert!(
        matches!(err, CallError::Timeout { after } if after == Duration::from_millis(50)),
        "{err}"
    );
    counter.call("slow", ()).await.expect("the default is long");
    // The per-proxy timeout shares the handle: both drop to one release.
    drop(quick);
    drop(counter);
    client.ping().await.expect("ping");
    wait_for(|| mock.releases() == [release(1, 1)]).await;
}

#[tokio::test]
async fn oversized_requests_fail_locally() {
    let mock = Mock::default();
    let addr = mock.clone().start().await;
    let client = Client::builder()
        .max_frame_bytes(1024)
        .connect(addr)
        .await
        .expect("connects");
    let counter = client.open("Counter", ()).await.expect("opens");
    let sent_before = mock.requests().len();
    let err = counter
        .set("value", "x".repeat(2000))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, CallError::TooLarge { bytes, limit: 1024 } if bytes > 2000),
        "{err}"
    );
    assert_eq!(mock.requests().len(), sent_before, "nothing was sent");
    counter.set("value", "x").await.expect("small is fine");
    let named = Args {
        positional: vec![],
        named: vec![("n".into(), Value::Int(1))],
    };
    counter.call_with("echo", named).await.expect("named args");
}

#[tokio::test]
async fn a_server_closing_at_connect_names_the_allowlist() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let err = Client::connect(addr).await.expect_err("closed");
    assert!(
        matches!(err, ConnectError::Closed { addr: a } if a == addr),
        "{err}"
    );
    assert!(err.to_string().contains("IP allowlist"));
}

#[tokio::test]
async fn a_version_mismatch_is_refused() {
    let mock = Mock {
        protocol: PROTOCOL_VERSION + 1,
        ..Mock::default()
    };
    let addr = mock.start().await;
    let err = Client::connect(addr).await.expect_err("refused");
    assert!(
        matches!(&err, ConnectError::Refused(e) if e.kind == ErrorKind::VersionMismatch),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_at_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let holder = tokio::spawn(async move {
        let kept = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(kept);
    });
    let err = Client::builder()
        .connect_timeout(Duration::from_millis(100))
        .connect(addr)
        .await
        .expect_err("times out");
    assert!(matches!(err, ConnectError::Timeout), "{err}");
    holder.abort();
}
