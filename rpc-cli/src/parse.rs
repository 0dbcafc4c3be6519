//! The shell's expression language: a hand-written tokenizer and recursive-descent parser.
//! Nothing is evaluated here; [`crate::eval`] runs the parsed [`Stmt`] against the server.
//!
//! # Grammar
//!
//! ```text
//! line    = "" | "#" comment
//!         | "help" | "exit" | "quit"
//!         | ("dir" | "all") [ path | "(" [path] ")" ]
//!         | "del" place
//!         | place "=" expr
//!         | expr
//! expr    = literal | path
//! path    = start { "." NAME | "(" args ")" | "[" expr "]" }
//! start   = ROOT | "self" | NAME          (a bare NAME is a member of the root)
//! place   = a path ending in "." NAME, a bare NAME, or "[" expr "]"
//! args    = [ arg { "," arg } [","] ]      (named ones after the positional ones)
//! arg     = NAME "=" expr | expr
//! literal = None | True | False | null | true | false
//!         | INT | FLOAT | 'str' | "str" | b'bytes'
//!         | "[" literals "]" | "(" ")" | "(" literal "," [literals] ")" | "(" literal ")"
//!         | "{" [ literal ":" literal { "," literal ":" literal } [","] ] "}"
//! ```
//!
//! `ROOT` is the root's name as given on the command line (`counter`, `dict`); `self` is the
//! same object. `NAME.method(...)` is one RUN by name; `NAME` without a call is a GET;
//! `x[k]` is `x.get_item(k)`, `x[k] = v` is `x.set_item(k, v)`, `del x[k]` is
//! `x.del_item(k)`. Container literals hold data only, not paths. The words `help`, `exit`,
//! `quit`, `dir`, `all` and `del` are keywords at the start of a line; reach members with
//! those names as `self.NAME`.

use std::fmt;

use rpc_core::Value;

/// How deeply literals may nest (the server refuses values deeper than 64 anyway).
pub const MAX_NESTING: usize = 64;

/// One parsed shell line.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// An empty or comment-only line.
    Nothing,
    /// `help`: print the syntax.
    Help,
    /// `exit` or `quit`: leave the shell.
    Exit,
    /// `dir`, `dir PATH`: DIR of the root or of the object `PATH` gives.
    Dir(Path),
    /// `all`, `all PATH`: ALL of the root or of the object `PATH` gives.
    All(Path),
    /// An expression whose result is printed.
    Eval(Expr),
    /// `PLACE = EXPR`: SET of a field or `set_item` of a key.
    Assign {
        /// Where to store.
        place: Place,
        /// What to store.
        value: Expr,
    },
    /// `del PLACE`: DEL of a field or `del_item` of a key.
    Delete(Place),
}

/// An expression: data written in the line, or a path evaluated on the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal value.
    Literal(Value),
    /// Steps from the root.
    Path(Path),
}

/// A chain of steps starting at the root object; no steps is the root itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Path {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a [`Path`], applied to the object the previous steps gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `.name`: GET, or with a [`Step::Call`] right after it, RUN of the method by name.
    Attr(String),
    /// `(args)`: call (RUN of a callable handle, unless right after an [`Step::Attr`]).
    Call(Vec<Arg>),
    /// `[key]`: `get_item(key)`.
    Index(Box<Expr>),
}

/// One call argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// The parameter name for a named argument, `None` for a positional one.
    pub name: Option<String>,
    /// The argument.
    pub value: Expr,
}

/// The target of an assignment or a `del`: a slot of the object `owner` gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    /// The object holding the slot.
    pub owner: Path,
    /// The field or key.
    pub slot: Slot,
}

/// A field name or an item key.
#[derive(Clone, Debug, PartialEq)]
pub enum Slot {
    /// A field: SET / DEL.
    Field(String),
    /// A key: `set_item` / `del_item`.
    Key(Expr),
}

/// A syntax error, with the byte column where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// The byte offset in the line.
    pub column: usize,
}

impl ParseError {
    fn new(message: impl Into<String>, column: usize) -> Self {
        ParseError {
            message: message.into(),
            column,
        }
    }

    /// The message followed by the line and a caret under the column.
    pub fn render(&self, line: &str) -> String {
        let caret = line
            .get(..self.column.min(line.len()))
            .map_or(0, |s| s.chars().count());
        format!(
            "syntax error: {}\n  {line}\n  {}^",
            self.message,
            " ".repeat(caret)
        )
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "syntax error at column {}: {}",
            self.column + 1,
            self.message
        )
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Punct(char),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(i) => write!(f, "`{i}`"),
            Tok::Float(x) => write!(f, "`{x}`"),
            Tok::Str(_) => f.write_str("a string"),
            Tok::Bytes(_) => f.write_str("a bytes literal"),
            Tok::Punct(c) => write!(f, "`{c}`"),
            Tok::End => f.write_str("the end of the line"),
        }
    }
}

fn tokenize(line: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let bytes = line.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => break,
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b':' | b'.' | b'=' => {
                tokens.push((Tok::Punct(c as char), start));
                i += 1;
            }
            b'b' if matches!(bytes.get(i + 1), Some(b'\'' | b'"')) => {
                let (text, end) = string(line, i + 1)?;
                if let Some(bad) = text.chars().find(|&ch| u32::from(ch) > 0xff) {
                    return Err(ParseError::new(
                        format!("bytes literals hold only characters up to \\xff, not {bad:?}"),
                        start,
                    ));
                }
                // Every char is at most 0xff (checked above), so the cast keeps its value.
                tokens.push((Tok::Bytes(text.chars().map(|ch| ch as u8).collect()), start));
                i = end;
            }
            b'\'' | b'"' => {
                let (text, end) = string(line, i)?;
                tokens.push((Tok::Str(text), start));
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let (tok, end) = number(line, i)?;
                tokens.push((tok, start));
                i = end;
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                tokens.push((Tok::Ident(line[start..i].to_owned()), start));
            }
            _ => {
                let ch = line[i..].chars().next().unwrap_or('?');
                return Err(ParseError::new(format!("unexpected character {ch:?}"), i));
            }
        }
    }
    tokens.push((Tok::End, line.len()));
    Ok(tokens)
}

/// Reads a quoted string starting at the quote at `start`; returns it and the offset after
/// the closing quote. Escapes: `\n \t \r \0 \\ \' \" \xHH \uXXXX \u{X..}`.
fn string(line: &str, start: usize) -> Result<(String, usize), ParseError> {
    let quote = line[start..].chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut chars = line[start + 1..].char_indices();
    while let Some((offset, ch)) = chars.next() {
        let at = start + 1 + offset;
        match ch {
            c if c == quote => return Ok((out, at + 1)),
            '\\' => {
                let Some((_, esc)) = chars.next() else { break };
                match esc {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    '\\' | '\'' | '"' | '/' => out.push(esc),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                        out.push(hex_char(&hex, at)?);
                    }
                    'u' => {
                        let rest = &line[at + 2..];
                        let hex: String = if rest.starts_with('{') && rest.contains('}') {
                            let body: String =
                                rest[1..].chars().take_while(|&c| c != '}').collect();
                            // `{`, the digits and `}`.
                            for _ in 0..body.chars().count() + 2 {
                                chars.next();
                            }
                            body
                        } else {
                            chars.by_ref().take(4).map(|(_, c)| c).collect()
                        };
                        out.push(hex_char(&hex, at)?);
                    }
                    other => {
                        return Err(ParseError::new(
                            format!("unknown escape \\{other} in a string"),
                            at,
                        ));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::new("unterminated string", start))
}

fn hex_char(hex: &str, at: usize) -> Result<char, ParseError> {
    u32::from_str_radix(hex, 16)
        .ok()
        .filter(|_| !hex.is_empty())
        .and_then(char::from_u32)
        .ok_or_else(|| ParseError::new(format!("bad escape code {hex:?}"), at))
}

/// Reads an integer or a float (with an optional leading `-`) at `start`.
fn number(line: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let bytes = line.as_bytes();
    let mut i = start;
    if bytes[i] == b'-' {
        i += 1;
    }
    let digits_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_start {
        return Err(ParseError::new("expected a number after `-`", start));
    }
    let mut float = false;
    if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
        float = true;
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            float = true;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    if i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphabetic()) {
        return Err(ParseError::new("a number cannot run into a name", i));
    }
    let text = &line[start..i];
    let tok = if float {
        Tok::Float(
            text.parse()
                .map_err(|e| ParseError::new(format!("bad number {text}: {e}"), start))?,
        )
    } else {
        Tok::Int(text.parse().map_err(|_| {
            ParseError::new(
                format!("the integer {text} is out of range (64-bit signed)"),
                start,
            )
        })?)
    };
    Ok((tok, i))
}

/// Parses shell lines for a root called `root` (the name that, like `self`, refers to it).
#[derive(Clone, Debug)]
pub struct Parser {
    root: String,
}

const KEYWORDS: &[&str] = &["help", "exit", "quit", "dir", "all", "del"];

/// The words the shell treats specially at the start of a line.
pub fn keywords() -> &'static [&'static str] {
    KEYWORDS
}

impl Parser {
    /// A parser for a shell opened on the root `root`.
    pub fn new(root: impl Into<String>) -> Self {
        Parser { root: root.into() }
    }

    /// Parses one line.
    ///
    /// # Errors
    /// A [`ParseError`] naming what was expected and where.
    pub fn parse_line(&self, line: &str) -> Result<Stmt, ParseError> {
        let tokens = tokenize(line)?;
        let mut cursor = Cursor {
            tokens,
            pos: 0,
            root: &self.root,
        };
        let stmt = cursor.statement()?;
        cursor.expect_end()?;
        Ok(stmt)
    }
}

struct Cursor<'a> {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    root: &'a str,
}

impl Cursor<'_> {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        // `tokenize` always ends the list with `End`, and `advance` never moves past it.
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + ahead).min(last)].0
    }

    fn column(&self) -> usize {
        // Never empty: `tokenize` always ends the list with `End`.
        let last = self.tokens.len() - 1;
        self.tokens[self.pos.min(last)].1
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if tok != Tok::End {
            self.pos += 1;
        }
        tok
    }

    fn is(&self, c: char) -> bool {
        *self.peek() == Tok::Punct(c)
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.is(c);
        if found {
            self.advance();
        }
        found
    }

    fn error<T>(&self, expected: &str) -> Result<T, ParseError> {
        Err(ParseError::new(
            format!("expected {expected}, found {}", self.peek()),
            self.column(),
        ))
    }

    fn expect(&mut self, c: char, expected: &str) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            self.error(expected)
        }
    }

    fn expect_end(&self) -> Result<(), ParseError> {
        if *self.peek() == Tok::End {
            Ok(())
        } else {
            self.error("the end of the line")
        }
    }

    fn statement(&mut self) -> Result<Stmt, ParseError> {
        let keyword = match self.peek() {
            Tok::End => return Ok(Stmt::Nothing),
            Tok::Ident(word) if KEYWORDS.contains(&word.as_str()) => word.clone(),
            _ => return self.expression_statement(),
        };
        let alone = *self.peek_at(1) == Tok::End;
        match keyword.as_str() {
            "help" if alone => {
                self.advance();
                Ok(Stmt::Help)
            }
            "exit" | "quit" if alone => {
                self.advance();
                Ok(Stmt::Exit)
            }
            "dir" | "all" => {
                self.advance();
                let path = self.keyword_target()?;
                Ok(if keyword == "dir" {
                    Stmt::Dir(path)
                } else {
                    Stmt::All(path)
                })
            }
            "del" => {
                self.advance();
                let column = self.column();
                if *self.peek() == Tok::End {
                    return self.error("what to delete: `del NAME` or `del x[key]`");
                }
                let path = self.path()?;
                Ok(Stmt::Delete(place(path, column)?))
            }
            _ => self.expression_statement(),
        }
    }

    /// The optional object after `dir` or `all`: nothing, `PATH` or `(PATH)`.
    fn keyword_target(&mut self) -> Result<Path, ParseError> {
        if *self.peek() == Tok::End {
            return Ok(Path::default());
        }
        if self.eat('(') {
            if self.eat(')') {
                return Ok(Path::default());
            }
            let path = self.path()?;
            self.expect(')', "`)`")?;
            return Ok(path);
        }
        self.path()
    }

    fn expression_statement(&mut self) -> Result<Stmt, ParseError> {
        let column = self.column();
        let expr = self.expr(0)?;
        if self.eat('=') {
            let Expr::Path(path) = expr else {
                return Err(ParseError::new(
                    "only a field (`name`, `x.name`) or an item (`x[key]`) can be assigned to",
                    column,
                ));
            };
            let place = place(path, column)?;
            let value = self.expr(0)?;
            return Ok(Stmt::Assign { place, value });
        }
        Ok(Stmt::Eval(expr))
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        match self.peek() {
            Tok::Ident(word) if literal_word(word).is_none() => Ok(Expr::Path(self.path()?)),
            _ => Ok(Expr::Literal(self.literal(depth)?)),
        }
    }

    fn path(&mut self) -> Result<Path, ParseError> {
        let mut steps = Vec::new();
        match self.peek() {
            Tok::Ident(name) if *name == self.root || name == "self" => {}
            Tok::Ident(name) if literal_word(name).is_none() => {
                steps.push(Step::Attr(name.clone()))
            }
            _ => return self.error("an object or a member name"),
        }
        self.advance();
        loop {
            if self.eat('.') {
                let Tok::Ident(name) = self.peek().clone() else {
                    return self.error("a member name after `.`");
                };
                self.advance();
                steps.push(Step::Attr(name));
            } else if self.eat('(') {
                steps.push(Step::Call(self.args()?));
            } else if self.eat('[') {
                let key = self.expr(0)?;
                self.expect(']', "`]`")?;
                steps.push(Step::Index(Box::new(key)));
            } else {
                return Ok(Path { steps });
            }
        }
    }

    /// The arguments after `(`, through the closing `)`.
    fn args(&mut self) -> Result<Vec<Arg>, ParseError> {
        let mut args: Vec<Arg> = Vec::new();
        while !self.eat(')') {
            let column = self.column();
            let named = match (self.peek(), self.peek_at(1)) {
                (Tok::Ident(name), Tok::Punct('=')) => Some(name.clone()),
                _ => None,
            };
            if named.is_some() {
                self.advance();
                self.advance();
            } else if args.iter().any(|a| a.name.is_some()) {
                return Err(ParseError::new(
                    "a positional argument cannot follow a named one",
                    column,
                ));
            }
            let value = self.expr(0)?;
            args.push(Arg { name: named, value });
            if !self.eat(',') {
                self.expect(')', "`,` or `)`")?;
                break;
            }
        }
        Ok(args)
    }

    fn literal(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth >= MAX_NESTING {
            return Err(ParseError::new(
                format!("literals nested deeper than {MAX_NESTING}"),
                self.column(),
            ));
        }
        let column = self.column();
        if matches!(
            self.peek(),
            Tok::End | Tok::Punct(')' | ']' | '}' | ',' | ':' | '=' | '.')
        ) {
            return self.error("a value or a member name");
        }
        match self.advance() {
            Tok::Int(i) => Ok(Value::Int(i)),
            Tok::Float(x) => Ok(Value::Float(x)),
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::Bytes(b) => Ok(Value::Bytes(b)),
            Tok::Ident(word) => literal_word(&word).ok_or_else(|| {
                ParseError::new(
                    format!("`{word}` is not a literal (containers hold data only)"),
                    column,
                )
            }),
            Tok::Punct('[') => Ok(Value::List(self.literals(']', depth)?)),
            Tok::Punct('(') => {
                if self.eat(')') {
                    return Ok(Value::Tuple(Vec::new()));
                }
                let first = self.literal(depth + 1)?;
                if self.eat(')') {
                    return Ok(first);
                }
                self.expect(',', "`,` or `)`")?;
                let mut items = vec![first];
                items.extend(self.literals(')', depth)?);
                Ok(Value::Tuple(items))
            }
            Tok::Punct('{') => {
                let mut pairs = Vec::new();
                while !self.eat('}') {
                    let key = self.literal(depth + 1)?;
                    self.expect(':', "`:` after a map key")?;
                    let value = self.literal(depth + 1)?;
                    pairs.push((key, value));
                    if !self.eat(',') {
                        self.expect('}', "`,` or `}`")?;
                        break;
                    }
                }
                Ok(Value::Map(pairs))
            }
            other => Err(ParseError::new(
                format!("expected a value or a member name, found {other}"),
                column,
            )),
        }
    }

    /// Literals separated by commas (a trailing one allowed), through `close`.
    fn literals(&mut self, close: char, depth: usize) -> Result<Vec<Value>, ParseError> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.literal(depth + 1)?);
            if !self.eat(',') {
                self.expect(close, &format!("`,` or `{close}`"))?;
                break;
            }
        }
        Ok(items)
    }
}

/// The value of the literal words: Python's and JSON's spellings.
fn literal_word(word: &str) -> Option<Value> {
    match word {
        "None" | "null" => Some(Value::None),
        "True" | "true" => Some(Value::Bool(true)),
        "False" | "false" => Some(Value::Bool(false)),
        _ => None,
    }
}

/// Splits a path into the object and the slot its last step names.
fn place(mut path: Path, column: usize) -> Result<Place, ParseError> {
    let slot = match path.steps.pop() {
        Some(Step::Attr(name)) => Slot::Field(name),
        Some(Step::Index(key)) => Slot::Key(*key),
        _ => {
            return Err(ParseError::new(
                "only a field (`name`, `x.name`) or an item (`x[key]`) can be assigned or deleted",
                column,
            ));
        }
    };
    Ok(Place { owner: path, slot })
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Path(p) => write!(f, "{p}"),
        }
    }
}

/// Writes the path as it could be typed, starting at `self`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("self")?;
        self.steps.iter().try_for_each(|step| write!(f, "{step}"))
    }
}

/// Writes the step as it could be typed: `.name`, `(args)`, `[key]`.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Attr(name) => write!(f, ".{name}"),
            Step::Call(args) => {
                f.write_str("(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(name) = &arg.name {
                        write!(f, "{name}=")?;
                    }
                    write!(f, "{}", arg.value)?;
                }
                f.write_str(")")
            }
            Step::Index(key) => write!(f, "[{key}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Stmt {
        Parser::new("counter")
            .parse_line(line)
            .unwrap_or_else(|e| panic!("{line:?} should parse: {e}"))
    }

    fn fail(line: &str) -> ParseError {
        Parser::new("counter")
            .parse_line(line)
            .expect_err("should not parse")
    }

    fn attr(name: &str) -> Step {
        Step::Attr(name.into())
    }

    fn pos(v: Value) -> Arg {
        Arg {
            name: None,
            value: Expr::Literal(v),
        }
    }

    #[test]
    fn bare_members_and_the_root_name_mean_the_same_object() {
        let call = Stmt::Eval(Expr::Path(Path {
            steps: vec![attr("add"), Step::Call(vec![pos(Value::Int(5))])],
        }));
        assert_eq!(parse("add(5)"), call);
        assert_eq!(parse("counter.add(5)"), call);
        assert_eq!(parse("self.add( 5 , )"), call);
        assert_eq!(
            parse("value"),
            Stmt::Eval(Expr::Path(Path {
                steps: vec![attr("value")]
            }))
        );
        assert_eq!(parse("counter"), Stmt::Eval(Expr::Path(Path::default())));
    }

    #[test]
    fn assignments_and_deletes() {
        assert_eq!(
            parse("value = -3"),
            Stmt::Assign {
                place: Place {
                    owner: Path::default(),
                    slot: Slot::Field("value".into()),
                },
                value: Expr::Literal(Value::Int(-3)),
            }
        );
        assert_eq!(
            parse("del note"),
            Stmt::Delete(Place {
                owner: Path::default(),
                slot: Slot::Field("note".into()),
            })
        );
        assert_eq!(
            parse("child('a').note = 'hi'"),
            Stmt::Assign {
                place: Place {
                    owner: Path {
                        steps: vec![attr("child"), Step::Call(vec![pos(Value::Str("a".into()))])]
                    },
                    slot: Slot::Field("note".into()),
                },
                value: Expr::Literal(Value::Str("hi".into())),
            }
        );
    }

    #[test]
    fn items_on_the_root() {
        let p = Parser::new("dict");
        let key = Slot::Key(Expr::Literal(Value::Int(1)));
        assert_eq!(
            p.parse_line("dict[1] = 2").expect("set"),
            Stmt::Assign {
                place: Place {
                    owner: Path::default(),
                    slot: key.clone(),
                },
                value: Expr::Literal(Value::Int(2)),
            }
        );
        assert_eq!(
            p.parse_line("dict[1]").expect("get"),
            Stmt::Eval(Expr::Path(Path {
                steps: vec![Step::Index(Box::new(Expr::Literal(Value::Int(1))))]
            }))
        );
        assert_eq!(
            p.parse_line("del self[1]").expect("del"),
            Stmt::Delete(Place {
                owner: Path::default(),
                slot: key,
            })
        );
        assert_eq!(
            p.parse_line("dict[(1, 'a')]").expect("tuple key"),
            Stmt::Eval(Expr::Path(Path {
                steps: vec![Step::Index(Box::new(Expr::Literal(Value::Tuple(vec![
                    Value::Int(1),
                    Value::Str("a".into())
                ]))))]
            }))
        );
    }

    #[test]
    fn literals_python_and_json_spellings() {
        let lit = |line: &str| match parse(line) {
            Stmt::Eval(Expr::Literal(v)) => v,
            other => panic!("{line:?} is not a literal: {other:?}"),
        };
        assert_eq!(lit("None"), Value::None);
        assert_eq!(lit("null"), Value::None);
        assert_eq!(lit("True"), Value::Bool(true));
        assert_eq!(lit("false"), Value::Bool(false));
        assert_eq!(lit("1.5e2"), Value::Float(150.0));
        assert_eq!(lit("-0.25"), Value::Float(-0.25));
        assert_eq!(lit("()"), Value::Tuple(vec![]));
        assert_eq!(lit("(1,)"), Value::Tuple(vec![Value::Int(1)]));
        assert_eq!(lit("(1)"), Value::Int(1));
        assert_eq!(
            lit("(1, [2, None], {'a': (3, 4)},)"),
            Value::Tuple(vec![
                Value::Int(1),
                Value::List(vec![Value::Int(2), Value::None]),
                Value::Map(vec![(
                    Value::Str("a".into()),
                    Value::Tuple(vec![Value::Int(3), Value::Int(4)])
                )]),
            ])
        );
        assert_eq!(
            lit(r#""a\n\"\u00e9\u{1F600}\x41""#),
            Value::Str("a\n\"é😀A".into())
        );
        assert_eq!(lit("b'a\\x00'"), Value::Bytes(vec![b'a', 0]));
        assert_eq!(lit("{}"), Value::Map(vec![]));
        assert!(
            fail("'it''s'").message.contains("end of the line"),
            "no implicit concat"
        );
    }

    #[test]
    fn named_arguments_and_nested_calls() {
        assert_eq!(
            parse("add_many(1, times=3)"),
            Stmt::Eval(Expr::Path(Path {
                steps: vec![
                    attr("add_many"),
                    Step::Call(vec![
                        pos(Value::Int(1)),
                        Arg {
                            name: Some("times".into()),
                            value: Expr::Literal(Value::Int(3)),
                        }
                    ])
                ]
            }))
        );
        let Stmt::Eval(Expr::Path(path)) = parse("absorb(child(\"a\"))") else {
            panic!("a path")
        };
        assert_eq!(path.to_string(), "self.absorb(self.child('a'))");
        let Stmt::Eval(Expr::Path(path)) = parse("child('a').add(1)") else {
            panic!("a path")
        };
        assert_eq!(path.to_string(), "self.child('a').add(1)");
    }

    #[test]
    fn keywords() {
        assert_eq!(parse(""), Stmt::Nothing);
        assert_eq!(parse("   # a comment"), Stmt::Nothing);
        assert_eq!(parse("help"), Stmt::Help);
        assert_eq!(parse("exit"), Stmt::Exit);
        assert_eq!(parse("quit"), Stmt::Exit);
        assert_eq!(parse("dir"), Stmt::Dir(Path::default()));
        assert_eq!(parse("dir()"), Stmt::Dir(Path::default()));
        assert_eq!(parse("dir(counter)"), Stmt::Dir(Path::default()));
        assert_eq!(
            parse("all child('a')"),
            Stmt::All(Path {
                steps: vec![attr("child"), Step::Call(vec![pos(Value::Str("a".into()))])]
            })
        );
        // A member called like a keyword is reached through `self`.
        assert_eq!(
            parse("self.help"),
            Stmt::Eval(Expr::Path(Path {
                steps: vec![attr("help")]
            }))
        );
    }

    #[test]
    fn errors_say_what_was_expected_and_where() {
        let e = fail("add(5");
        assert_eq!(e.column, 5);
        assert!(e.message.contains("`,` or `)`"), "{e}");
        assert_eq!(
            e.render("add(5"),
            "syntax error: expected `,` or `)`, found the end of the line\n  add(5\n       ^"
        );
        assert!(fail("add(times=1, 2)").message.contains("positional"));
        assert!(fail("5 = 3").message.contains("assigned"));
        assert!(fail("add(1) = 3").message.contains("assigned"));
        assert!(fail("del").message.contains("del NAME"));
        assert!(fail("'abc").message.contains("unterminated"));
        assert!(
            fail("99999999999999999999")
                .message
                .contains("out of range")
        );
        assert!(fail("value value").message.contains("end of the line"));
        assert!(fail("[value]").message.contains("data only"));
        assert!(fail("a.1").message.contains("member name"));
        assert!(fail("$").message.contains("unexpected character"));
        assert!(fail("1abc").message.contains("run into a name"));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(fail(&deep).message.contains("nested deeper"));
    }
}
