//! The wire log: at debug level every line about a request carries its session id and its
//! request number, frame sizes are logged at `rpc_server::wire`, and at trace level the full
//! request and reply.
//!
//! Installs a global tracing subscriber, so it lives alone in its own test binary.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use rpc_client::Client;
use rpc_tests::start_default;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn request_lines_carry_session_and_request_ids() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("rpc_server=trace"))
        .with_writer(captured.clone())
        .with_ansi(false)
        .init();

    let server = start_default().await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let session = client.server_info().session;
    let dict = client.open("dict", ()).await.expect("open");
    dict.call("set_item", (1, 2)).await.expect("set_item");
    dict.all().await.expect("all");
    drop((dict, client));
    server.shutdown().await.expect("shutdown");

    let text = String::from_utf8(
        captured
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
    .expect("utf-8 log");
    let prefix = format!("session{{id={session} ");
    let calls: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("rpc_server::session: call "))
        .collect();
    assert_eq!(calls.len(), 4, "hello, open, set_item, all:\n{text}");
    for (n, line) in calls.iter().enumerate() {
        assert!(line.contains(&prefix), "no session id: {line}");
        assert!(
            line.contains(&format!("call{{request={}}}", n + 1)),
            "no request number: {line}"
        );
    }
    assert!(text.contains("rpc_server::wire: frame in bytes="), "{text}");
    assert!(
        text.contains("op: Run { handle: HandleId(1), name: Some(\"set_item\")"),
        "{text}"
    );
    assert!(
        text.contains("result=Ok(Value(Map([(Int(1), Int(2))])))"),
        "{text}"
    );
}
