//! Admission by IP allowlist (RELIABILITY.md case 1): a peer the allowlist does not admit is
//! closed at accept before any byte is exchanged and never becomes a session; globs, exact
//! addresses and CIDR networks admit exactly the addresses they describe (all of 127.0.0.0/8
//! is loopback, so source addresses 127.0.0.2.. stand in for other hosts); a malformed pattern
//! fails when the allowlist is built, at startup; and the client reports such a refusal as
//! `ConnectError::Closed` naming the allowlist.

use std::net::SocketAddr;
use std::time::Duration;

use rpc_client::{Client, ConnectError};
use rpc_core::{Op, Reply};
use rpc_server::{Allowlist, AllowlistError, RunningServer, ServerConfig};
use rpc_tests::{RawClient, connect_from, start_demo};
use tokio::io::AsyncReadExt;

/// Generous bound for the server to close a refused connection.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

async fn start_with(patterns: &[&str]) -> RunningServer {
    let allowlist = Allowlist::new(patterns).expect("valid allowlist");
    start_demo(allowlist, ServerConfig::default()).await
}

/// Connects from `source`, and asserts the server closes the connection without sending a
/// single byte.
async fn assert_refused(server: SocketAddr, source: &str) {
    let mut stream = connect_from(source, server)
        .await
        .unwrap_or_else(|e| panic!("TCP connect from {source}: {e}"));
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(CLOSE_WITHIN, stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection from {source}"));
    match read {
        Ok(0) => {}
        Ok(n) => panic!(
            "the server sent {n} bytes to refused peer {source}: {:?}",
            &buf[..n]
        ),
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "unexpected error reading from refused peer {source}: {e}"
        ),
    }
    let mut raw = RawClient::from_stream(stream);
    assert!(raw.closed_within(CLOSE_WITHIN).await, "{source} not closed");
}

/// Connects from `source`, says hello and pings: the peer is admitted and served.
async fn assert_admitted(server: SocketAddr, source: &str) {
    let stream = connect_from(source, server)
        .await
        .unwrap_or_else(|e| panic!("TCP connect from {source}: {e}"));
    let mut raw = RawClient::from_stream(stream);
    raw.hello()
        .await
        .unwrap_or_else(|e| panic!("hello from admitted peer {source}: {e}"));
    assert_eq!(
        raw.call(1, Op::Ping).await.expect("ping answered"),
        Ok(Reply::Done),
        "ping from {source}"
    );
}

#[tokio::test]
async fn refused_peer_is_closed_silently_and_never_becomes_a_session() {
    let server = start_with(&["127.0.0.1"]).await;
    let addr = server.local_addr();
    let control = Client::connect(addr).await.expect("127.0.0.1 is admitted");
    let before = control.stats().await.expect("stats");

    assert_refused(addr, "127.0.0.2").await;

    // The counter is bumped before the socket is dropped, so the close observed above
    // happens after it: no polling needed.
    let after = control.stats().await.expect("stats after the refusal");
    assert_eq!(
        after.refused_allowlist_total,
        before.refused_allowlist_total + 1,
        "{after:?}"
    );
    assert_eq!(
        after.sessions, before.sessions,
        "no session for a refused peer"
    );

    // The permitted client is unaffected, and so is a fresh one.
    let counter = control.open("counter", (5,)).await.expect("open");
    assert_eq!(counter.call_as::<i64>("add", (1,)).await.expect("add"), 6);
    assert_admitted(addr, "127.0.0.1").await;
}

#[tokio::test]
async fn trailing_star_admits_the_whole_last_octet() {
    let server = start_with(&["127.0.0.*"]).await;
    let addr = server.local_addr();
    for source in ["127.0.0.2", "127.0.0.10", "127.0.0.255"] {
        assert_admitted(addr, source).await;
    }
    assert_refused(addr, "127.0.1.1").await;
    assert_admitted(addr, "127.0.0.1").await;
}

#[tokio::test]
async fn exact_address_is_not_a_prefix() {
    let server = start_with(&["127.0.0.1"]).await;
    let addr = server.local_addr();
    assert_refused(addr, "127.0.0.10").await;
    assert_refused(addr, "127.0.0.100").await;
    assert_admitted(addr, "127.0.0.1").await;
}

#[tokio::test]
async fn question_mark_is_exactly_one_character() {
    let server = start_with(&["127.0.0.1?"]).await;
    let addr = server.local_addr();
    assert_admitted(addr, "127.0.0.10").await;
    assert_admitted(addr, "127.0.0.19").await;
    assert_refused(addr, "127.0.0.100").await;
    // `?` matches one character, never none.
    assert_refused(addr, "127.0.0.1").await;
    assert_admitted(addr, "127.0.0.10").await;
}

#[tokio::test]
async fn cidr_network_has_exact_boundaries() {
    let server = start_with(&["127.0.0.0/30"]).await;
    let addr = server.local_addr();
    assert_admitted(addr, "127.0.0.3").await;
    assert_refused(addr, "127.0.0.4").await;
    assert_admitted(addr, "127.0.0.1").await;
}

#[tokio::test]
async fn client_reports_an_allowlist_refusal_as_closed() {
    let server = start_with(&["127.0.0.2"]).await;
    let addr = server.local_addr();
    // `Client::connect` connects from 127.0.0.1, which this server does not admit.
    let err = Client::connect(addr)
        .await
        .expect_err("127.0.0.1 is not admitted");
    assert!(
        matches!(err, ConnectError::Closed { addr: a } if a == addr),
        "expected ConnectError::Closed, got {err:?}"
    );
    // The message is the feature here: it must point the user at the allowlist.
    assert!(err.to_string().contains("allowlist"), "{err}");
    assert_admitted(addr, "127.0.0.2").await;
}

#[test]
fn malformed_patterns_fail_when_the_allowlist_is_built() {
    for pattern in ["127.0.0.x", "10.0.0.0/33", "[1-"] {
        let err = Allowlist::new([pattern]).expect_err(pattern);
        assert!(
            matches!(&err, AllowlistError::BadPattern { pattern: p, .. } if p == pattern),
            "{pattern}: {err:?}"
        );
        // Also among valid patterns, and through `FromStr` (how a config file is read).
        let err = Allowlist::new(["127.0.0.1", pattern]).expect_err(pattern);
        assert!(
            matches!(&err, AllowlistError::BadPattern { pattern: p, .. } if p == pattern),
            "{pattern}: {err:?}"
        );
        assert!(
            format!("127.0.0.1, {pattern}")
                .parse::<Allowlist>()
                .is_err(),
            "{pattern}"
        );
    }
}
