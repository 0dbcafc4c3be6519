//! Every decoder a peer's bytes reach: the server's frame decoder (tarpc's `ClientMessage`
//! through our deadline mirror, or a peer message), the client's (a tarpc `Response` or a
//! peer message), and `Value`. Any panic aborts
//! (the codec's own `catch_unwind` would otherwise hide it from the fuzzer).
#![no_main]

use std::sync::Once;

use std::pin::Pin;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rpc_core::codec::{ClientFrame, ServerFrame};
use rpc_core::protocol::{ObjectServiceRequest, ObjectServiceResponse};
use rpc_core::{Value, WireCodec, WireLimits};
use tarpc::tokio_serde::Deserializer;

static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort()
        }))
    });
    let limits = WireLimits {
        max_frame_bytes: 1 << 20,
        max_value_depth: 64,
    };
    let codec = WireCodec::new(limits);
    // Through the same trait impls the transports use (the server's goes through the
    // deadline mirror; decoding tarpc's own `ClientMessage` derive directly would not).
    let frame = BytesMut::from(data);
    let mut codec_pin = WireCodec::new(limits);
    let _: Result<ClientFrame<ObjectServiceRequest>, _> =
        Deserializer::deserialize(Pin::new(&mut codec_pin), &frame);
    let _: Result<ServerFrame<ObjectServiceResponse>, _> =
        Deserializer::deserialize(Pin::new(&mut codec_pin), &frame);
    if let Ok(value) = codec.decode::<Value>(data) {
        // Whatever decodes re-encodes and decodes to the same value.
        let again: Value = codec
            .decode(
                &codec
                    .encode(&value)
                    .expect("a decoded value fits the limit it came in"),
            )
            .expect("an encoded value decodes");
        assert!(again == value || format!("{value:?}").contains("NaN"));
    }
});
