//! Remote errors are size-capped: a 10 MiB message or a cause chain 10,000 deep arrives cut
//! to the configured budget and marked, and the connection keeps working.

use std::fmt;

use rpc_client::{Client, ErrorKind};
use rpc_core::limits::DEFAULT_MAX_ERROR_TEXT;
use rpc_server::{Server, remote};
use tokio::net::TcpListener;

/// An error with a chosen message size and cause depth.
#[derive(Debug)]
pub struct Chain {
    message: String,
    cause: Option<Box<Chain>>,
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Chain {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|c| c as _)
    }
}

impl Drop for Chain {
    // A 10,000-deep box chain would drop recursively; unlink it iteratively.
    fn drop(&mut self) {
        let mut next = self.cause.take();
        while let Some(mut link) = next {
            next = link.cause.take();
        }
    }
}

/// Fails on demand.
#[remote]
#[derive(Debug)]
pub struct Failer {}

#[remote]
impl Failer {
    /// Fails with a message of `bytes` bytes and `depth` causes below it.
    pub fn fail(&self, bytes: u64, depth: u32) -> Result<(), Chain> {
        let mut chain: Option<Box<Chain>> = None;
        for i in 0..depth {
            chain = Some(Box::new(Chain {
                message: format!("cause {i}"),
                cause: chain,
            }));
        }
        Err(Chain {
            message: "m".repeat(bytes as usize),
            cause: chain,
        })
    }
}

#[tokio::test]
async fn huge_messages_and_deep_chains_are_capped() {
    let server = Server::builder()
        .root_with("failer", |_args, _cx| Ok(Failer {}))
        .build()
        .expect("builds");
    let running = server
        .spawn(TcpListener::bind("127.0.0.1:0").await.expect("bind"))
        .expect("spawn");
    let client = Client::connect(running.local_addr())
        .await
        .expect("connect");
    let failer = client.open("failer", ()).await.expect("open");
    for (bytes, depth) in [(10 << 20, 0), (10, 10_000), (1 << 20, 1_000)] {
        let err = failer
            .call("fail", (bytes, depth))
            .await
            .expect_err("fails");
        let remote = err.remote().expect("a remote error");
        assert_eq!(remote.kind, ErrorKind::Raised);
        let text: usize = remote.message.len()
            + remote.stack.len()
            + remote.chain.iter().map(String::len).sum::<usize>();
        // The budget, plus the short "[N bytes cut]" markers.
        assert!(
            text <= DEFAULT_MAX_ERROR_TEXT + 64 * 40,
            "{bytes}/{depth}: {text} bytes"
        );
        assert!(remote.chain.len() <= 33, "{} causes", remote.chain.len());
        if bytes > DEFAULT_MAX_ERROR_TEXT as u64 {
            assert!(remote.message.ends_with("bytes cut]"), "the cut is marked");
        }
    }
    failer.dir().await.expect("the connection still works");
}
