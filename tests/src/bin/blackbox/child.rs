//! The server under test: the `server` example run as a child process on `127.0.0.1:0`, its
//! address read from its first line of output, its log sent to a file, killed when dropped.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long the server may take to print its address.
const STARTUP: Duration = Duration::from_secs(15);

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Where its stderr (the log) goes.
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `bin --listen 127.0.0.1:0 --log LEVEL EXTRA...` and waits for its
    /// `listening on IP:PORT` line.
    pub fn spawn(bin: &Path, log_level: u8, extra: &[String], log_path: &Path) -> io::Result<Self> {
        // Appended to: a restarted server's log follows its predecessor's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--log", &log_level.to_string()])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start {}: {e}", bin.display()))
            })?;
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(io::Error::other("no stdout pipe"));
        };
        // Read stdout on a thread of its own: the first line is the address, the rest is
        // drained so the server never blocks on a full pipe.
        let (tx, rx) = mpsc::channel::<String>();
        let _ = thread::Builder::new()
            .name("blackbox-server-stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let mut first = true;
                while let Some(Ok(line)) = lines.next() {
                    if first {
                        first = false;
                        let _ = tx.send(line);
                    }
                }
            });
        let line = match rx.recv_timeout(STARTUP) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "{} printed no address within {STARTUP:?}; its stderr:\n{log}",
                    bin.display()
                )));
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse::<SocketAddr>().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "unexpected first line from the server: {line:?}"
            )));
        };
        Ok(ServerProcess {
            child,
            pid,
            addr,
            log_path: log_path.to_owned(),
        })
    }

    /// `None` while running, else how it ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Bytes written to the log so far.
    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log_path).map_or(0, |m| m.len())
    }

    /// Sends SIGINT (the server's graceful shutdown) through `kill(1)`.
    pub fn interrupt(&self) -> io::Result<()> {
        let status = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -INT exited with {status}")))
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
