//! The results table (plain text, aligned) and its JSON form.

use serde_json::{Value as Json, json};

/// Which direction of the ours/tarpc ratio is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Times, bytes: below 1 is better for ours.
    Lower,
    /// Rates: above 1 is better for ours.
    Higher,
    /// No comparison.
    None,
}

/// How to print a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    /// Rounded, with thousands separators.
    Int,
    /// With this many decimals.
    Dec(usize),
}

/// One cell: a number or a text.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A number, printed with the row's format.
    Num(f64),
    /// A text (counts like `9,998 / 10,000`).
    Text(String),
    /// Nothing to compare (printed `-`).
    Missing,
}

/// One row: a measure, both systems, and the ratio.
#[derive(Clone, Debug)]
pub struct Row {
    /// What is measured, with its unit.
    pub measure: String,
    /// Ours.
    pub ours: Cell,
    /// Bare tarpc.
    pub tarpc: Cell,
    /// Direction of the ratio.
    pub better: Better,
    /// Number format.
    pub fmt: Fmt,
}

impl Row {
    /// A numeric row.
    pub fn num(
        measure: impl Into<String>,
        ours: Option<f64>,
        tarpc: Option<f64>,
        better: Better,
        fmt: Fmt,
    ) -> Row {
        let cell = |v: Option<f64>| v.map_or(Cell::Missing, Cell::Num);
        Row {
            measure: measure.into(),
            ours: cell(ours),
            tarpc: cell(tarpc),
            better,
            fmt,
        }
    }

    /// A row of texts, with no ratio.
    pub fn text(measure: impl Into<String>, ours: Option<String>, tarpc: Option<String>) -> Row {
        let cell = |v: Option<String>| v.map_or(Cell::Missing, Cell::Text);
        Row {
            measure: measure.into(),
            ours: cell(ours),
            tarpc: cell(tarpc),
            better: Better::None,
            fmt: Fmt::Int,
        }
    }

    /// ours / tarpc, when both are numbers and a direction is set.
    pub fn ratio(&self) -> Option<f64> {
        match (&self.ours, &self.tarpc, self.better) {
            (_, _, Better::None) => None,
            (Cell::Num(o), Cell::Num(t), _) if *t != 0.0 => Some(o / t),
            _ => None,
        }
    }

    fn cell_text(&self, cell: &Cell) -> String {
        match cell {
            Cell::Num(v) => format_num(*v, self.fmt),
            Cell::Text(t) => t.clone(),
            Cell::Missing => "-".to_owned(),
        }
    }

    fn ratio_text(&self) -> String {
        match (self.ratio(), self.better) {
            (Some(r), Better::Lower) => format!("{r:.2} (<1 better)"),
            (Some(r), Better::Higher) => format!("{r:.2} (>1 better)"),
            _ => "-".to_owned(),
        }
    }

    /// The row as JSON.
    pub fn to_json(&self) -> Json {
        let cell = |c: &Cell| match c {
            Cell::Num(v) => json!(v),
            Cell::Text(t) => json!(t),
            Cell::Missing => Json::Null,
        };
        json!({
            "measure": self.measure,
            "ours": cell(&self.ours),
            "tarpc": cell(&self.tarpc),
            "ratio_ours_over_tarpc": self.ratio(),
            "better": match self.better {
                Better::Lower => "lower",
                Better::Higher => "higher",
                Better::None => "none",
            },
        })
    }
}

/// `1234567.8` as `1,234,568` (Int) or `1234567.80` (Dec(2)).
pub fn format_num(v: f64, fmt: Fmt) -> String {
    match fmt {
        Fmt::Dec(n) => format!("{v:.n$}"),
        Fmt::Int => thousands(v.round() as i64),
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The table, one line per row, columns aligned (measure left, numbers right).
pub fn table(rows: &[Row]) -> String {
    let header = ["measure", "ours", "bare tarpc", "ratio ours/tarpc"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.measure.clone(),
                r.cell_text(&r.ours),
                r.cell_text(&r.tarpc),
                r.ratio_text(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |c: [&str; 4]| {
        format!(
            "{:<w0$} | {:>w1$} | {:>w2$} | {:<w3$}",
            c[0],
            c[1],
            c[2],
            c[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3]
        )
        .trim_end()
        .to_owned()
    };
    let mut out = line(header);
    out.push('\n');
    out.push_str(
        &width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-"),
    );
    out.push('\n');
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ratios_print() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(-1_000), "-1,000");
        let r = Row::num("x", Some(2.0), Some(4.0), Better::Higher, Fmt::Dec(1));
        assert_eq!(r.ratio(), Some(0.5));
        assert_eq!(r.ratio_text(), "0.50 (>1 better)");
        let t = table(&[r, Row::num("y", Some(1.0), None, Better::Lower, Fmt::Int)]);
        assert!(t.contains("| 0.50 (>1 better)"), "{t}");
        assert!(t.lines().nth(3).is_some_and(|l| l.contains(" - ")), "{t}");
    }
}
