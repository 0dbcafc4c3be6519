//! The bare tarpc 0.38 service with the same methods, served as tarpc's README does: one
//! `BaseChannel` per connection, `execute(..).for_each(spawn)`, over TCP with
//! `LengthDelimitedCodec` (8 MiB frames) and `rpc_core::WireCodec::default()`, so both systems
//! use the same bincode settings.

use std::io;
use std::net::SocketAddr;

use futures::StreamExt;
use rpc_core::WireCodec;
use rpc_core::limits::DEFAULT_MAX_FRAME_BYTES;
use tarpc::context;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::LengthDelimitedCodec;

/// The bare service: the same three calls the benchmark makes on our `Bench`.
#[tarpc::service]
pub trait Bare {
    /// `a + b`.
    async fn add(a: i64, b: i64) -> i64;
    /// The `i64` "field".
    async fn get_value() -> i64;
    /// Returns `s` unchanged.
    async fn echo(s: String) -> String;
}

/// The server side: stateless apart from the constant field value.
#[derive(Clone, Copy, Debug)]
pub struct BareServer {
    value: i64,
}

impl Bare for BareServer {
    async fn add(self, _: context::Context, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    async fn get_value(self, _: context::Context) -> i64 {
        self.value
    }

    async fn echo(self, _: context::Context, s: String) -> String {
        s
    }
}

/// Accepts connections forever, one task per connection, one spawned task per request (the
/// README pattern). Connections are not capped, as ours are capped far above what the
/// benchmark opens.
pub async fn serve_bare(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: back off instead of spinning.
                eprintln!("tarpc server: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Ours sets TCP_NODELAY on both ends too.
        let _ = stream.set_nodelay(true);
        let framed = LengthDelimitedCodec::builder()
            .max_frame_length(DEFAULT_MAX_FRAME_BYTES)
            .new_framed(stream);
        let transport = tarpc::serde_transport::new(framed, WireCodec::default());
        let server = BareServer { value: 42 };
        tokio::spawn(
            BaseChannel::with_defaults(transport)
                .execute(server.serve())
                .for_each(|handler| async {
                    tokio::spawn(handler);
                }),
        );
    }
}

/// Connects a bare tarpc client (its dispatch task spawned on the current runtime).
pub async fn connect_bare(addr: SocketAddr) -> io::Result<BareClient> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(DEFAULT_MAX_FRAME_BYTES)
        .new_framed(stream);
    let transport = tarpc::serde_transport::new(framed, WireCodec::default());
    Ok(BareClient::new(tarpc::client::Config::default(), transport).spawn())
}
