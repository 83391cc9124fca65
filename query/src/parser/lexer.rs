//! PromQL lexer: turns query text into [`Token`]s with byte positions.
//!
//! The lexer follows Prometheus's lexer (`promql/parser/lex.go`) closely, because the exact
//! set of accepted literals and the wording of the errors are part of the protocol:
//!
//! - keywords (`sum`, `by`, `and`, `offset`, ...) are case-insensitive; `inf` and `nan` (any
//!   case) are numbers; an identifier containing `:` is a metric identifier;
//! - inside `{...}` only label names, strings, matcher operators and commas exist;
//! - right after `[` only durations/numbers (and the duration-expression punctuation) exist;
//! - numbers and durations are scanned by one routine that reports the longest offending
//!   prefix as `bad number or duration syntax: "..."`;
//! - strings are unquoted here (Go escapes for `"`/`'`, none for backticks).
//!
//! Tokenizing stops at the first lexical error, which is stored as a final [`Tok::Error`]
//! token: the parser reports it only when it gets there, so that an earlier syntax error
//! wins, as with Prometheus's on-demand lexer. Simple character classes are recognised with
//! `nom` combinators; the number/duration scanner is a hand-written state machine because its
//! error positions must match Prometheus's byte for byte.

use nom::bytes::complete::take_while;
use nom::IResult;

/// Aggregation keywords, including the experimental ones the AST cannot represent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggKw {
    /// One of the operators in [`super::ast::AggregateOp`].
    Op(super::ast::AggregateOp),
    /// `limitk` (experimental).
    Limitk,
    /// `limit_ratio` (experimental).
    LimitRatio,
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// End of input.
    Eof,
    /// A lexical error; the payload is Prometheus's message.
    Error(String),
    /// `,`
    Comma,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `:`
    Colon,
    /// `=`
    Eql,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    Eqlc,
    /// `!=`
    Neq,
    /// `<=`
    Lte,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `>`
    Gtr,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    /// `@`
    At,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// `atan2`
    Atan2,
    /// An aggregation keyword.
    Agg(AggKw),
    /// `offset`
    Offset,
    /// `by`
    By,
    /// `without`
    Without,
    /// `on`
    On,
    /// `ignoring`
    Ignoring,
    /// `group_left`
    GroupLeft,
    /// `group_right`
    GroupRight,
    /// `bool`
    Bool,
    /// `start`
    Start,
    /// `end`
    End,
    /// A plain identifier.
    Identifier,
    /// An identifier containing `:`.
    MetricIdentifier,
    /// A string literal; the payload is the unquoted value.
    Str(String),
    /// A number literal (including `Inf`/`NaN`).
    Number,
    /// A duration literal such as `1h30m`.
    Duration,
}

/// A token with its byte range in the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// Kind (and payload).
    pub tok: Tok,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Token {
    /// The token's source text.
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        &input[self.start.min(input.len())..self.end.min(input.len())]
    }

    /// Describes the token as Prometheus does after "unexpected ".
    pub fn describe(&self, input: &str) -> String {
        let text = self.text(input);
        match &self.tok {
            Tok::Eof => "end of input".to_string(),
            Tok::Error(m) => m.clone(),
            Tok::Identifier => format!("identifier {}", go_quote(text)),
            Tok::MetricIdentifier => format!("metric identifier {}", go_quote(text)),
            Tok::Number => format!("number {}", go_quote(text)),
            Tok::Duration => format!("duration {}", go_quote(text)),
            Tok::Str(_) => {
                if text.len() > 10 {
                    let short: String = text.chars().take(10).collect();
                    format!("string {}...", go_quote(&short))
                } else {
                    format!("string {}", go_quote(text))
                }
            }
            Tok::Add
            | Tok::Sub
            | Tok::Mul
            | Tok::Div
            | Tok::Mod
            | Tok::Pow
            | Tok::Eqlc
            | Tok::Neq
            | Tok::Lte
            | Tok::Lss
            | Tok::Gte
            | Tok::Gtr
            | Tok::EqlRegex
            | Tok::NeqRegex
            | Tok::At
            | Tok::And
            | Tok::Or
            | Tok::Unless
            | Tok::Atan2 => format!("<op:{text}>"),
            Tok::Agg(_) => format!("<aggr:{text}>"),
            Tok::Offset
            | Tok::By
            | Tok::Without
            | Tok::On
            | Tok::Ignoring
            | Tok::GroupLeft
            | Tok::GroupRight
            | Tok::Bool => format!("<{text}>"),
            Tok::Comma
            | Tok::LParen
            | Tok::RParen
            | Tok::LBrace
            | Tok::RBrace
            | Tok::LBracket
            | Tok::RBracket
            | Tok::Colon
            | Tok::Eql
            | Tok::Start
            | Tok::End => go_quote(text),
        }
    }
}

/// Quotes a string the way Go's `%q` does (printable characters kept, others escaped).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_go_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Quotes a rune the way Go's `%q` does, e.g. `'~'`.
pub fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_go_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Formats a rune the way Go's `%#U` does, e.g. `U+0063 'c'`.
fn go_unicode(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

fn push_go_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if c.is_control() || c == '\u{feff}' => {
            if (c as u32) < 0x10000 {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push_str(&format!("\\U{:08x}", c as u32));
            }
        }
        c => out.push(c),
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// Keyword lookup (case-insensitive), as Prometheus's `key` table.
fn keyword(word: &str) -> Option<Tok> {
    use super::ast::AggregateOp as A;
    let lower = word.to_ascii_lowercase();
    Some(match lower.as_str() {
        "and" => Tok::And,
        "or" => Tok::Or,
        "unless" => Tok::Unless,
        "atan2" => Tok::Atan2,
        "sum" => Tok::Agg(AggKw::Op(A::Sum)),
        "avg" => Tok::Agg(AggKw::Op(A::Avg)),
        "count" => Tok::Agg(AggKw::Op(A::Count)),
        "min" => Tok::Agg(AggKw::Op(A::Min)),
        "max" => Tok::Agg(AggKw::Op(A::Max)),
        "group" => Tok::Agg(AggKw::Op(A::Group)),
        "stddev" => Tok::Agg(AggKw::Op(A::Stddev)),
        "stdvar" => Tok::Agg(AggKw::Op(A::Stdvar)),
        "topk" => Tok::Agg(AggKw::Op(A::Topk)),
        "bottomk" => Tok::Agg(AggKw::Op(A::Bottomk)),
        "count_values" => Tok::Agg(AggKw::Op(A::CountValues)),
        "quantile" => Tok::Agg(AggKw::Op(A::Quantile)),
        "limitk" => Tok::Agg(AggKw::Limitk),
        "limit_ratio" => Tok::Agg(AggKw::LimitRatio),
        "offset" => Tok::Offset,
        "by" => Tok::By,
        "without" => Tok::Without,
        "on" => Tok::On,
        "ignoring" => Tok::Ignoring,
        "group_left" => Tok::GroupLeft,
        "group_right" => Tok::GroupRight,
        "bool" => Tok::Bool,
        "start" => Tok::Start,
        "end" => Tok::End,
        "inf" | "nan" => Tok::Number,
        _ => return None,
    })
}

/// True if `word` is lexed as a keyword or number rather than an identifier.
pub fn is_keyword(word: &str) -> bool {
    keyword(word).is_some()
}

fn ident_run(s: &str) -> IResult<&str, &str> {
    take_while(|c: char| is_alnum(c) || c == ':')(s)
}

fn label_run(s: &str) -> IResult<&str, &str> {
    take_while(is_alnum)(s)
}

fn space_run(s: &str) -> IResult<&str, &str> {
    take_while(is_space)(s)
}

/// Length of the run matched by a `nom` recogniser at the start of `s`.
fn run_len(f: fn(&str) -> IResult<&str, &str>, s: &str) -> usize {
    match f(s) {
        Ok((_, m)) => m.len(),
        Err(_) => 0,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Statements,
    /// Right after `[` until the first number/duration.
    DurationExpr,
}

/// The lexer state, mirroring Prometheus's.
struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    width: usize,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    got_duration: bool,
    mode: Mode,
}

/// What Go prints for the end-of-input rune in `%q`.
const EOF: char = '\u{FFFD}';

impl<'a> Lexer<'a> {
    fn next(&mut self) -> Option<char> {
        match self.input[self.pos..].chars().next() {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn is(&self, valid: &str) -> bool {
        self.peek().is_some_and(|c| valid.contains(c))
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn token(&mut self, tok: Tok) -> Token {
        let t = Token {
            tok,
            start: self.start,
            end: self.pos,
        };
        self.start = self.pos;
        t
    }

    fn error(&mut self, msg: String) -> Token {
        Token {
            tok: Tok::Error(msg),
            start: self.start,
            end: self.input.len(),
        }
    }

    /// Produces the next significant token (comments and spaces are skipped).
    fn next_token(&mut self) -> Token {
        loop {
            if let Some(t) = self.step() {
                return t;
            }
        }
    }

    /// One lexer step; `None` when only whitespace or a comment was consumed.
    fn step(&mut self) -> Option<Token> {
        self.start = self.pos;
        let rest = &self.input[self.pos..];
        if rest.starts_with('#') {
            let len = rest.find(['\n', '\r']).unwrap_or(rest.len());
            self.pos += len;
            return None;
        }
        let sp = run_len(space_run, rest);
        if sp > 0 {
            self.pos += sp;
            return None;
        }
        if self.brace_open {
            return Some(self.inside_braces());
        }
        if self.mode == Mode::DurationExpr {
            return Some(self.duration_expr());
        }
        Some(self.statements())
    }

    fn statements(&mut self) -> Token {
        let Some(r) = self.next() else {
            if self.paren_depth != 0 {
                return self.error("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.error("unclosed left bracket".into());
            }
            return self.token(Tok::Eof);
        };
        match r {
            ',' => self.token(Tok::Comma),
            '*' => self.token(Tok::Mul),
            '/' => self.token(Tok::Div),
            '%' => self.token(Tok::Mod),
            '+' => self.token(Tok::Add),
            '-' => self.token(Tok::Sub),
            '^' => self.token(Tok::Pow),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.token(Tok::Eqlc)
                }
                Some('~') => self.error("unexpected character after '=': '~'".into()),
                _ => self.token(Tok::Eql),
            },
            '!' => match self.next() {
                Some('=') => self.token(Tok::Neq),
                other => self.error(format!(
                    "unexpected character after '!': {}",
                    go_quote_rune(other.unwrap_or(EOF))
                )),
            },
            '<' => {
                if self.peek() == Some('=') {
                    self.next();
                    self.token(Tok::Lte)
                } else {
                    self.token(Tok::Lss)
                }
            }
            '>' => {
                if self.peek() == Some('=') {
                    self.next();
                    self.token(Tok::Gte)
                } else {
                    self.token(Tok::Gtr)
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.backup();
                self.number_or_duration()
            }
            '"' | '\'' => self.string(r),
            '`' => self.raw_string(),
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.backup();
                    return self.keyword_or_identifier();
                }
                if c == ':' {
                    if self.got_colon {
                        return self.error("unexpected colon ':'".into());
                    }
                    self.got_colon = true;
                    return self.token(Tok::Colon);
                }
                if let Some(t) = self.duration_keyword() {
                    return t;
                }
                self.error(format!(
                    "unexpected character: {}, expected ':'",
                    go_quote_rune(c)
                ))
            }
            '(' => {
                self.paren_depth += 1;
                self.token(Tok::LParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus reports this one just after the parenthesis.
                    self.start = self.pos;
                    return self.error("unexpected right parenthesis ')'".into());
                }
                self.token(Tok::RParen)
            }
            '{' => {
                self.brace_open = true;
                self.token(Tok::LBrace)
            }
            '[' => {
                if self.bracket_open {
                    return self.error("unexpected left bracket '['".into());
                }
                self.got_colon = false;
                self.got_duration = false;
                self.bracket_open = true;
                self.mode = Mode::DurationExpr;
                self.token(Tok::LBracket)
            }
            ']' => {
                if !self.bracket_open {
                    return self.error("unexpected right bracket ']'".into());
                }
                self.bracket_open = false;
                self.token(Tok::RBracket)
            }
            '@' => self.token(Tok::At),
            c => self.error(format!("unexpected character: {}", go_quote_rune(c))),
        }
    }

    /// `step`, `range`, `min_of`, `max_of` inside brackets: experimental duration
    /// expressions, which Strata does not enable. Returns an error token if the word is one
    /// of them, `None` otherwise.
    fn duration_keyword(&mut self) -> Option<Token> {
        let save = self.pos;
        self.pos = self.start;
        let len = run_len(label_run, &self.input[self.pos..]);
        let word = self.input[self.pos..self.pos + len].to_ascii_lowercase();
        if matches!(word.as_str(), "step" | "range" | "min_of" | "max_of") {
            self.pos += len;
            return Some(self.error("experimental duration expression is not enabled".into()));
        }
        self.pos = save;
        None
    }

    fn duration_expr(&mut self) -> Token {
        let Some(r) = self.next() else {
            return self.error("unexpected end of input in duration expression".into());
        };
        match r {
            ']' => {
                self.bracket_open = false;
                self.got_colon = false;
                self.mode = Mode::Statements;
                self.token(Tok::RBracket)
            }
            ':' => {
                if !self.got_duration {
                    return self
                        .error("unexpected colon before duration in duration expression".into());
                }
                if self.got_colon {
                    return self.error("unexpected repeated colon in duration expression".into());
                }
                self.got_colon = true;
                self.token(Tok::Colon)
            }
            '(' => {
                self.paren_depth += 1;
                self.token(Tok::LParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus reports this one just after the parenthesis.
                    self.start = self.pos;
                    return self.error("unexpected right parenthesis ')'".into());
                }
                self.token(Tok::RParen)
            }
            '+' => self.token(Tok::Add),
            '-' => self.token(Tok::Sub),
            '*' => self.token(Tok::Mul),
            '/' => self.token(Tok::Div),
            '%' => self.token(Tok::Mod),
            '^' => self.token(Tok::Pow),
            ',' => self.token(Tok::Comma),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.backup();
                self.got_duration = true;
                self.mode = Mode::Statements;
                self.number_or_duration()
            }
            c => {
                if is_alpha(c) {
                    if let Some(t) = self.duration_keyword() {
                        return t;
                    }
                }
                self.error(format!(
                    "unexpected character in duration expression: {}",
                    go_quote_rune(c)
                ))
            }
        }
    }

    fn inside_braces(&mut self) -> Token {
        let Some(r) = self.next() else {
            return self.error("unexpected end of input inside braces".into());
        };
        match r {
            c if is_alpha(c) => {
                self.backup();
                let len = run_len(label_run, &self.input[self.pos..]);
                self.pos += len;
                self.token(Tok::Identifier)
            }
            ',' => self.token(Tok::Comma),
            '"' | '\'' => self.string(r),
            '`' => self.raw_string(),
            '=' => {
                if self.peek() == Some('~') {
                    self.next();
                    self.token(Tok::EqlRegex)
                } else {
                    self.token(Tok::Eql)
                }
            }
            '!' => match self.next() {
                Some('~') => self.token(Tok::NeqRegex),
                Some('=') => self.token(Tok::Neq),
                other => self.error(format!(
                    "unexpected character after '!' inside braces: {}",
                    go_quote_rune(other.unwrap_or(EOF))
                )),
            },
            '{' => self.error("unexpected left brace '{'".into()),
            '}' => {
                self.brace_open = false;
                self.token(Tok::RBrace)
            }
            c => self.error(format!(
                "unexpected character inside braces: {}",
                go_quote_rune(c)
            )),
        }
    }

    fn keyword_or_identifier(&mut self) -> Token {
        let len = run_len(ident_run, &self.input[self.pos..]);
        self.pos += len;
        let word = &self.input[self.start..self.pos];
        if let Some(kw) = keyword(word) {
            return self.token(kw);
        }
        if word.contains(':') {
            self.token(Tok::MetricIdentifier)
        } else {
            self.token(Tok::Identifier)
        }
    }

    fn number_or_duration(&mut self) -> Token {
        if self.scan_number() {
            return self.token(Tok::Number);
        }
        if self.accept_remaining_duration() {
            self.backup();
            return self.token(Tok::Duration);
        }
        let text = self.input[self.start..self.pos].to_string();
        self.error(format!(
            "bad number or duration syntax: {}",
            go_quote(&text)
        ))
    }

    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        !self.next().is_some_and(is_alnum)
    }

    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        let mut hex = false;
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
            hex = true;
        }
        self.accept(".");
        self.accept(digits);
        let mut dot = false;
        let mut exp = false;
        let all = format!("{digits}._eE");
        while self.is(&all) {
            if self.is(".") && dot {
                self.accept(".");
                return false;
            }
            if self.is("eE") && exp {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot = true;
                if self.accept("_.") {
                    return false;
                }
                if hex {
                    return false;
                }
                continue;
            }
            if self.accept("eE") {
                exp = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alnum)
    }

    fn string(&mut self, quote: char) -> Token {
        let mut value: Vec<u8> = Vec::new();
        loop {
            match self.next() {
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some('\\') => {
                    if let Err(msg) = self.escape(quote, &mut value) {
                        return self.error(msg);
                    }
                }
                Some(c) if c == quote => break,
                Some(c) => {
                    let mut buf = [0u8; 4];
                    value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        match String::from_utf8(value) {
            Ok(s) => self.token(Tok::Str(s)),
            Err(e) => {
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                self.error(format!(
                    "invalid UTF-8 in string {}: Strata strings must be valid UTF-8",
                    go_quote(&lossy)
                ))
            }
        }
    }

    /// Handles one escape after a backslash, appending the bytes it stands for.
    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(ch) = self.next() else {
            return Err("escape sequence not terminated".into());
        };
        let simple = match ch {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (mut n, base, max, is_byte, mut ch) = match ch {
            '0'..='7' => (3, 8, 255, true, Some(ch)),
            'x' => (2, 16, 255, true, self.next()),
            'u' => (4, 16, 0x10ffff, false, self.next()),
            'U' => (8, 16, 0x10ffff, false, self.next()),
            c => return Err(format!("unknown escape sequence {}", go_unicode(c))),
        };
        let mut x: u32 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return match ch {
                    None => Err("escape sequence not terminated".into()),
                    Some(c) => Err(format!(
                        "illegal character {} in escape sequence",
                        go_unicode(c)
                    )),
                };
            }
            x = x * base + d;
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        if is_byte {
            out.push(x as u8);
        } else {
            // Checked above: a valid scalar value.
            let c = char::from_u32(x)
                .ok_or_else(|| "escape sequence is an invalid Unicode code point".to_string())?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        Ok(())
    }

    fn raw_string(&mut self) -> Token {
        let rest = &self.input[self.pos..];
        match rest.find('`') {
            Some(i) => {
                let value = rest[..i].to_string();
                self.pos += i + 1;
                self.token(Tok::Str(value))
            }
            None => {
                self.pos = self.input.len();
                self.error("unterminated raw string".into())
            }
        }
    }
}

/// Tokenizes `input`. The last token is [`Tok::Eof`] or [`Tok::Error`].
pub fn tokenize(input: &str) -> Vec<Token> {
    let mut lx = Lexer {
        input,
        pos: 0,
        start: 0,
        width: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        got_duration: false,
        mode: Mode::Statements,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token();
        let last = matches!(t.tok, Tok::Eof | Tok::Error(_));
        out.push(t);
        if last {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    fn err(s: &str) -> String {
        match tokenize(s).pop().map(|t| t.tok) {
            Some(Tok::Error(m)) => m,
            other => panic!("expected a lexer error for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(kinds("1 0x1f 1e3 .5 Inf nAn 1_000"), {
            let mut v = vec![Tok::Number; 7];
            v.push(Tok::Eof);
            v
        });
        assert_eq!(
            kinds("5m 1h30m 100ms"),
            vec![Tok::Duration, Tok::Duration, Tok::Duration, Tok::Eof]
        );
        assert_eq!(err("2.5."), "bad number or duration syntax: \"2.5.\"");
        assert_eq!(err("100..4"), "bad number or duration syntax: \"100..\"");
        assert_eq!(err("0deadbeef"), "bad number or duration syntax: \"0de\"");
        assert_eq!(err("foo[5mm]"), "bad number or duration syntax: \"5mm\"");
    }

    #[test]
    fn strings_unquote_go_escapes() {
        assert_eq!(
            kinds(r#""a\n\x41\u00e9\101\"" 'b\'' `c\n`"#),
            vec![
                Tok::Str("a\nA\u{e9}A\"".into()),
                Tok::Str("b'".into()),
                Tok::Str("c\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(err(r#""\c""#), "unknown escape sequence U+0063 'c'");
        assert_eq!(
            err(r#""\x.""#),
            "illegal character U+002E '.' in escape sequence"
        );
        assert_eq!(err("\"\\"), "escape sequence not terminated");
        assert_eq!(err("\"abc"), "unterminated quoted string");
        assert_eq!(err("`abc"), "unterminated raw string");
    }

    #[test]
    fn braces_and_brackets() {
        assert_eq!(
            err("foo{a*\"b\"}"),
            "unexpected character inside braces: '*'"
        );
        assert_eq!(err("{"), "unexpected end of input inside braces");
        assert_eq!(
            err("foo[\"5m\"]"),
            "unexpected character in duration expression: '\"'"
        );
        assert_eq!(
            err("foo[5s x 5s]"),
            "unexpected character: 'x', expected ':'"
        );
        assert_eq!(err("(1))"), "unexpected right parenthesis ')'");
        assert_eq!(err("((1)"), "unclosed left parenthesis");
        assert_eq!(err("1 !~ 1"), "unexpected character after '!': '~'");
        assert_eq!(
            kinds("sum BY on # comment\n x:y"),
            vec![
                Tok::Agg(AggKw::Op(crate::parser::ast::AggregateOp::Sum)),
                Tok::By,
                Tok::On,
                Tok::MetricIdentifier,
                Tok::Eof
            ]
        );
    }
}
