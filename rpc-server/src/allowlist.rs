//! The IP allowlist checked against a peer's address at accept, before any byte is read.
//!
//! An [`Allowlist`] is built once from text and cannot hold an invalid pattern: every
//! pattern is parsed at construction, and a malformed one is an [`AllowlistError`] naming
//! it, so a typo fails at startup instead of silently locking peers out (or in).
//!
//! # Pattern kinds
//!
//! Each pattern is trimmed of leading and trailing whitespace, then read as the first of
//! these that applies:
//!
//! 1. **CIDR network** (the pattern contains `/`): `10.0.0.0/8`, `127.0.0.0/8`, `::1/128`,
//!    `fe80::/10`. The prefix length must be a decimal number no larger than 32 for IPv4
//!    or 128 for IPv6. Host bits set below the prefix (`10.0.0.1/8`) are accepted and
//!    cleared: the pattern is stored, matched and printed as `10.0.0.0/8`.
//! 2. **Plain address**: `10.1.2.3`, `::1`. Matches exactly that address.
//! 3. **Glob**, with the semantics of Python's `fnmatch` (which the original server used),
//!    matched against the whole canonical text of the address: `*` matches any run of
//!    characters (including none, and including dots and colons), `?` exactly one
//!    character, and `[...]` one character from a class, with ranges (`[0-9]`), negation
//!    (`[!...]` or `[^...]`), and a `]` first in the class taken literally. So
//!    `127.0.0.*` allows `127.0.0.1` and `127.0.0.255` but not `127.0.1.1`, and
//!    `192.168.1.?` allows `192.168.1.7` but not `192.168.1.17`. The canonical text is
//!    the dotted quad for IPv4 and Rust's `Display` form for IPv6 (lowercase, with the
//!    longest zero run compressed); glob letters are lowercased at construction so
//!    `FE80::*` works. Unlike `fnmatch`, malformed globs are errors: an unclosed `[`, a
//!    reversed range such as `[9-0]`, a `!`, `^`, `-` or `]` outside a class, a character
//!    that cannot occur in an address (`127.0.0.x`, `localhost`), and a wildcard-free
//!    pattern that is not an address (`192.168.1`), which could never match anything.
//!
//! Matching a glob is linear in practice and at worst proportional to the product of the
//! pattern and address lengths (an iterative two-pointer match, no recursion).
//!
//! # IPv4-mapped IPv6
//!
//! A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 addresses
//! (`::ffff:127.0.0.1`). Such a peer is converted to its IPv4 address before matching, so
//! `127.0.0.*` and `127.0.0.0/8` allow it. Patterns are converted the same way: the plain
//! address `::ffff:10.1.2.3` is stored as `10.1.2.3`, and a CIDR inside `::ffff:0:0/96`
//! with a prefix of at least 96 becomes the matching IPv4 network (`::ffff:10.0.0.0/104`
//! is `10.0.0.0/8`). Apart from that an IPv4 network never matches an IPv6 address nor
//! the reverse: `0.0.0.0/0` does not allow `::1`, and `::/0` does not allow an IPv4 (or
//! IPv4-mapped) peer. A glob sees only the canonical text, so a glob written in mapped
//! form (`::ffff:127.0.0.*`) never matches a mapped peer; write `127.0.0.*`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why an allowlist could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowlistError {
    /// No pattern was given. An empty allowlist would refuse every connection, which is
    /// far more likely a configuration mistake than an intent, so it is refused.
    #[error(
        "allowlist is empty: it would refuse every connection; \
         list at least one pattern, e.g. \"127.0.0.1\""
    )]
    Empty,
    /// A pattern is malformed.
    #[error("allowlist pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The offending pattern, as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A set of address patterns a peer must match to be served.
///
/// A peer is allowed when any pattern matches it. Patterns are CIDR networks (`10.0.0.0/8`,
/// `fe80::/10`), plain addresses (`::1`) or globs on the address text with the seed's
/// `fnmatch` semantics (`127.0.0.*`, `192.168.1.?`, `10.0.[0-3].*`); an IPv4-mapped IPv6
/// peer (`::ffff:127.0.0.1`) is matched as its IPv4 address. A malformed pattern is an error
/// at construction. The default is [`Allowlist::loopback`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowlist {
    rules: Vec<Rule>,
}

impl Allowlist {
    /// Parses every pattern in `patterns`.
    ///
    /// # Errors
    ///
    /// [`AllowlistError::Empty`] if there are no patterns, and
    /// [`AllowlistError::BadPattern`] for the first malformed one.
    pub fn new<I, S>(patterns: I) -> Result<Self, AllowlistError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let rules = patterns
            .into_iter()
            .map(|p| Rule::parse(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err(AllowlistError::Empty);
        }
        Ok(Allowlist { rules })
    }

    /// Allows the loopback addresses only: `127.0.0.0/8` and `::1`. This is the default.
    #[must_use]
    pub fn loopback() -> Self {
        Allowlist {
            rules: vec![
                Rule::net(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
                Rule::addr(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ],
        }
    }

    /// Allows every address: the single glob `*`.
    #[must_use]
    pub fn any() -> Self {
        Allowlist {
            rules: vec![Rule {
                text: "*".to_owned(),
                kind: Kind::Glob(Glob {
                    tokens: vec![Token::Any],
                }),
            }],
        }
    }

    /// Whether a peer at `ip` may connect. IPv4-mapped IPv6 addresses are checked as
    /// their IPv4 address.
    #[must_use]
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        // The text is needed only by globs; render it at most once.
        let mut text: Option<String> = None;
        self.rules.iter().any(|rule| match &rule.kind {
            Kind::Net(net) => net.contains(ip),
            Kind::Glob(glob) => glob.matches(text.get_or_insert_with(|| ip.to_string())),
        })
    }

    /// The patterns in their normalized form (trimmed; CIDR host bits cleared; plain
    /// addresses and glob letters in canonical case), in the order given.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.text.as_str())
    }
}

impl Default for Allowlist {
    /// [`Allowlist::loopback`].
    fn default() -> Self {
        Allowlist::loopback()
    }
}

impl fmt::Display for Allowlist {
    /// The normalized patterns separated by `", "`; [`FromStr`] reads this back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pattern) in self.patterns().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(pattern)?;
        }
        Ok(())
    }
}

impl FromStr for Allowlist {
    type Err = AllowlistError;

    /// Parses a comma-separated list of patterns, e.g. `"127.0.0.1, 10.0.0.0/8"`. A blank
    /// string is [`AllowlistError::Empty`]; a blank entry (`"a,,b"`, a trailing comma) is
    /// a [`AllowlistError::BadPattern`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(AllowlistError::Empty);
        }
        Allowlist::new(s.split(','))
    }
}

/// One parsed pattern and its normalized text.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    text: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Net(Net),
    Glob(Glob),
}

impl Rule {
    fn parse(raw: &str) -> Result<Rule, AllowlistError> {
        let bad = |reason: String| AllowlistError::BadPattern {
            pattern: raw.to_owned(),
            reason,
        };
        let pattern = raw.trim();
        if pattern.is_empty() {
            return Err(bad("empty pattern".to_owned()));
        }
        if let Some((addr, prefix)) = pattern.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| {
                bad(format!(
                    "{addr:?} before '/' is not an IP address (a CIDR network cannot contain wildcards)"
                ))
            })?;
            let max = match addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            };
            // `u8::from_str` accepts a leading '+'; insist on plain digits.
            let len = if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) {
                prefix.parse::<u8>().ok()
            } else {
                None
            };
            return match len {
                Some(len) if len <= max => Ok(Rule::net(addr, len)),
                _ if prefix.is_empty() => Err(bad("missing prefix length after '/'".to_owned())),
                _ => Err(bad(format!(
                    "prefix length {prefix:?} is not a number from 0 to {max}"
                ))),
            };
        }
        if let Ok(addr) = pattern.parse::<IpAddr>() {
            return Ok(Rule::addr(addr));
        }
        let text = pattern.to_ascii_lowercase();
        let glob = Glob::parse(&text).map_err(bad)?;
        Ok(Rule {
            text,
            kind: Kind::Glob(glob),
        })
    }

    /// Exactly `addr` (IPv4-mapped converted to IPv4), printed as a plain address.
    fn addr(addr: IpAddr) -> Rule {
        let len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let net = Net::new(addr, len);
        Rule {
            text: net.network().to_string(),
            kind: Kind::Net(net),
        }
    }

    /// The network `addr/len` (which must be in range), host bits cleared, IPv4-mapped
    /// networks converted to IPv4.
    fn net(addr: IpAddr, len: u8) -> Rule {
        let net = Net::new(addr, len);
        let text = format!("{}/{}", net.network(), net.prefix_len());
        Rule {
            text,
            kind: Kind::Net(net),
        }
    }
}

/// The address to match a peer as: IPv4-mapped IPv6 becomes IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A CIDR network, host bits cleared. A plain address is a full-length network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    V4 { bits: u32, len: u8 },
    V6 { bits: u128, len: u8 },
}

impl Net {
    /// `len` should be at most 32 for IPv4 and 128 for IPv6; larger is clamped.
    fn new(addr: IpAddr, len: u8) -> Net {
        match addr {
            IpAddr::V4(v4) => {
                let len = len.min(32);
                Net::V4 {
                    bits: u32::from(v4) & mask4(len),
                    len,
                }
            }
            IpAddr::V6(v6) => {
                let len = len.min(128);
                let bits = u128::from(v6) & mask6(len);
                // Inside ::ffff:0:0/96 with the whole /96 fixed: an IPv4 network. (With
                // `len >= 96` the mask leaves the /96 that marks a mapped address intact.)
                match Ipv6Addr::from(bits).to_ipv4_mapped() {
                    Some(v4) if len >= 96 => Net::new(IpAddr::V4(v4), len - 96),
                    _ => Net::V6 { bits, len },
                }
            }
        }
    }

    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Net::V4 { bits, len }, IpAddr::V4(v4)) => u32::from(v4) & mask4(len) == bits,
            (Net::V6 { bits, len }, IpAddr::V6(v6)) => u128::from(v6) & mask6(len) == bits,
            _ => false,
        }
    }

    fn network(self) -> IpAddr {
        match self {
            Net::V4 { bits, .. } => IpAddr::V4(Ipv4Addr::from(bits)),
            Net::V6 { bits, .. } => IpAddr::V6(Ipv6Addr::from(bits)),
        }
    }

    fn prefix_len(self) -> u8 {
        match self {
            Net::V4 { len, .. } | Net::V6 { len, .. } => len,
        }
    }
}

fn mask4(len: u8) -> u32 {
    // A shift by the full width (len 0) overflows: the mask is then empty.
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// A pre-parsed `fnmatch`-style glob.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Glob {
    tokens: Vec<Token>,
}

/// One glob element; every element but [`Token::Any`] matches exactly one character.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters, possibly empty.
    Any,
    /// `?`: any one character.
    One,
    /// `[...]`: one character in (or, negated, not in) one of the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether this single-character token matches `c`. [`Token::Any`] never gets here.
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::One | Token::Any => true,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

impl Glob {
    /// Parses a trimmed, lowercased glob. The error is the reason, for
    /// [`AllowlistError::BadPattern`].
    fn parse(pattern: &str) -> Result<Glob, String> {
        if let Some(c) = pattern.chars().find(|&c| {
            !(c.is_ascii_hexdigit()
                || matches!(c, '.' | ':' | '*' | '?' | '[' | ']' | '!' | '^' | '-'))
        }) {
            return Err(format!(
                "{c:?} cannot appear in a pattern: it is not an IP address, a CIDR network \
                 or a glob of hex digits, '.', ':', and the wildcards * ? [...]"
            ));
        }
        // The check above makes the pattern ASCII.
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // Runs of `*` are one `*`.
                    if tokens.last() != Some(&Token::Any) {
                        tokens.push(Token::Any);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::One);
                    i += 1;
                }
                '[' => {
                    let (token, next) = parse_class(&chars, i)?;
                    tokens.push(token);
                    i = next;
                }
                c @ ('!' | '^' | '-' | ']') => {
                    return Err(format!(
                        "{c:?} is only meaningful inside a [...] character class"
                    ));
                }
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        if tokens.iter().all(|t| matches!(t, Token::Literal(_))) {
            return Err(
                "not an IP address, and without a wildcard it could never match one \
                 (for a range write a glob such as \"192.168.1.*\" or a CIDR network such as \
                 \"192.168.1.0/24\")"
                    .to_owned(),
            );
        }
        Ok(Glob { tokens })
    }

    /// Whether the glob matches the whole of `text`.
    ///
    /// The iterative two-pointer algorithm: advance through both while tokens match; on a
    /// `*` remember where it was and let it match nothing; on a mismatch go back to the
    /// last `*` and let it swallow one more character. Only the last `*` ever needs
    /// revisiting, since every other token matches exactly one character, so the work is
    /// at most proportional to `tokens.len() * text.len()`.
    fn matches(&self, text: &str) -> bool {
        let tokens = &self.tokens;
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        // (token index just after the last `*`, text index that `*` currently stops at)
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                Some(token) if token.matches_char(text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((after, stop)) => {
                    star = Some((after, stop + 1));
                    p = after;
                    t = stop + 1;
                }
                None => return false,
            }
        }
        tokens[p..].iter().all(|token| *token == Token::Any)
    }
}

/// Parses the class whose `[` is at `open`; returns it and the index after its `]`.
///
/// As in `fnmatch`: a leading `!` (or `^`) negates, a `]` right after that is a member,
/// `a-z` is a range, and a `-` first or last is a member.
fn parse_class(chars: &[char], open: usize) -> Result<(Token, usize), String> {
    let mut j = open + 1;
    let negated = matches!(chars.get(j), Some('!' | '^'));
    if negated {
        j += 1;
    }
    let start = j;
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    let close = chars[j.min(chars.len())..]
        .iter()
        .position(|&c| c == ']')
        .map(|k| j + k)
        .ok_or_else(|| "unclosed '[': a character class needs a closing ']'".to_owned())?;
    let members = &chars[start..close];
    let mut ranges = Vec::new();
    let mut k = 0;
    while k < members.len() {
        if k + 2 < members.len() && members[k + 1] == '-' {
            let (lo, hi) = (members[k], members[k + 2]);
            if lo > hi {
                return Err(format!(
                    "range '{lo}-{hi}' in a character class is reversed and matches nothing"
                ));
            }
            ranges.push((lo, hi));
            k += 3;
        } else {
            ranges.push((members[k], members[k]));
            k += 1;
        }
    }
    Ok((Token::Class { negated, ranges }, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn list(patterns: &[&str]) -> Allowlist {
        Allowlist::new(patterns).expect("valid test patterns")
    }

    fn allows(patterns: &[&str], addr: &str) -> bool {
        list(patterns).allows(ip(addr))
    }

    fn reason(pattern: &str) -> String {
        match Allowlist::new([pattern]) {
            Err(AllowlistError::BadPattern { pattern: p, reason }) => {
                assert_eq!(p, pattern);
                reason
            }
            other => panic!("{pattern:?} should be a bad pattern, got {other:?}"),
        }
    }

    #[test]
    fn glob_star_matches_any_last_octet() {
        let l = list(&["127.0.0.*"]);
        for a in ["127.0.0.1", "127.0.0.10", "127.0.0.255", "127.0.0.0"] {
            assert!(l.allows(ip(a)), "{a}");
        }
        for a in ["127.0.1.1", "128.0.0.1", "10.127.0.0"] {
            assert!(!l.allows(ip(a)), "{a}");
        }
    }

    #[test]
    fn star_crosses_dots_and_matches_empty() {
        assert!(allows(&["1*1"], "1.2.3.1"));
        assert!(allows(&["10.*"], "10.200.3.4"));
        assert!(allows(&["10.0.0.1*"], "10.0.0.1"));
        assert!(allows(&["10.0.0.1*"], "10.0.0.199"));
        assert!(!allows(&["10.*"], "110.0.0.1"));
        assert!(allows(&["fe80::*"], "fe80::1"));
        assert!(allows(&["*"], "::"));
    }

    #[test]
    fn exact_address_is_whole_string_match() {
        let l = list(&["127.0.0.1"]);
        assert!(l.allows(ip("127.0.0.1")));
        assert!(!l.allows(ip("127.0.0.10")));
        assert!(!l.allows(ip("127.0.0.100")));
        assert!(!l.allows(ip("127.0.0.2")));
    }

    #[test]
    fn exact_ipv6_address() {
        let l = list(&["::1"]);
        assert!(l.allows(ip("::1")));
        assert!(!l.allows(ip("::2")));
        assert!(!l.allows(ip("127.0.0.1")));
        assert!(allows(&["10.1.2.3"], "10.1.2.3"));
        assert!(!allows(&["10.1.2.3"], "10.1.2.30"));
        assert!(allows(&["2001:DB8:0:0::1"], "2001:db8::1"));
    }

    #[test]
    fn question_mark_is_exactly_one_char() {
        let l = list(&["192.168.1.?"]);
        assert!(l.allows(ip("192.168.1.7")));
        assert!(!l.allows(ip("192.168.1.17")));
        assert!(allows(&["192.168.1.??"], "192.168.1.17"));
        assert!(!allows(&["192.168.1.??"], "192.168.1.7"));
    }

    #[test]
    fn class_ranges() {
        let l = list(&["10.0.[0-3].*"]);
        for a in ["10.0.0.1", "10.0.3.255", "10.0.2.9"] {
            assert!(l.allows(ip(a)), "{a}");
        }
        for a in ["10.0.4.1", "10.0.10.1", "10.0.30.1"] {
            assert!(!l.allows(ip(a)), "{a}");
        }
        assert!(allows(&["10.0.0.[13579]"], "10.0.0.7"));
        assert!(!allows(&["10.0.0.[13579]"], "10.0.0.8"));
        assert!(allows(&["10.0.0.[1-2-]"], "10.0.0.2"));
        assert!(allows(&["[a-f0-9]*::1"], "fe80::1"));
    }

    #[test]
    fn class_negation() {
        for neg in ["10.0.0.[!0-4]", "10.0.0.[^0-4]"] {
            let l = list(&[neg]);
            assert!(l.allows(ip("10.0.0.5")), "{neg}");
            assert!(l.allows(ip("10.0.0.9")), "{neg}");
            assert!(!l.allows(ip("10.0.0.4")), "{neg}");
            assert!(!l.allows(ip("10.0.0.0")), "{neg}");
            assert!(!l.allows(ip("10.0.0.50")), "{neg}");
        }
    }

    #[test]
    fn close_bracket_first_in_class_is_literal() {
        let g = Glob::parse("[]1]").expect("valid");
        assert!(g.matches("]"));
        assert!(g.matches("1"));
        assert!(!g.matches("2"));
        let g = Glob::parse("[!]]").expect("valid");
        assert!(!g.matches("]"));
        assert!(g.matches("1"));
        // As a whole list: only "1" can be an address character.
        assert!(allows(&["10.0.0.[]1]"], "10.0.0.1"));
    }

    #[test]
    fn glob_is_case_insensitive_for_hex() {
        let l = list(&["FE80::*"]);
        assert!(l.allows(ip("fe80::abcd")));
        assert_eq!(l.patterns().collect::<Vec<_>>(), ["fe80::*"]);
    }

    #[test]
    fn mapped_ipv6_peer_is_matched_as_ipv4() {
        let mapped = ip("::ffff:127.0.0.1");
        assert!(list(&["127.0.0.*"]).allows(mapped));
        assert!(list(&["127.0.0.0/8"]).allows(mapped));
        assert!(list(&["127.0.0.1"]).allows(mapped));
        assert!(Allowlist::loopback().allows(mapped));
        assert!(!list(&["10.0.0.0/8"]).allows(mapped));
        // The canonical text is the dotted quad, so a mapped-form glob does not see it.
        assert!(!list(&["::ffff:*"]).allows(mapped));
        // And `::/0` is IPv6 only.
        assert!(!list(&["::/0"]).allows(mapped));
    }

    #[test]
    fn mapped_ipv6_patterns_become_ipv4() {
        let l = list(&["::ffff:10.1.2.3", "::FFFF:192.168.0.0/112", "::ffff:0:0/96"]);
        assert_eq!(
            l.patterns().collect::<Vec<_>>(),
            ["10.1.2.3", "192.168.0.0/16", "0.0.0.0/0"]
        );
        let l = list(&["::ffff:10.1.2.3"]);
        assert!(l.allows(ip("10.1.2.3")));
        assert!(l.allows(ip("::ffff:10.1.2.3")));
        assert!(list(&["::ffff:192.168.0.0/112"]).allows(ip("192.168.44.1")));
    }

    #[test]
    fn cidr_v4_boundaries() {
        let l = list(&["10.0.0.0/8"]);
        assert!(l.allows(ip("10.0.0.0")));
        assert!(l.allows(ip("10.255.255.255")));
        assert!(!l.allows(ip("9.255.255.255")));
        assert!(!l.allows(ip("11.0.0.0")));
        let l = list(&["192.168.1.0/24"]);
        assert!(l.allows(ip("192.168.1.0")));
        assert!(l.allows(ip("192.168.1.255")));
        assert!(!l.allows(ip("192.168.0.255")));
        assert!(!l.allows(ip("192.168.2.0")));
        let l = list(&["10.1.2.3/32"]);
        assert!(l.allows(ip("10.1.2.3")));
        assert!(!l.allows(ip("10.1.2.4")));
        let l = list(&["0.0.0.0/0"]);
        assert!(l.allows(ip("0.0.0.0")));
        assert!(l.allows(ip("255.255.255.255")));
    }

    #[test]
    fn cidr_v6_boundaries() {
        let l = list(&["fe80::/10"]);
        assert!(l.allows(ip("fe80::")));
        assert!(l.allows(ip("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!l.allows(ip("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!l.allows(ip("fec0::")));
        let l = list(&["::1/128"]);
        assert!(l.allows(ip("::1")));
        assert!(!l.allows(ip("::")));
        assert!(!l.allows(ip("::2")));
        let l = list(&["::/0"]);
        assert!(l.allows(ip("::")));
        assert!(l.allows(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    }

    #[test]
    fn cidr_families_never_cross() {
        assert!(!allows(&["0.0.0.0/0"], "::1"));
        assert!(!allows(&["0.0.0.0/0"], "fe80::1"));
        assert!(!allows(&["::/0"], "127.0.0.1"));
        assert!(!allows(&["127.0.0.1"], "::1"));
        assert!(!allows(&["::1"], "127.0.0.1"));
    }

    #[test]
    fn cidr_host_bits_are_normalized() {
        let l = list(&["10.0.0.1/8", "fe80::1/10", " 192.168.1.77/24 "]);
        assert_eq!(
            l.patterns().collect::<Vec<_>>(),
            ["10.0.0.0/8", "fe80::/10", "192.168.1.0/24"]
        );
        assert_eq!(l, list(&["10.0.0.0/8", "fe80::/10", "192.168.1.0/24"]));
        assert!(l.allows(ip("10.9.9.9")));
        assert!(l.allows(ip("192.168.1.1")));
        assert!(!l.allows(ip("192.168.2.1")));
    }

    #[test]
    fn whitespace_is_trimmed() {
        let l = list(&["  127.0.0.* ", "\t::1\n"]);
        assert_eq!(l.patterns().collect::<Vec<_>>(), ["127.0.0.*", "::1"]);
        assert!(l.allows(ip("127.0.0.9")));
        assert!(l.allows(ip("::1")));
    }

    #[test]
    fn loopback_is_default() {
        let l = Allowlist::loopback();
        assert_eq!(l, Allowlist::default());
        assert!(l.allows(ip("127.0.0.1")));
        assert!(l.allows(ip("127.0.0.2")));
        assert!(l.allows(ip("127.255.255.255")));
        assert!(l.allows(ip("::1")));
        assert!(!l.allows(ip("10.0.0.1")));
        assert!(!l.allows(ip("128.0.0.1")));
        assert!(!l.allows(ip("::2")));
        assert_eq!(l.to_string(), "127.0.0.0/8, ::1");
        assert_eq!(l, list(&["127.0.0.0/8", "::1"]));
    }

    #[test]
    fn any_allows_everything() {
        let l = Allowlist::any();
        for a in [
            "127.0.0.1",
            "10.0.0.1",
            "0.0.0.0",
            "::",
            "::1",
            "fe80::1",
            "::ffff:1.2.3.4",
        ] {
            assert!(l.allows(ip(a)), "{a}");
        }
        assert_eq!(l, list(&["*"]));
        assert_eq!(l.to_string(), "*");
    }

    #[test]
    fn any_pattern_in_list_allows() {
        let l = list(&["10.0.0.0/8", "192.168.1.?", "::1"]);
        assert!(l.allows(ip("10.1.1.1")));
        assert!(l.allows(ip("192.168.1.3")));
        assert!(l.allows(ip("::1")));
        assert!(!l.allows(ip("192.168.1.30")));
    }

    #[test]
    fn from_str_and_display_round_trip() {
        let l: Allowlist = "127.0.0.1, 10.0.0.1/8 ,fe80::*".parse().expect("valid");
        assert_eq!(l.to_string(), "127.0.0.1, 10.0.0.0/8, fe80::*");
        let again: Allowlist = l.to_string().parse().expect("valid");
        assert_eq!(again, l);
        assert!(l.allows(ip("10.2.3.4")));
    }

    #[test]
    fn from_str_errors() {
        assert_eq!("".parse::<Allowlist>(), Err(AllowlistError::Empty));
        assert_eq!("  ".parse::<Allowlist>(), Err(AllowlistError::Empty));
        assert!(matches!(
            "127.0.0.1,,::1".parse::<Allowlist>(),
            Err(AllowlistError::BadPattern { .. })
        ));
        assert!(matches!(
            "127.0.0.1,".parse::<Allowlist>(),
            Err(AllowlistError::BadPattern { .. })
        ));
    }

    #[test]
    fn empty_list_is_refused() {
        let none: [&str; 0] = [];
        let err = Allowlist::new(none).expect_err("empty");
        assert_eq!(err, AllowlistError::Empty);
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn empty_pattern_is_an_error() {
        assert!(reason("").contains("empty"));
        assert!(reason("   ").contains("empty"));
    }

    #[test]
    fn bad_characters_are_errors() {
        for p in [
            "127.0.0.x",
            "localhost",
            "10. 0.0.1",
            "fe80::1%eth0",
            "10,0,0,1",
        ] {
            let r = reason(p);
            assert!(r.contains("cannot appear"), "{p}: {r}");
        }
        let err = Allowlist::new(["127.0.0.x"]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "allowlist pattern \"127.0.0.x\": 'x' cannot appear in a pattern: it is not an IP \
             address, a CIDR network or a glob of hex digits, '.', ':', and the wildcards * ? [...]"
        );
    }

    #[test]
    fn unclosed_class_is_an_error() {
        for p in [
            "10.0.0.[1",
            "10.0.0.[",
            "10.0.0.[]",
            "10.0.0.[!]",
            "10.0.0.[!",
        ] {
            assert!(reason(p).contains("unclosed '['"), "{p}");
        }
    }

    #[test]
    fn reversed_range_is_an_error() {
        assert!(reason("10.0.0.[9-0]").contains("reversed"));
    }

    #[test]
    fn class_syntax_outside_class_is_an_error() {
        for p in ["10.0.0.1-5", "10.0.0.!1", "10.0.0.^*", "10.0.0.1]*"] {
            assert!(reason(p).contains("only meaningful inside"), "{p}");
        }
    }

    #[test]
    fn wildcard_free_non_address_is_an_error() {
        for p in ["192.168.1", "127.0.0.01", "1.2.3.4.5", ":::"] {
            assert!(reason(p).contains("could never match"), "{p}");
        }
    }

    #[test]
    fn bad_cidr_is_an_error() {
        assert!(reason("10.0.0.0/33").contains("0 to 32"));
        assert!(reason("::/129").contains("0 to 128"));
        assert!(reason("10.0.0.0/x").contains("not a number"));
        assert!(reason("10.0.0.0/+8").contains("not a number"));
        assert!(reason("10.0.0.0/-1").contains("not a number"));
        assert!(reason("10.0.0.0/999").contains("not a number"));
        assert!(reason("10.0.0.0/8/8").contains("not a number"));
        assert!(reason("10.0.0.0/").contains("missing prefix"));
        assert!(reason("10.0.0/8").contains("not an IP address"));
        assert!(reason("10.0.0.*/8").contains("not an IP address"));
        assert!(reason("/8").contains("not an IP address"));
        // Valid extremes.
        assert!(Allowlist::new(["10.0.0.0/32", "10.0.0.0/0", "::/128", "::/0"]).is_ok());
    }

    #[test]
    fn first_bad_pattern_is_reported() {
        let err = Allowlist::new(["127.0.0.1", "nope", "also bad"]).expect_err("bad");
        assert!(
            matches!(&err, AllowlistError::BadPattern { pattern, .. } if pattern == "nope"),
            "{err:?}"
        );
    }

    #[test]
    fn pathological_glob_finishes_quickly() {
        // No clock here: an exponential matcher would not finish, and the test would hang
        // until the harness stops it.
        let l = list(&["*1*1*1*1*1*1*1*1*2"]);
        let long = ip("1111:1111:1111:1111:1111:1111:1111:1111");
        for _ in 0..1_000 {
            assert!(!l.allows(long));
        }
        // Far beyond address lengths: a backtracking matcher would never finish this.
        let glob = Glob::parse(&"*1".repeat(50)).expect("valid");
        let mut text = "1".repeat(5_000);
        text.push('2');
        assert!(!glob.matches(&text));
        text.push('1');
        assert!(glob.matches(&text));
    }

    /// The obvious recursive matcher, as a reference for small cases.
    fn reference(tokens: &[Token], text: &[char]) -> bool {
        match tokens.split_first() {
            None => text.is_empty(),
            Some((Token::Any, rest)) => (0..=text.len()).any(|k| reference(rest, &text[k..])),
            Some((token, rest)) => match text.split_first() {
                Some((c, more)) => token.matches_char(*c) && reference(rest, more),
                None => false,
            },
        }
    }

    #[test]
    fn matcher_agrees_with_reference() {
        // Every pattern of up to 4 elements over a small alphabet against every text over
        // {1, 2, .} up to length 5.
        let pattern_alphabet = ["1", "2", ".", "*", "?", "[12]", "[!1]"];
        let text_alphabet = ['1', '2', '.'];
        let mut patterns = vec![String::new()];
        let mut all_patterns = Vec::new();
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &patterns {
                for a in pattern_alphabet {
                    next.push(format!("{p}{a}"));
                }
            }
            all_patterns.extend(next.iter().cloned());
            patterns = next;
        }
        let mut texts = vec![Vec::new()];
        let mut all_texts = vec![Vec::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for t in &texts {
                for c in text_alphabet {
                    let mut t: Vec<char> = t.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            all_texts.extend(next.iter().cloned());
            texts = next;
        }
        let mut checked = 0;
        for p in &all_patterns {
            // Wildcard-free globs are refused at construction; match them anyway.
            let glob = Glob::parse(p).unwrap_or_else(|_| Glob {
                tokens: p.chars().map(Token::Literal).collect(),
            });
            for t in &all_texts {
                let s: String = t.iter().collect();
                assert_eq!(
                    glob.matches(&s),
                    reference(&glob.tokens, t),
                    "{p:?} vs {s:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100_000);
    }
}
