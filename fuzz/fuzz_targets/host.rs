//! The ops on hosted objects, driven in memory: no socket, no server, no clock of the
//! object model's own. The input is decoded (leniently) into requests with arbitrary
//! releases, handles, names and values, which a `Host` runs one after the other against a
//! table holding a demo `Counter`, a `Dict` and a `List`, as either end of a connection
//! would. Every op must answer (a reply or an error, never a panic), and when the table is
//! cleared (the connection ends) every object the requests made or kept must be dropped.
//!
//! Much faster than the `session` target, which needs a live server: the whole input runs on
//! one current-thread runtime.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bincode::Options;
use libfuzzer_sys::fuzz_target;
use rpc_core::{Request, WireLimits};
use rpc_examples::Counter;
use rpc_peer::{CallContext, Dict, HandleTable, Host, HostConfig, List, Remote};

fuzz_target!(|data: &[u8]| {
    let mut requests = Vec::new();
    let mut rest = data;
    let options = bincode::DefaultOptions::new().with_limit(1 << 16);
    while !rest.is_empty() && requests.len() < 32 {
        let mut reader = rest;
        match options.deserialize_from::<_, Request>(&mut reader) {
            Ok(request) => {
                rest = reader;
                requests.push(request);
            }
            Err(_) => rest = &rest[1..],
        }
    }
    // Paused time: a method that sleeps (the demo's `slow_value`) costs no wall time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async {
        let handles = Arc::new(AtomicU64::new(0));
        let table = Arc::new(HandleTable::new(1_024, Arc::clone(&handles)));
        let drops = Arc::new(AtomicUsize::new(0));
        let counter = Remote::new(Counter::with_drop_counter(0, Arc::clone(&drops)));
        for object in [
            counter.into_object(),
            Remote::new(Dict::new()).into_object(),
            Remote::new(List::new()).into_object(),
        ] {
            table
                .insert(object)
                .expect("an empty table takes three objects");
        }
        let host = Host::new(
            CallContext::new(1, Arc::clone(&table), true),
            HostConfig {
                session: 1,
                peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
                stack_text: true,
                max_error_text: 4_096,
                limits: WireLimits::default(),
                panics: Arc::new(AtomicU64::new(0)),
            },
        );
        for mut request in requests {
            let _ = host.apply_releases(std::mem::take(&mut request.releases));
            // Ops a session answers itself (hello, open, stats, ...) are refused by the host.
            let _ = host.run(&mut request.op, 0).await;
        }
        table.clear();
        assert_eq!(
            handles.load(Ordering::Relaxed),
            0,
            "the table counts no handle"
        );
        // The root counter, and any child counter the requests made, is dropped with the
        // table: children live inside their parent.
        assert!(
            drops.load(Ordering::Relaxed) >= 1,
            "the demo counter was dropped"
        );
    });
});
