//! `rpc shell`: one session, many statements, read from a line editor or from piped stdin.
//!
//! On a terminal: a prompt with line editing, history (saved to `$XDG_STATE_HOME/rpc/history`
//! when `XDG_STATE_HOME` is set, else `~/.rpc_history`; failures to read or write it are
//! ignored) and tab completion of the root's member names (from DIR) and of the keywords.
//! Ctrl-C abandons the line being typed or the call being waited for; Ctrl-D or `exit` leaves.
//!
//! Not on a terminal (piped or redirected stdin): lines are read without a prompt and only
//! results are written to stdout, errors to stderr; a failed line does not stop the ones after
//! it, and the exit status is 1 when any line failed, else 0. A broken connection ends the
//! shell at once with status 2.

use std::io::{self, BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use rpc_client::{CallError, Proxy, Returned};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};
use tokio::runtime::Runtime;

use crate::args::Target;
use crate::commands::{self, EXIT_CONNECTION, EXIT_OK, EXIT_REMOTE, Failure};
use crate::eval::{self, EvalError, Outcome};
use crate::output;
use crate::parse::{self, Parser, Stmt};

/// The `--help` text of `rpc shell`.
pub const LONG_ABOUT: &str = "\
An interactive shell on one session: the root is opened once and every line acts on the same \
object, so `value = 3` then `value` reads 3 back (unlike the one-shot commands, which each \
open their own session).

The root can be named by the ROOT argument (`counter.add(5)`, `dict[1]`) or by `self`, or \
left out for its members (`add(5)`, `value`). Type `help` inside the shell for the syntax.

On a terminal: line editing, history in $XDG_STATE_HOME/rpc/history or ~/.rpc_history, tab \
completion of member names. With stdin not a terminal (piped), lines are read without a \
prompt, only results are printed (errors go to stderr), every line is run even after a \
failure, and the exit status is 1 if any line failed, 0 otherwise; 2 if the connection broke.";

/// The text `help` prints.
pub const HELP: &str = "\
Statements (ROOT is the root's name as given on the command line; `self` is the same object;
bare names are members of the root):
  add(5)                call a method (RUN), print the result
  add_many(1, times=3)  positional and named arguments
  value                 read a field (GET)
  value = 3             write a field (SET)
  del note              delete a field (DEL: an Option field becomes None)
  child(\"a\").add(1)     call on the object a call returned (it is released afterwards)
  absorb(child(\"a\"))    pass a remote object as an argument
  ROOT[1] = 2           set_item(1, 2) on the root;  ROOT[1]: get_item(1);  del ROOT[1]: del_item(1)
  dir [PATH]            list members (DIR) of the root or of the object PATH gives
  all [PATH]            copy the public data (ALL)
  help, exit            this text; leave (also Ctrl-D)
Values: None True False, null true false, 1 -2 1.5 1e3, 'str' \"str\", b'bytes',
  [list], (tuple,), {map: value}. `dir`, `all`, `del`, `help`, `exit`, `quit` are keywords at
  the start of a line: reach members of those names as self.NAME.";

/// Opens the session and runs the shell until `exit`, end of input or a broken connection.
pub fn run(
    runtime: &Runtime,
    target: &Target,
    json: bool,
    timeout: Option<std::time::Duration>,
) -> ExitCode {
    let color = output::color_enabled(&io::stderr());
    let root = match runtime.block_on(commands::open(target, timeout)) {
        Ok(root) => root,
        Err(failure) => {
            output::eprint(&output::error(&failure.to_string(), color));
            return ExitCode::from(failure.exit_code());
        }
    };
    let mut shell = Shell {
        runtime,
        root,
        parser: Parser::new(target.root.clone()),
        json,
        color,
        interactive: io::stdin().is_terminal(),
        failed: false,
    };
    let end = if shell.interactive {
        shell.interactive_loop(&target.addr, &target.root)
    } else {
        shell.piped_loop()
    };
    match end {
        End::Connection => ExitCode::from(EXIT_CONNECTION),
        End::Done if shell.failed && !shell.interactive => ExitCode::from(EXIT_REMOTE),
        End::Done => ExitCode::from(EXIT_OK),
    }
}

/// How the shell ended.
enum End {
    /// `exit` or end of input.
    Done,
    /// The connection broke.
    Connection,
}

/// What to do after a line.
enum Flow {
    Continue,
    Stop(End),
}

struct Shell<'a> {
    runtime: &'a Runtime,
    root: Proxy,
    parser: Parser,
    json: bool,
    color: bool,
    interactive: bool,
    /// Whether any line failed.
    failed: bool,
}

impl Shell<'_> {
    fn piped_loop(&mut self) -> End {
        for line in io::stdin().lock().lines() {
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    self.fail(&format!("cannot read the input: {e}"));
                    if e.kind() == io::ErrorKind::InvalidData {
                        continue;
                    }
                    break;
                }
            };
            if let Flow::Stop(end) = self.line(&line) {
                return end;
            }
        }
        End::Done
    }

    fn interactive_loop(&mut self, addr: &str, root_name: &str) -> End {
        let members = self
            .runtime
            .block_on(self.root.dir())
            .map(|members| members.into_iter().map(|m| m.name).collect())
            .unwrap_or_default();
        let config = Config::builder()
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .build();
        let mut editor: Editor<Completion, DefaultHistory> = match Editor::with_config(config) {
            Ok(editor) => editor,
            Err(e) => {
                // No usable terminal after all: fall back to plain lines.
                output::eprint(&format!("(line editing unavailable: {e})"));
                self.interactive = false;
                return self.piped_loop();
            }
        };
        editor.set_helper(Some(Completion {
            members,
            root: root_name.to_owned(),
        }));
        let history = history_path();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        output::print(&format!(
            "{addr}: `{root_name}` is {} {}. Type `help` for the syntax, `exit` or Ctrl-D to \
             leave.",
            self.root.type_name(),
            self.root.id(),
        ));
        let prompt = format!("{root_name}> ");
        let end = loop {
            match editor.readline(&prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    if let Flow::Stop(end) = self.line(&line) {
                        break end;
                    }
                }
                Err(ReadlineError::Interrupted) => {}
                Err(ReadlineError::Eof) => break End::Done,
                Err(e) => {
                    self.fail(&format!("cannot read the input: {e}"));
                    break End::Done;
                }
            }
        };
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
        end
    }

    /// Parses and runs one line, printing its result or error.
    fn line(&mut self, line: &str) -> Flow {
        let stmt = match self.parser.parse_line(line) {
            Ok(stmt) => stmt,
            Err(e) => {
                self.fail(&e.render(line));
                return Flow::Continue;
            }
        };
        match stmt {
            Stmt::Exit => return Flow::Stop(End::Done),
            Stmt::Help => {
                output::print(HELP);
                return Flow::Continue;
            }
            _ => {}
        }
        let done = match self.interruptible(eval::run(&self.root, &stmt)) {
            Some(Ok(Outcome::Nothing)) => Some(Ok(())),
            Some(Ok(Outcome::Returned(result))) => self.print_returned(result),
            Some(Ok(Outcome::Members(members))) => {
                output::print(&output::members(&members, self.json));
                Some(Ok(()))
            }
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        match done {
            Some(Ok(())) => {}
            Some(Err(EvalError::Call(CallError::Disconnected))) => {
                self.failed = true;
                let failure = Failure::Call(CallError::Disconnected);
                output::eprint(&output::error(&failure.to_string(), self.color));
                return Flow::Stop(End::Connection);
            }
            Some(Err(e)) => self.fail(&e.to_string()),
            None => self.fail("interrupted"),
        }
        Flow::Continue
    }

    /// Runs `work`; `None` when Ctrl-C interrupted it (on a terminal only: elsewhere Ctrl-C
    /// keeps its default effect of ending the process).
    fn interruptible<F: Future>(&self, work: F) -> Option<F::Output> {
        if !self.interactive {
            return Some(self.runtime.block_on(work));
        }
        self.runtime.block_on(async {
            tokio::select! {
                result = work => Some(result),
                _ = tokio::signal::ctrl_c() => None,
            }
        })
    }

    /// Prints a result: a stream's items one line each as they arrive (Ctrl-C stops reading
    /// on a terminal, which releases the stream), anything else whole; `None` when
    /// interrupted.
    fn print_returned(&self, result: Returned) -> Option<Result<(), EvalError>> {
        let json = self.json;
        self.interruptible(async move {
            if let Some(result) = commands::print_if_stream(result, json).await? {
                output::print(&output::returned(&result, json));
            }
            Ok(())
        })
    }

    fn fail(&mut self, text: &str) {
        self.failed = true;
        output::eprint(&output::error(text, self.color));
    }
}

/// Where history is kept: `$XDG_STATE_HOME/rpc/history`, else `$HOME/.rpc_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from) {
        if state.is_absolute() {
            return Some(state.join("rpc").join("history"));
        }
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".rpc_history"))
}

/// Completion candidates for the word ending at byte `pos` of `line`: the root's `members`,
/// the root's name and `self`, and at the start of a line the keywords; after a `.`, members
/// only. Returns where the word starts and the sorted candidates.
pub fn complete(line: &str, pos: usize, members: &[String], root: &str) -> (usize, Vec<String>) {
    let before = line.get(..pos).unwrap_or(line);
    let start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c == '_' || c.is_ascii_alphanumeric()))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let prefix = &before[start..];
    let head = before[..start].trim_end();
    let after_dot = head.ends_with('.');
    let mut words: Vec<String> = members.to_vec();
    if !after_dot {
        words.push(root.to_owned());
        words.push("self".to_owned());
        if head.is_empty() {
            words.extend(parse::keywords().iter().map(|k| (*k).to_owned()));
        }
    }
    words.retain(|w| w.starts_with(prefix));
    words.sort();
    words.dedup();
    (start, words)
}

/// The line editor's helper: completes member names and keywords.
struct Completion {
    members: Vec<String>,
    root: String,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete(line, pos, &self.members, &self.root))
    }
}

impl Hinter for Completion {
    type Hint = String;
}

impl Highlighter for Completion {}

impl Validator for Completion {}

impl Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<String> {
        ["add", "add_many", "value", "note"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn completes_members_keywords_and_the_root() {
        assert_eq!(
            complete("ad", 2, &members(), "counter"),
            (0, vec!["add".to_owned(), "add_many".to_owned()])
        );
        assert_eq!(
            complete("d", 1, &members(), "counter"),
            (0, vec!["del".to_owned(), "dir".to_owned()])
        );
        assert_eq!(
            complete("co", 2, &members(), "counter"),
            (0, vec!["counter".to_owned()])
        );
        // After a dot: members only.
        assert_eq!(
            complete("counter.n", 9, &members(), "counter"),
            (8, vec!["note".to_owned()])
        );
        // Inside arguments: no keywords.
        assert_eq!(
            complete("add(d", 5, &members(), "counter"),
            (4, Vec::<String>::new())
        );
        assert_eq!(
            complete("é v", 4, &members(), "c"),
            (3, vec!["value".to_owned()])
        );
    }

    #[test]
    fn history_prefers_the_xdg_state_dir() {
        // Reads the environment only; the test does not change it.
        if let Some(path) = history_path() {
            assert!(path.ends_with(".rpc_history") || path.ends_with("rpc/history"));
        }
    }
}
