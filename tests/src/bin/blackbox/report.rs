//! The results: one row per attack, printed as a table and written as JSON.

use std::fmt::Write as _;

use crate::context::Outcome;
use crate::control::Window;

/// The verdict of one attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing to report.
    Pass,
    /// Worth a look; breaks no documented guarantee.
    Warn,
    /// A guarantee broke: the run exits non-zero.
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// Before, peak and after of one figure.
#[derive(Clone, Copy, Debug, Default)]
pub struct Triple {
    pub before: u64,
    pub peak: u64,
    pub after: u64,
}

impl Triple {
    fn text(&self) -> String {
        format!("{}/{}/{}", self.before, self.peak, self.after)
    }
}

/// Everything measured about one attack.
#[derive(Debug, Default)]
pub struct Row {
    pub name: String,
    pub case: String,
    pub about: String,
    pub rss_kib: Triple,
    /// `RssAnon` and `RssFile` before and after, KiB: growth in `RssFile` is mapped files
    /// (debug info read for a backtrace), growth in `RssAnon` is heap.
    pub anon_kib: (u64, u64),
    pub file_kib: (u64, u64),
    pub fds: Triple,
    pub threads: Triple,
    /// CPU of the server over the attack, % of one core.
    pub cpu_during: f64,
    /// CPU of the server over the settle window after recovery, % of one core.
    pub cpu_after: f64,
    pub attack_ms: u128,
    pub recovery_ms: u128,
    pub control: Window,
    /// Counters and descriptors back to baseline; `None` when not applicable.
    pub back: Option<bool>,
    pub back_detail: String,
    pub log_bytes: u64,
    pub verdict: Option<Verdict>,
    pub reasons: Vec<String>,
    pub outcome: Outcome,
}

impl Row {
    pub fn verdict(&self) -> Verdict {
        self.verdict.unwrap_or(Verdict::Pass)
    }
}

fn yes_no(back: Option<bool>) -> &'static str {
    match back {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "n/a",
    }
}

/// The table, one row per attack, then the details of each.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "attack",
        "RSS KiB before/peak/after",
        "fds b/p/a",
        "threads b/p/a",
        "CPU% during",
        "CPU% after",
        "control ok/fail/max ms",
        "back",
        "log KiB",
        "verdict",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.rss_kib.text(),
                r.fds.text(),
                r.threads.text(),
                format!("{:.0}", r.cpu_during),
                format!("{:.0}", r.cpu_after),
                format!(
                    "{}/{}/{}",
                    r.control.ok,
                    r.control.failed,
                    r.control.max_latency_us / 1000
                ),
                yes_no(r.back).to_owned(),
                format!("{}", r.log_bytes / 1024),
                r.verdict().as_str().to_owned(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let parts: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join(" | ").trim_end());
    };
    line(&mut out, &header.map(str::to_owned));
    let _ = writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// Per attack: what it did, the verdict's reasons, notes, warnings and problems.
pub fn details(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let _ = writeln!(
            out,
            "\n{} (case {}): {} [{}; attack {} ms, recovery {} ms]",
            r.name,
            r.case,
            r.about,
            r.verdict().as_str(),
            r.attack_ms,
            r.recovery_ms
        );
        for reason in &r.reasons {
            let _ = writeln!(out, "  ! {reason}");
        }
        for note in &r.outcome.notes {
            let _ = writeln!(out, "  - {note}");
        }
        for warning in &r.outcome.warnings {
            let _ = writeln!(out, "  ~ {warning}");
        }
        if !r.back_detail.is_empty() {
            let _ = writeln!(out, "  - counters: {}", r.back_detail);
        }
        if r.back.is_some() {
            let _ = writeln!(
                out,
                "  - RSS before -> after: anon {} -> {} KiB, file {} -> {} KiB",
                r.anon_kib.0, r.anon_kib.1, r.file_kib.0, r.file_kib.1
            );
        }
        for error in &r.control.errors {
            let _ = writeln!(out, "  - control client error: {error}");
        }
    }
    out
}

/// With `--repeat`: per attack and round, how much RSS after exceeds RSS before. Memory the
/// allocator keeps costs a round or two and then no more; a leak costs every round.
pub fn drift(rows: &[Row], tolerance_kib: u64) -> String {
    let mut out = String::from("\nRSS after minus RSS before, per attack and round (KiB):\n");
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        let base = r.name.split('#').next().unwrap_or(&r.name);
        if r.name.contains('#') && !names.contains(&base) {
            names.push(base);
        }
    }
    for name in names {
        let growth: Vec<i64> = rows
            .iter()
            .filter(|r| r.name.split('#').next() == Some(name))
            .map(|r| r.rss_kib.after as i64 - r.rss_kib.before as i64)
            .collect();
        let Some(last) = growth.last() else {
            continue;
        };
        let verdict = if *last > tolerance_kib as i64 {
            "still growing in the last round: leak suspected"
        } else {
            "within the tolerance in the last round"
        };
        let list: Vec<String> = growth.iter().map(|g| format!("{g:+}")).collect();
        let _ = writeln!(out, "  {name:<18} {} ({verdict})", list.join(", "));
    }
    out
}

/// `text` as a JSON string.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| string(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn triple(t: &Triple) -> String {
    format!(
        "{{\"before\": {}, \"peak\": {}, \"after\": {}}}",
        t.before, t.peak, t.after
    )
}

/// The run as JSON: `header` (pairs of name and already-encoded JSON value) and the rows.
pub fn json(header: &[(&str, String)], rows: &[Row]) -> String {
    let mut out = String::from("{\n");
    for (name, value) in header {
        let _ = writeln!(out, "  {}: {value},", string(name));
    }
    out.push_str("  \"attacks\": [\n");
    let encoded: Vec<String> = rows
        .iter()
        .map(|r| {
            let back = match r.back {
                Some(b) => b.to_string(),
                None => "null".into(),
            };
            format!(
                "    {{\"name\": {}, \"case\": {}, \"about\": {}, \"verdict\": {}, \"reasons\": {}, \
                 \"rss_kib\": {}, \"rss_anon_kib\": [{}, {}], \"rss_file_kib\": [{}, {}], \"fds\": {}, \"threads\": {}, \"cpu_during_pct\": {:.1}, \
                 \"cpu_after_pct\": {:.1}, \"attack_ms\": {}, \"recovery_ms\": {}, \
                 \"control\": {{\"ok\": {}, \"failed\": {}, \"max_latency_ms\": {:.1}, \"errors\": {}}}, \
                 \"back_to_baseline\": {back}, \"counters\": {}, \"log_bytes\": {}, \
                 \"notes\": {}, \"warnings\": {}, \"problems\": {}}}",
                string(&r.name),
                string(&r.case),
                string(&r.about),
                string(r.verdict().as_str()),
                strings(&r.reasons),
                triple(&r.rss_kib),
                r.anon_kib.0,
                r.anon_kib.1,
                r.file_kib.0,
                r.file_kib.1,
                triple(&r.fds),
                triple(&r.threads),
                r.cpu_during,
                r.cpu_after,
                r.attack_ms,
                r.recovery_ms,
                r.control.ok,
                r.control.failed,
                r.control.max_latency_us as f64 / 1000.0,
                strings(&r.control.errors),
                string(&r.back_detail),
                r.log_bytes,
                strings(&r.outcome.notes),
                strings(&r.outcome.warnings),
                strings(&r.outcome.problems),
            )
        })
        .collect();
    out.push_str(&encoded.join(",\n"));
    out.push_str("\n  ]\n}\n");
    out
}

/// A JSON string value, for the header.
pub fn json_string(text: &str) -> String {
    string(text)
}
