//! Replies never break the connection: a value too big for a frame is answered `TooLarge`,
//! and an error whose text would overflow a frame is cut until it fits.

use rpc_client::{Client, ErrorKind};
use rpc_server::{Allowlist, ServerConfig};
use rpc_tests::start_demo;

fn small_frames(bytes: usize) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.max_frame_bytes = bytes;
    config
}

#[tokio::test]
async fn a_value_bigger_than_a_frame_is_too_large() {
    let server = start_demo(Allowlist::default(), small_frames(1024)).await;
    let client = Client::connect(server.local_addr()).await.expect("connect");
    let dict = client.open("dict", ()).await.expect("open");
    for i in 0..4 {
        dict.call("set_item", (i, "v".repeat(300)))
            .await
            .expect("each entry fits");
    }
    let err = dict
        .all()
        .await
        .expect_err("1,200 bytes of data in a 1 KiB frame");
    assert_eq!(err.kind(), Some(ErrorKind::TooLarge));
    assert_eq!(
        dict.call_as::<i64>("len", ()).await.expect("still usable"),
        4
    );
}

#[tokio::test]
async fn an_error_with_long_text_is_cut_to_fit_the_frame() {
    for frame in [600, 1024, 4096] {
        let server = start_demo(Allowlist::default(), small_frames(frame)).await;
        let client = Client::connect(server.local_addr()).await.expect("connect");
        let dict = client.open("dict", ()).await.expect("open");
        // The KeyError message repeats the 400-byte key, and the stack text comes on top.
        let err = dict
            .call("get_item", ("k".repeat(400),))
            .await
            .expect_err("missing key");
        assert_eq!(err.kind(), Some(ErrorKind::Raised), "frame {frame}: {err}");
        let counter = client.open("counter", ()).await.expect("open");
        let err = counter.call("checked_div", (0,)).await.expect_err("raises");
        assert_eq!(err.kind(), Some(ErrorKind::Raised), "frame {frame}: {err}");
        client.ping().await.expect("the connection survived");
    }
}
