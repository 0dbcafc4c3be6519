//! A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`);
//! the allowlist matches them as their IPv4 address, so `127.0.0.*` means the same on either
//! kind of listener, and IPv6 loopback (`::1`) is admitted by the default allowlist.

use std::net::{Ipv6Addr, SocketAddr};

use rpc_server::{Allowlist, RunningServer, ServerConfig};
use rpc_tests::{RawClient, connect_from};
use tokio::net::TcpListener;

/// Starts the demo server on `[::]:0`, accepting IPv4 too.
fn dual_stack(allowlist: Allowlist) -> RunningServer {
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)
        .expect("an IPv6 socket");
    socket.set_only_v6(false).expect("dual-stack");
    socket
        .bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
        .expect("bind [::]:0");
    socket.listen(128).expect("listen");
    socket.set_nonblocking(true).expect("nonblocking");
    let listener = TcpListener::from_std(socket.into()).expect("a tokio listener");
    rpc_examples::demo_server(allowlist, ServerConfig::default())
        .expect("builds")
        .spawn(listener)
        .expect("spawn")
}

fn port(server: &RunningServer) -> u16 {
    server.local_addr().port()
}

#[tokio::test]
async fn ipv4_glob_patterns_admit_mapped_peers() {
    let server = dual_stack(Allowlist::new(["127.0.0.*"]).expect("pattern"));
    let to = SocketAddr::from(([127, 0, 0, 1], port(&server)));
    for source in ["127.0.0.1", "127.0.0.2"] {
        let stream = connect_from(source, to).await.expect("connect");
        let mut raw = RawClient::from_stream(stream);
        raw.hello()
            .await
            .unwrap_or_else(|e| panic!("{source} admitted as ::ffff:{source}: {e}"));
    }
}

#[tokio::test]
async fn mapped_peers_outside_the_allowlist_are_refused() {
    let server = dual_stack(Allowlist::new(["127.0.0.2", "10.0.0.0/8"]).expect("patterns"));
    let to = SocketAddr::from(([127, 0, 0, 1], port(&server)));
    let stream = connect_from("127.0.0.1", to).await.expect("tcp accept");
    let mut refused = RawClient::from_stream(stream);
    assert!(
        refused.hello().await.is_err(),
        "::ffff:127.0.0.1 is not 127.0.0.2"
    );
    let stream = connect_from("127.0.0.2", to).await.expect("connect");
    let mut admitted = RawClient::from_stream(stream);
    admitted
        .hello()
        .await
        .expect("::ffff:127.0.0.2 is 127.0.0.2");
}

#[tokio::test]
async fn ipv6_loopback_is_admitted_by_default() {
    let server = dual_stack(Allowlist::loopback());
    let to = SocketAddr::from((Ipv6Addr::LOCALHOST, port(&server)));
    let mut raw = RawClient::connect(to).await.expect("connect over ::1");
    raw.hello().await.expect("::1 is loopback");
}
