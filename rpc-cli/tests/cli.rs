//! End to end: the built `rpc` binary, run as a subprocess, against the demo server (roots
//! `counter`, `dict`, `list`) running in this test process on 127.0.0.1. Every run of the
//! binary is bounded in time and killed past its deadline.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rpc_examples::demo_server;
use rpc_server::{Allowlist, ServerConfig};

/// How long one run of the binary may take.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The demo server on a free loopback port, on its own runtime in a background thread; stopped
/// when dropped.
struct TestServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start() -> TestServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the test server");
            runtime.block_on(async move {
                let server = demo_server(Allowlist::loopback(), ServerConfig::default())
                    .expect("the demo server builds");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a free loopback port");
                let running = server.spawn(listener).expect("the server starts");
                addr_tx
                    .send(running.local_addr())
                    .expect("the test waits for the address");
                let _ = stopped.await;
                let _ = tokio::time::timeout(Duration::from_secs(10), running.shutdown()).await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server reports its address");
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a run of the binary gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs `rpc ARGS`, feeding `stdin` (or nothing) on its standard input, within
/// [`RUN_DEADLINE`].
fn rpc(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rpc"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rpc binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let text = stdin.unwrap_or("").to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
        // Dropping `input` closes the pipe: end of input.
    });
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for rpc") {
            break status;
        }
        if started.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rpc {args:?} did not finish within {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `rpc ARGS`, requires exit status 0 and an empty stderr, and returns stdout.
fn ok(args: &[&str]) -> String {
    let run = rpc(args, None);
    assert_eq!(run.code, 0, "rpc {args:?} failed: {run:?}");
    assert_eq!(run.stderr, "", "rpc {args:?}");
    run.stdout
}

#[test]
fn dir_lists_kind_signature_and_doc() {
    let server = TestServer::start();
    let out = ok(&["dir", &server.addr(), "counter"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("field   value: i64") && l.ends_with("The current value.")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("method  add(n: i64) -> i64")
                && l.ends_with("Adds `n` and returns the new value.")),
        "{out}"
    );
    assert!(!out.contains("children"), "private fields are not listed");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["dir", &server.addr(), "counter", "--json"])).expect("JSON");
    let add = json
        .as_array()
        .expect("an array")
        .iter()
        .find(|m| m["name"] == "add")
        .expect("add is listed");
    assert_eq!(add["kind"], "method");
    assert_eq!(add["signature"], "add(n: i64) -> i64");
}

#[test]
fn get_set_del_and_all() {
    let server = TestServer::start();
    let addr = server.addr();
    assert_eq!(
        ok(&["get", &addr, "counter", "value", "--open", "[40]"]),
        "40\n"
    );
    assert_eq!(ok(&["get", &addr, "counter", "note"]), "None\n");
    assert_eq!(ok(&["--json", "get", &addr, "counter", "note"]), "null\n");
    // A GET of a method is a callable remote object.
    assert!(
        ok(&["get", &addr, "counter", "add"]).starts_with("<remote "),
        "a handle"
    );
    assert_eq!(ok(&["set", &addr, "counter", "value", "3"]), "");
    assert_eq!(ok(&["set", &addr, "counter", "value", "-3"]), "");
    assert_eq!(ok(&["set", &addr, "counter", "note", "\"hi\""]), "");
    assert_eq!(ok(&["del", &addr, "counter", "note"]), "");
    assert_eq!(
        ok(&["all", &addr, "counter", "--open", "[7]"]),
        "{'value': 7, 'note': None, 'changes': 0}\n"
    );
    assert_eq!(
        ok(&[
            "all",
            &addr,
            "counter",
            "--open",
            "{\"start\": 7}",
            "--json"
        ]),
        "{\"value\":7,\"note\":null,\"changes\":0}\n"
    );

    let wrong = rpc(&["set", &addr, "counter", "value", "\"x\""], None);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("wrong type"), "{wrong:?}");
    let readonly = rpc(&["del", &addr, "counter", "value"], None);
    assert_eq!(readonly.code, 1, "{readonly:?}");
    assert!(
        readonly.stderr.starts_with("error: DEL Counter.value"),
        "{readonly:?}"
    );
    assert_eq!(readonly.stdout, "");
}

#[test]
fn a_stream_prints_one_item_per_line() {
    let server = TestServer::start();
    let addr = server.addr();
    assert_eq!(
        ok(&["call", &addr, "counter", "countdown", "--open", "[3]"]),
        "3\n2\n1\n0\n"
    );
    assert_eq!(
        ok(&[
            "call",
            &addr,
            "counter",
            "countdown",
            "--open",
            "[1]",
            "--json"
        ]),
        "1\n0\n"
    );
}

#[test]
fn call_with_positional_named_and_open_arguments() {
    let server = TestServer::start();
    let addr = server.addr();
    assert_eq!(
        ok(&["call", &addr, "counter", "add", "5", "--open", "[40]"]),
        "45\n"
    );
    assert_eq!(ok(&["call", &addr, "counter", "add", "-2"]), "-2\n");
    assert_eq!(
        ok(&[
            "call", &addr, "counter", "add_many", "1", "--arg", "times=3"
        ]),
        "3\n"
    );
    assert_eq!(
        ok(&["call", &addr, "counter", "add_parsed", "\"12\""]),
        "12\n"
    );
    assert_eq!(
        ok(&["call", &addr, "counter", "summary"]),
        "[('value', 0), ('changes', 0)]\n"
    );
    assert_eq!(
        ok(&["call", &addr, "counter", "summary", "--json"]),
        "[[\"value\",0],[\"changes\",0]]\n"
    );
    assert_eq!(
        ok(&["call", &addr, "counter", "child", "\"a\""]),
        "<remote Counter #2>\n"
    );
    assert_eq!(
        ok(&["--json", "call", &addr, "counter", "child", "\"a\""]),
        "{\"$handle\":2,\"$type\":\"Counter\"}\n"
    );
    assert_eq!(
        ok(&[
            "call",
            &addr,
            "dict",
            "items",
            "--open",
            "[{\"a\": [1, 2.5]}]"
        ]),
        "[('a', [1, 2.5])]\n"
    );
    assert_eq!(
        ok(&[
            "--json",
            "call",
            &addr,
            "dict",
            "items",
            "--open",
            "[[[1, 2]]]"
        ]),
        "[[1,2]]\n"
    );
}

#[test]
fn a_remote_error_exits_1_with_the_server_stack_on_stderr() {
    let server = TestServer::start();
    let run = rpc(
        &["call", &server.addr(), "counter", "checked_div", "0"],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error: RUN Counter.checked_div failed on the server: raised"),
        "{run:?}"
    );
    assert!(run.stderr.contains("cannot divide 0 by zero"), "{run:?}");
    assert!(run.stderr.contains("--- remote stack (server "), "{run:?}");
    assert!(
        run.stderr.contains("--- end of remote stack ---"),
        "{run:?}"
    );
    assert!(!run.stderr.contains('\x1b'), "NO_COLOR: no escapes");

    let panic = rpc(&["call", &server.addr(), "counter", "explode"], None);
    assert_eq!(panic.code, 1, "{panic:?}");
    assert!(
        panic.stderr.contains("counter exploded at value 0"),
        "{panic:?}"
    );

    let root = rpc(&["dir", &server.addr(), "nothing"], None);
    assert_eq!(root.code, 1, "{root:?}");
    assert!(root.stderr.contains("no such root"), "{root:?}");
}

#[test]
fn unreachable_servers_and_usage_errors_exit_2() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let run = rpc(&["get", &addr, "counter", "value"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: cannot connect to the server"),
        "{run:?}"
    );
    let bad = rpc(&["call", &addr, "counter", "add", "five"], None);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("a string must be quoted"), "{bad:?}");
    let missing = rpc(&["get", &addr, "counter"], None);
    assert_eq!(missing.code, 2, "{missing:?}");
}

#[test]
fn the_help_says_one_shot_commands_use_their_own_session() {
    let help = ok(&["--help"]);
    assert!(help.contains("opens its own"), "{help}");
    assert!(help.contains("rpc shell"), "{help}");
    let set_help = ok(&["set", "--help"]);
    assert!(set_help.contains("opens its own session"), "{set_help}");
}

#[test]
fn shell_on_counter_from_piped_stdin() {
    let server = TestServer::start();
    let addr = server.addr();
    let dir = ok(&["dir", &addr, "counter"]);
    let script = "add(5)\nvalue\nvalue = 3\nvalue\ndel note\ndir\nall\nchild(\"a\").add(1)\n";
    let run = rpc(&["shell", &addr, "counter"], Some(script));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let expected = format!("5\n5\n3\n{dir}{{'value': 3, 'note': None, 'changes': 1}}\n1\n");
    assert_eq!(run.stdout, expected);
}

#[test]
fn shell_prints_a_streams_items_and_goes_on() {
    let server = TestServer::start();
    let run = rpc(
        &["shell", &server.addr(), "counter", "--open", "[3]"],
        Some("countdown()\nadd(1)\ncountdown()\n"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "3\n2\n1\n0\n4\n4\n3\n2\n1\n0\n");
}

#[test]
fn shell_on_dict_maps_items_to_set_item_and_get_item() {
    let server = TestServer::start();
    let run = rpc(
        &["shell", &server.addr(), "dict"],
        Some(
            "dict[1] = 2\ndict[1]\nitems()\nself[(1, 'a')] = [None, True]\nlen()\ndel dict[1]\nkeys()\n",
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "2\n[(1, 2)]\n2\n[(1, 'a')]\n");
}

#[test]
fn shell_continues_after_errors_and_exits_1() {
    let server = TestServer::start();
    let run = rpc(
        &["shell", &server.addr(), "counter", "--open", "[10]"],
        Some("checked_div(0)\nadd(\nvalue\nsummary().x\nnope\nadd(2)\n"),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "10\n12\n");
    assert!(run.stderr.contains("--- remote stack"), "{run:?}");
    assert!(run.stderr.contains("cannot divide 10 by zero"), "{run:?}");
    assert!(run.stderr.contains("syntax error: expected"), "{run:?}");
    assert!(
        run.stderr
            .contains("gave a value of kind list, not a remote object"),
        "{run:?}"
    );
    assert!(run.stderr.contains("no such member"), "{run:?}");
}

#[test]
fn shell_passes_objects_keeps_one_session_and_stops_at_exit() {
    let server = TestServer::start();
    let run = rpc(
        &["shell", &server.addr(), "counter"],
        Some(
            "child('a').add(4)\nabsorb(child('a'))\ncounter.value\nadd_many(1, times=3)\n\
             child('a').value = 9\nall child('a')\nnote = 'hi'\nnote\n# a comment\n\nexit\nadd(1)\n",
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "4\n4\n4\n7\n{'value': 9, 'note': None, 'changes': 1}\n'hi'\n"
    );
}

#[test]
fn shell_prints_json_with_the_json_flag() {
    let server = TestServer::start();
    let run = rpc(
        &["--json", "shell", &server.addr(), "counter"],
        Some("summary()\nchild('a')\nall\nNone\n(1, b'\\x01')\n"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "[[\"value\",0],[\"changes\",0]]\n{\"$handle\":2,\"$type\":\"Counter\"}\n\
         {\"value\":0,\"note\":null,\"changes\":0}\nnull\n[1,[1]]\n"
    );
}

#[test]
fn shell_with_an_unreachable_server_exits_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let run = rpc(
        &["shell", &format!("127.0.0.1:{port}"), "counter"],
        Some("value\n"),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot connect"), "{run:?}");
}
