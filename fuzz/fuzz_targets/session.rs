//! The session state machine over a real connection: the input is decoded (leniently) into a
//! sequence of requests (opens, gets, sets, runs, releases with arbitrary handles, names and
//! values), sent to a live server in one connection, answered or refused; afterwards a control
//! connection must still be served. A server panic aborts the process.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rpc_core::protocol::ObjectServiceRequest;
use rpc_core::{Op, PROTOCOL_VERSION, Request, WireCodec};
use rpc_server::{Allowlist, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Harness {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort()
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let server = rpc_examples::demo_server(Allowlist::loopback(), ServerConfig::default())
                .expect("server");
            let running = server.spawn(listener).expect("spawn");
            let addr = running.local_addr();
            std::mem::forget(running);
            addr
        });
        Harness { runtime, addr }
    })
}

fn frame(id: u64, request: Request) -> Vec<u8> {
    #[derive(serde::Serialize)]
    enum Wire {
        Request {
            context: (Duration, tarpc::trace::Context),
            id: u64,
            message: ObjectServiceRequest,
        },
    }
    let Ok(body) = WireCodec::default().encode(&Wire::Request {
        context: (Duration::from_secs(5), tarpc::trace::Context::default()),
        id,
        message: ObjectServiceRequest::Call { request },
    }) else {
        return Vec::new();
    };
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

async fn exchange(addr: SocketAddr, frames: Vec<u8>, expected: usize) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return;
    };
    if stream.write_all(&frames).await.is_err() {
        return;
    }
    // Count complete reply frames until every request is answered or the server closes.
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut replies = 0;
    while replies < expected {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => pending.extend_from_slice(&buf[..n]),
        }
        while pending.len() >= 4 {
            let len = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]) as usize;
            if pending.len() < 4 + len {
                break;
            }
            pending.drain(..4 + len);
            replies += 1;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    // Decode as many requests as the bytes give (bincode over the input, bounded).
    let mut requests = vec![Request {
        chain: 0,
        releases: vec![],
        op: Op::Hello {
            protocol: PROTOCOL_VERSION,
            client: "fuzz".into(),
        },
    }];
    let mut rest = data;
    let options = bincode::DefaultOptions::new();
    use bincode::Options;
    while !rest.is_empty() && requests.len() < 32 {
        let mut reader = rest;
        match options
            .with_limit(1 << 16)
            .deserialize_from::<_, Request>(&mut reader)
        {
            Ok(request) => {
                rest = reader;
                if !matches!(request.op, Op::Rejected(_)) {
                    requests.push(request);
                }
            }
            Err(_) => rest = &rest[1..],
        }
    }
    let expected = requests.len();
    let frames: Vec<u8> = requests
        .into_iter()
        .enumerate()
        .flat_map(|(i, r)| frame(i as u64, r))
        .collect();
    h.runtime.block_on(async {
        exchange(h.addr, frames, expected).await;
        // The control connection is served.
        let hello = frame(
            0,
            Request {
                chain: 0,
                releases: vec![],
                op: Op::Hello {
                    protocol: PROTOCOL_VERSION,
                    client: "control".into(),
                },
            },
        );
        let mut control = TcpStream::connect(h.addr).await.expect("server accepts");
        control.write_all(&hello).await.expect("write");
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), control.read_exact(&mut len))
            .await
            .expect("control answered in time")
            .expect("control answered");
    });
});
