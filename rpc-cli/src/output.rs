//! How results and errors are written: the Python-like repr or JSON for results, a table for
//! DIR, and error text with an optional red header.

use std::io::{self, IsTerminal, Write};

use rpc_client::{Member, Returned};

use crate::json;

/// Text for a GET, call or ALL result: its repr (`[(1, 2)]`, `<remote Counter #3>`), or with
/// `json` one line of JSON (see [`crate::json`]).
pub fn returned(result: &Returned, json: bool) -> String {
    if json {
        json::returned_to_json(result).to_string()
    } else {
        result.to_string()
    }
}

/// Text for DIR entries: one line per member, `KIND  SIGNATURE  DOC` with the doc's first
/// line, columns aligned (signatures past 60 characters push their doc out); with `json`, one
/// line of JSON.
pub fn members(members: &[Member], json: bool) -> String {
    if json {
        return json::members_to_json(members).to_string();
    }
    let width = members
        .iter()
        .map(|m| m.signature().chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut out = String::new();
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let doc = m.doc.lines().next().unwrap_or("").trim();
        let signature = m.signature();
        let line = format!("{:<6}  {signature:<width$}  {doc}", json::kind_name(m.kind));
        out.push_str(line.trim_end());
    }
    out
}

/// Whether to colour text written to `stream`: it is a terminal, `NO_COLOR` is unset or empty
/// (<https://no-color.org>) and `TERM` is not `dumb`.
pub fn color_enabled(stream: &impl IsTerminal) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    stream.is_terminal() && !no_color && !dumb
}

const RED_BOLD: &str = "\x1b[1;31m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// An error report prefixed `error: `; with `color`, its first line in bold red and the
/// `--- remote stack ... ---` frame lines in red.
pub fn error(text: &str, color: bool) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = if i == 0 {
            format!("error: {line}")
        } else {
            line.to_owned()
        };
        let frame = line.starts_with("--- remote stack") || line.starts_with("--- end of remote");
        match (color, i == 0, frame) {
            (true, true, _) => out.push_str(&format!("{RED_BOLD}{line}{RESET}")),
            (true, false, true) => out.push_str(&format!("{RED}{line}{RESET}")),
            _ => out.push_str(&line),
        }
    }
    if text.is_empty() {
        out.push_str("error");
    }
    out
}

/// Writes `text` and a newline to stdout, ignoring a closed pipe (`rpc ... | head`) instead
/// of panicking as `println!` would.
pub fn print(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

/// Writes `text` and a newline to stderr, ignoring failures.
pub fn eprint(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc_client::{MemberKind, Param};

    #[test]
    fn members_align_and_keep_the_first_doc_line() {
        let member = |name: &str, kind, params: Vec<Param>, ty: &str, doc: &str| Member {
            name: name.into(),
            kind,
            ty: ty.into(),
            params,
            read_only: false,
            doc: doc.into(),
        };
        let n = Param {
            name: "n".into(),
            ty: "i64".into(),
        };
        let list = vec![
            member(
                "value",
                MemberKind::Field,
                vec![],
                "i64",
                "The current value.",
            ),
            member(
                "add",
                MemberKind::Method,
                vec![n],
                "i64",
                "Adds `n`.\n\nMore text.",
            ),
            Member {
                read_only: true,
                ..member("child", MemberKind::Object, vec![], "Remote<Counter>", "")
            },
        ];
        assert_eq!(
            members(&list, false),
            "field   value: i64                          The current value.\n\
             method  add(n: i64) -> i64                  Adds `n`.\n\
             object  child: Remote<Counter> (read-only)"
        );
    }

    #[test]
    fn errors_get_a_prefix_and_optional_colour() {
        let text = "RUN X.y failed\n--- remote stack (server a, session 1, X.y) ---\nframe\n\
                    --- end of remote stack ---";
        assert_eq!(
            error(text, false),
            format!("error: {text}"),
            "no colour: only the prefix"
        );
        let coloured = error(text, true);
        assert!(coloured.starts_with("\x1b[1;31merror: RUN X.y failed\x1b[0m\n"));
        assert!(coloured.contains("\x1b[31m--- remote stack"));
        assert!(coloured.contains("\nframe\n"));
    }
}
