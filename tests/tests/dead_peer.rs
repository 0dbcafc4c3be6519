//! A dead peer holding handles: a client that vanishes without FIN or RST (host down, cable
//! pulled) is found by the TCP layer, and the server releases its session and handles.
//!
//! - An idle session (every reply acknowledged) is found by TCP keepalive.
//! - A session with a reply the peer never acknowledges is found by `TCP_USER_TIMEOUT`
//!   (keepalive does not probe while sent data awaits acknowledgement).
//!
//! Packets must vanish without an answer, which loopback never does. Each outer test therefore
//! re-runs this test binary inside a private network namespace (`unshare -rn`), where the inner
//! test takes its own loopback interface down under the session and polls the server's counters
//! in-process until the session is gone. Where the namespace cannot be made (no `unshare` or
//! `ip`, or user namespaces not permitted), the outer test says so and passes, unless
//! `RPC_REQUIRE_NETNS=1` is set, in which case it fails.

use std::error::Error;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rpc_client::Client;
use rpc_server::{Remote, RunningServer, Server, ServerConfig, remote};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Set by the outer test to the network namespace it runs in; an inner test runs only when its
/// own namespace differs, so it never takes down the loopback interface of the host.
const HOST_NETNS: &str = "RPC_DEAD_PEER_HOST_NETNS";

/// When set to `1`, a missing network namespace capability fails the outer tests.
const REQUIRE_NETNS: &str = "RPC_REQUIRE_NETNS";

/// Keepalive settings of the inner servers: a dead peer is dropped 1 s + 2 × 1 s after its
/// last packet, by keepalive or by the matching user timeout.
const IDLE: Duration = Duration::from_secs(1);
const INTERVAL: Duration = Duration::from_secs(1);
const RETRIES: u32 = 2;

/// The earliest a release may come after loopback goes down: the keepalive idle time plus one
/// probe interval, less than the 3 s the settings give but far more than any immediate error
/// (a reset, a failed write) would take.
const EARLIEST: Duration = Duration::from_secs(2);

/// How long an inner test waits for the release before failing.
const RELEASE_DEADLINE: Duration = Duration::from_secs(20);

/// How often an inner test reads counters while waiting.
const POLL: Duration = Duration::from_millis(20);

/// An object with children, one of which is only returned once the test opens a gate.
#[remote]
#[derive(Debug)]
pub struct Held {
    gate: watch::Receiver<bool>,
}

#[remote]
impl Held {
    /// A new object.
    pub fn child(&self) -> Remote<Held> {
        Remote::new(Held {
            gate: self.gate.clone(),
        })
    }

    /// A new object, returned once the gate is open.
    pub async fn child_when_open(&self) -> Remote<Held> {
        let mut gate = self.gate.clone();
        // An error means the test dropped the gate: it is over, and the reply does not matter.
        let _ = gate.wait_for(|open| *open).await;
        self.child()
    }
}

// ---------------------------------------------------------------------------------------------
// Outer tests: run on the host, start the inner tests in a private network namespace.

fn netns() -> std::io::Result<String> {
    Ok(std::fs::read_link("/proc/self/ns/net")?
        .to_string_lossy()
        .into_owned())
}

fn show(output: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The host's network namespace if a private one with a working loopback can be made here;
/// `Err` says why not.
fn netns_available() -> Result<String, String> {
    let host = netns().map_err(|e| format!("cannot read /proc/self/ns/net: {e}"))?;
    let probe = Command::new("unshare")
        .args(["-rn", "ip", "link", "set", "lo", "up"])
        .output()
        .map_err(|e| format!("cannot run `unshare`: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "`unshare -rn ip link set lo up` failed: {}",
            show(&probe)
        ));
    }
    Ok(host)
}

/// Runs the inner test `name` of this binary inside a private network namespace and asserts it
/// passed; passes with a message if no namespace can be made and `RPC_REQUIRE_NETNS` is not `1`.
fn run_in_netns(name: &str) {
    if std::env::var_os(HOST_NETNS).is_some() {
        // Already inside a namespace (run by hand with the variable set): nothing to nest.
        return;
    }
    let host = match netns_available() {
        Ok(host) => host,
        Err(why) => {
            let required = std::env::var(REQUIRE_NETNS).is_ok_and(|v| v == "1");
            println!(
                "dead_peer: {name} NOT RUN: no private network namespace in this environment \
                 ({why}); set {REQUIRE_NETNS}=1 to make this a failure"
            );
            assert!(
                !required,
                "{REQUIRE_NETNS}=1 and no network namespace: {why}"
            );
            return;
        }
    };
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let started = Instant::now();
    let output = Command::new("unshare")
        .arg("-rn")
        .arg(&exe)
        .args([
            "--exact",
            name,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOST_NETNS, &host)
        .output()
        .expect("`unshare` ran a moment ago in the probe");
    let report = show(&output);
    println!(
        "dead_peer: {name} in a private network namespace took {} ms\n{report}",
        started.elapsed().as_millis()
    );
    assert!(output.status.success(), "{name} failed:\n{report}");
    // A harness that matched no test would also exit successfully.
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("test result: ok. 1 passed"),
        "{name} did not run:\n{report}"
    );
}

#[test]
fn an_idle_dead_peer_is_released_by_keepalive() {
    run_in_netns("inner_idle_dead_peer");
}

#[test]
fn a_dead_peer_with_a_reply_in_flight_is_released_by_the_user_timeout() {
    run_in_netns("inner_dead_peer_with_a_reply_in_flight");
}

// ---------------------------------------------------------------------------------------------
// Inner tests: run only inside the namespace an outer test made.

/// `Ok(false)` unless this process runs in a network namespace other than the one of the
/// outer test that started it.
fn in_private_netns() -> Result<bool, Box<dyn Error>> {
    let Some(host) = std::env::var_os(HOST_NETNS) else {
        println!("dead_peer: inner test skipped: not inside a namespace made by an outer test");
        return Ok(false);
    };
    assert_ne!(
        host.to_string_lossy(),
        netns()?,
        "refusing to take loopback down in the namespace of the process that started this test"
    );
    Ok(true)
}

fn ip(args: &[&str]) -> Result<(), Box<dyn Error>> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), show(&output)).into())
    }
}

/// A server with keepalive 1 s / 1 s / 2 probes and every connection watchdog limit at 1 h, so
/// only the TCP layer can close an idle session; a clone of it reads its counters in-process
/// while loopback is down. The gate holds back `child_when_open`.
async fn start() -> Result<(RunningServer, Server, watch::Sender<bool>), Box<dyn Error>> {
    ip(&["link", "set", "lo", "up"])?;
    let mut config = ServerConfig::default();
    config.keepalive = Some(IDLE);
    config.keepalive_interval = INTERVAL;
    config.keepalive_retries = RETRIES;
    config.first_frame_timeout = Duration::from_secs(3600);
    config.frame_progress_timeout = Duration::from_secs(3600);
    config.write_timeout = Duration::from_secs(3600);
    let (open, gate) = watch::channel(false);
    let server = Server::builder()
        .root_with("held", move |_args, _cx| Ok(Held { gate: gate.clone() }))
        .config(config)
        .build()?;
    // Clones share the counters.
    let observer = server.clone();
    let running = server.spawn(TcpListener::bind("127.0.0.1:0").await?)?;
    Ok((running, observer, open))
}

/// Bytes the server has sent on its connections from `port` that the peer has not yet
/// acknowledged (the `tx_queue` column of `/proc/self/net/tcp`: this namespace's sockets);
/// `None` while no such connection exists.
fn unacknowledged(port: u16) -> Result<Option<u64>, Box<dyn Error>> {
    let table = std::fs::read_to_string("/proc/self/net/tcp")?;
    let local = format!(":{port:04X}");
    let mut found = None;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st, tx_queue:rx_queue, ...; 01 is ESTABLISHED.
        let [_, local_address, _, "01", queues, ..] = fields.as_slice() else {
            continue;
        };
        if !local_address.ends_with(&local) {
            continue;
        }
        let tx = queues.split(':').next().unwrap_or_default();
        *found.get_or_insert(0) += u64::from_str_radix(tx, 16)?;
    }
    Ok(found)
}

/// Polls `observer`'s counters until no session or handle is left, for at most
/// [`RELEASE_DEADLINE`] from `down`; asserts the release came in time, after [`EARLIEST`], and
/// not from the connection watchdog.
async fn assert_released(observer: &Server, down: Instant, how: &str) {
    let mut stats = observer.stats();
    while (stats.sessions != 0 || stats.handles != 0) && down.elapsed() < RELEASE_DEADLINE {
        tokio::time::sleep(POLL).await;
        stats = observer.stats();
    }
    let elapsed = down.elapsed();
    let released = stats.sessions == 0 && stats.handles == 0;
    println!(
        "dead_peer: session and handles {} {} ms after loopback went down, expected by {how} \
         (idle {IDLE:?}, interval {INTERVAL:?}, {RETRIES} probes)",
        if released { "released" } else { "STILL HELD" },
        elapsed.as_millis()
    );
    assert!(
        released,
        "not released within {RELEASE_DEADLINE:?}: {stats:?}"
    );
    assert_eq!(
        stats.stalled_total, 0,
        "the connection watchdog closed it: {stats:?}"
    );
    assert!(
        elapsed >= EARLIEST,
        "released after {elapsed:?}, before the TCP layer could have given up on the peer"
    );
}

#[tokio::test]
#[ignore = "takes loopback down: run by an_idle_dead_peer_is_released_by_keepalive"]
async fn inner_idle_dead_peer() -> Result<(), Box<dyn Error>> {
    if !in_private_netns()? {
        return Ok(());
    }
    let (running, observer, _open) = start().await?;
    let client = Client::connect(running.local_addr()).await?;
    let root = client.open("held", ()).await?;
    let a = root.call("child", ()).await?.into_proxy()?;
    let b = root.call("child", ()).await?.into_proxy()?;
    let before = client.stats().await?;
    assert_eq!((before.sessions, before.handles), (1, 3), "{before:?}");

    // From here the session is idle: no call, no release (the proxies stay alive). Wait until
    // the client has acknowledged every reply, as it long has when a real idle peer vanishes.
    let quiet_by = Instant::now() + Duration::from_secs(5);
    let port = running.local_addr().port();
    while unacknowledged(port)? != Some(0) {
        assert!(
            Instant::now() < quiet_by,
            "replies unacknowledged after 5 s"
        );
        tokio::time::sleep(POLL).await;
    }
    ip(&["link", "set", "lo", "down"])?;
    let down = Instant::now();
    assert_released(&observer, down, "keepalive").await;

    drop((a, b, root, client));
    ip(&["link", "set", "lo", "up"])?;
    running.shutdown().await?;
    Ok(())
}

#[tokio::test]
#[ignore = "takes loopback down: run by \
            a_dead_peer_with_a_reply_in_flight_is_released_by_the_user_timeout"]
async fn inner_dead_peer_with_a_reply_in_flight() -> Result<(), Box<dyn Error>> {
    if !in_private_netns()? {
        return Ok(());
    }
    let (running, observer, open) = start().await?;
    let client = Client::connect(running.local_addr()).await?;
    let root = client.open("held", ()).await?;
    let a = root.call("child", ()).await?.into_proxy()?;
    let before = client.stats().await?;
    assert_eq!((before.sessions, before.handles), (1, 2), "{before:?}");

    // A call whose reply (carrying a new handle) is written only after loopback is down.
    let waiting = root.clone();
    let call = tokio::spawn(async move { waiting.call("child_when_open", ()).await });
    let arrived_by = Instant::now() + Duration::from_secs(5);
    while observer.stats().calls_in_flight == 0 {
        assert!(
            Instant::now() < arrived_by,
            "the call did not arrive in 5 s"
        );
        tokio::time::sleep(POLL).await;
    }
    ip(&["link", "set", "lo", "down"])?;
    let down = Instant::now();
    open.send(true)?;
    assert_released(&observer, down, "TCP_USER_TIMEOUT").await;

    call.abort();
    drop((a, root, client));
    ip(&["link", "set", "lo", "up"])?;
    running.shutdown().await?;
    Ok(())
}
