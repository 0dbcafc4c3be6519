//! Descriptor exhaustion (catalogue case 3): with the process out of file descriptors, the
//! accept loop backs off instead of spinning, and service resumes within 2 s of descriptors
//! freeing.
//!
//! This test lowers its own process's descriptor limit, so it lives alone in its own test
//! binary (each file under `tests/tests` is one).

use std::time::{Duration, Instant};

use rpc_tests::{RawClient, start_default};

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// This process's `/proc/self/stat`, opened before the descriptors run out.
struct CpuClock(std::fs::File);

impl CpuClock {
    fn open() -> Self {
        CpuClock(std::fs::File::open("/proc/self/stat").expect("/proc/self/stat"))
    }

    /// User plus system CPU time of this process, in clock ticks.
    fn ticks(&mut self) -> u64 {
        use std::io::{Read, Seek};
        let mut stat = String::new();
        self.0.rewind().expect("rewind");
        self.0.read_to_string(&mut stat).expect("read stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
    }
}

fn set_descriptor_limit(soft: u64) {
    let (_, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
    rlimit::Resource::NOFILE
        .set(soft.min(hard), hard)
        .expect("setrlimit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_backs_off_on_emfile_and_recovers() {
    let server = start_default().await;
    let addr = server.local_addr();
    let mut cpu = CpuClock::open();
    set_descriptor_limit(open_descriptors() + 24);

    // Fill the descriptor table: client sockets and the server's accepted ones share it.
    let mut sockets = Vec::new();
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
        {
            Ok(Ok(s)) => sockets.push(s),
            _ => break,
        }
    }
    assert!(!sockets.is_empty());

    // With connections waiting in the backlog and no descriptor to accept them with, the
    // accept loop must sleep, not spin: measure this process's CPU over one second.
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let (t0, c0) = (Instant::now(), cpu.ticks());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = (cpu.ticks() - c0) as f64 / ticks_per_second / t0.elapsed().as_secs_f64();
    assert!(
        used < 0.5,
        "accept loop spinning: {:.0} % of a core",
        used * 100.0
    );

    // Free the descriptors; service resumes within 2 s.
    drop(sockets);
    let resumed = Instant::now();
    loop {
        if let Ok(Ok(mut raw)) =
            tokio::time::timeout(Duration::from_millis(500), RawClient::connect(addr)).await
        {
            if tokio::time::timeout(Duration::from_millis(500), raw.hello())
                .await
                .is_ok_and(|r| r.is_ok())
            {
                break;
            }
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(2),
            "service did not resume in 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
