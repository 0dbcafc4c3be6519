//! Starting the two servers: in a child process (the bench binary re-executed with the hidden
//! `--serve ours|tarpc`), or in this process on a runtime of their own.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rpc_server::{BuildError, Dict, Remote, Server, ServerConfig};
use tokio::net::TcpListener;

use crate::bare::serve_bare;
use crate::bench_obj::{Bench, Hub};
use crate::{Flavor, System};

/// Connections our benchmark server admits, in all and per IP (the defaults, 1,024 and 64,
/// would refuse the 1,000- and 10,000-session runs, which all come from 127.0.0.1).
pub const OUR_MAX_CONNECTIONS: usize = 20_000;
/// Handles one session may hold (the default, 65,536, is below the 100,000 live handles
/// measured).
pub const OUR_MAX_HANDLES_PER_SESSION: usize = 1 << 20;

/// Our server: per-session roots `bench` ([`Bench`]) and `dict` (the built-in [`Dict`]), the
/// shared root `hub` ([`Hub`]), default config except the connection caps and the handle quota
/// above.
pub fn our_server() -> Result<Server, BuildError> {
    let mut config = ServerConfig::default();
    config.max_connections = OUR_MAX_CONNECTIONS;
    config.max_connections_per_ip = OUR_MAX_CONNECTIONS;
    config.max_handles_per_session = OUR_MAX_HANDLES_PER_SESSION;
    Server::builder()
        .root::<Bench>("bench")
        .root::<Dict>("dict")
        .shared("hub", Remote::new(Hub::default()))
        .config(config)
        .build()
}

/// Serves `system` on `listener` until the task is dropped.
pub async fn serve(system: System, listener: TcpListener) -> io::Result<()> {
    match system {
        System::Ours => {
            let server = our_server().map_err(io::Error::other)?;
            server.serve(listener).await
        }
        System::Tarpc => serve_bare(listener).await,
    }
}

/// A tokio runtime of the given flavour.
pub fn runtime(flavor: Flavor) -> io::Result<tokio::runtime::Runtime> {
    match flavor {
        Flavor::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Flavor::Multi => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

/// The hidden `--serve` mode: binds 127.0.0.1:0, prints `listening on ADDR`, serves until
/// standard input closes.
pub fn run_server_process(system: System, flavor: Flavor) -> io::Result<()> {
    let rt = runtime(flavor)?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
        drop(out);
        std::thread::spawn(|| {
            // Any read error counts as closed: the parent is gone either way.
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            std::process::exit(0);
        });
        serve(system, listener).await
    })
}

/// A running server of one system: its address and the process whose memory it uses.
pub struct ServerHandle {
    /// Which system it serves.
    pub system: System,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process whose RSS is the server's: the child, or this process when in-process.
    pub pid: u32,
    /// Whether the server shares this process with the client.
    pub in_process: bool,
    child: Option<Child>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("system", &self.system)
            .field("addr", &self.addr)
            .field("pid", &self.pid)
            .field("in_process", &self.in_process)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Starts `system`'s server: a child process, or (`in_process`) a runtime of its own in
    /// this process.
    pub fn start(system: System, flavor: Flavor, in_process: bool) -> io::Result<ServerHandle> {
        if in_process {
            let rt = runtime(flavor)?;
            // Bound here with std (this may run inside the client's runtime, where blocking on
            // another runtime is not allowed), handed to tokio on the server's runtime.
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            // A thread of its own drives the runtime (a current-thread runtime only runs
            // while something blocks on it) until the handle is dropped.
            std::thread::spawn(move || {
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            eprintln!("{system} server: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        result = serve(system, listener) => {
                            if let Err(e) = result {
                                eprintln!("{system} server failed: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                rt.shutdown_background();
            });
            return Ok(ServerHandle {
                system,
                addr,
                pid: std::process::id(),
                in_process: true,
                child: None,
                stop: Some(stop),
            });
        }
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["--serve", system.arg(), "--server-runtime", flavor.arg()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("child stdout was not captured"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            // Keep draining so the child never blocks on a full pipe.
            let _ = reader.read_to_end(&mut Vec::new());
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{system} server did not report its address within 20 s"),
                ));
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line: {line:?}")));
        let addr = match addr {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(ServerHandle {
            system,
            addr,
            pid,
            in_process: false,
            child: Some(child),
            stop: None,
        })
    }

    /// The server's resident memory in KiB (this whole process when in-process).
    pub fn rss_kib(&self) -> Option<u64> {
        crate::sys::rss_kib(self.pid)
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing stdin is the stop signal.
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => return,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return;
                    }
                }
            }
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
