//! The template lexer: Go `text/template` tokens with byte positions.
//!
//! Text runs until `{{`; inside an action the lexer yields spaces (they separate arguments),
//! identifiers, `.Field`s, `$variables`, strings, raw strings, character constants, numbers,
//! `|`, `(`, `)`, `:=`, `=`, `,` and keywords. `{{- ` trims the white space before the action
//! and ` -}}` the white space after it; `{{/* ... */}}` is a comment (trim markers allowed).
//! Scanning stops at the first error, which becomes the last token.
//!
//! Invariant: positions are byte offsets into the source, so an error's line and column are
//! computed from the text exactly as Go computes them.

/// Kinds of tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Scanning failed; the value is the message.
    Error,
    Bool,
    /// A printable ASCII character inside an action (`,`, ...).
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Kind {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Kind::Block
                | Kind::Break
                | Kind::Continue
                | Kind::Dot
                | Kind::Define
                | Kind::Else
                | Kind::End
                | Kind::If
                | Kind::Nil
                | Kind::Range
                | Kind::Template
                | Kind::With
        )
    }
}

/// One token.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub kind: Kind,
    /// Byte offset of the token's start.
    pub pos: usize,
    /// The token's text (for [`Kind::Error`], the message).
    pub val: String,
}

impl std::fmt::Display for Item {
    /// How Go's parser names a token in "unexpected ..." messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Kind::Eof => f.write_str("EOF"),
            Kind::Error => f.write_str(&self.val),
            k if k.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let short: String = self.val.chars().take(10).collect();
                write!(f, "{}...", super::gofmt::quote(&short))
            }
            _ => f.write_str(&super::gofmt::quote(&self.val)),
        }
    }
}

fn keyword(word: &str) -> Option<Kind> {
    Some(match word {
        "." => Kind::Dot,
        "block" => Kind::Block,
        "break" => Kind::Break,
        "continue" => Kind::Continue,
        "define" => Kind::Define,
        "else" => Kind::Else,
        "end" => Kind::End,
        "if" => Kind::If,
        "range" => Kind::Range,
        "nil" => Kind::Nil,
        "template" => Kind::Template,
        "with" => Kind::With,
        _ => return None,
    })
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// `- ` right after `{{`.
fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// ` -` right before `}}`.
fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Splits `src` into tokens, ending with [`Kind::Eof`] or [`Kind::Error`].
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut l = Lexer {
        src,
        pos: 0,
        start: 0,
        items: Vec::new(),
        paren_depth: 0,
    };
    l.run();
    l.items
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    start: usize,
    items: Vec<Item>,
    paren_depth: i32,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn emit(&mut self, kind: Kind) {
        self.items.push(Item {
            kind,
            pos: self.start,
            val: self.src[self.start..self.pos].to_string(),
        });
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) {
        self.items.push(Item {
            kind: Kind::Error,
            pos: self.start,
            val: msg,
        });
    }

    /// At `}}` or ` -}}`: (at delimiter, with trim marker).
    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if has_right_trim(r) && r[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (r.starts_with(RIGHT), false)
    }

    fn run(&mut self) {
        // Each step returns false when scanning is over (EOF or error).
        let mut inside = false;
        loop {
            let go_on = if inside {
                self.inside_action(&mut inside)
            } else {
                self.text(&mut inside)
            };
            if !go_on {
                return;
            }
        }
    }

    fn text(&mut self, inside: &mut bool) -> bool {
        let Some(x) = self.rest().find(LEFT) else {
            self.pos = self.src.len();
            if self.pos > self.start {
                self.emit(Kind::Text);
            }
            self.emit(Kind::Eof);
            return false;
        };
        self.pos += x;
        let delim_end = self.pos + LEFT.len();
        let mut trim = 0;
        if has_left_trim(&self.src[delim_end..]) {
            let t = &self.src[self.start..self.pos];
            trim = t.len() - t.trim_end_matches(is_space).len();
        }
        self.pos -= trim;
        if self.pos > self.start {
            self.emit(Kind::Text);
        }
        self.pos += trim;
        self.start = self.pos;
        // The left delimiter.
        self.pos += LEFT.len();
        let after = if has_left_trim(self.rest()) { 2 } else { 0 };
        if self.src[self.pos + after..].starts_with("/*") {
            self.pos += after;
            self.start = self.pos;
            return self.comment();
        }
        self.emit(Kind::LeftDelim);
        self.pos += after;
        self.start = self.pos;
        self.paren_depth = 0;
        *inside = true;
        true
    }

    fn comment(&mut self) -> bool {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            self.error("unclosed comment".into());
            return false;
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            self.error("comment ends before closing delimiter".into());
            return false;
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches(is_space).len();
        }
        self.start = self.pos;
        true
    }

    fn right_delim(&mut self, inside: &mut bool) -> bool {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.start = self.pos;
        }
        self.pos += RIGHT.len();
        self.emit(Kind::RightDelim);
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches(is_space).len();
            self.start = self.pos;
        }
        *inside = false;
        true
    }

    fn inside_action(&mut self, inside: &mut bool) -> bool {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.right_delim(inside);
            }
            self.error("unclosed left paren".into());
            return false;
        }
        let Some(c) = self.next() else {
            self.error("unclosed action".into());
            return false;
        };
        match c {
            c if is_space(c) => {
                self.pos -= c.len_utf8();
                return self.space(inside);
            }
            '=' => self.emit(Kind::Assign),
            ':' => {
                if self.next() != Some('=') {
                    self.error("expected :=".into());
                    return false;
                }
                self.emit(Kind::Declare);
            }
            '|' => self.emit(Kind::Pipe),
            '"' => return self.quote(),
            '`' => return self.raw_quote(),
            '$' => return self.field_or_variable(Kind::Variable),
            '\'' => return self.char_constant(),
            '.' if !self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                return self.field_or_variable(Kind::Field);
            }
            '.' | '+' | '-' | '0'..='9' => {
                self.pos -= 1;
                return self.number();
            }
            c if is_alnum(c) => {
                self.pos -= c.len_utf8();
                return self.identifier();
            }
            '(' => {
                self.emit(Kind::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Kind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    self.error("unexpected right paren U+0029 ')'".into());
                    return false;
                }
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(Kind::Char),
            c => {
                self.error(format!(
                    "unrecognized character in action: U+{:04X}",
                    c as u32
                ));
                return false;
            }
        }
        true
    }

    fn space(&mut self, inside: &mut bool) -> bool {
        let mut n = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            n += 1;
        }
        // A trim-marked right delimiter starts with a space: leave that space to it.
        let before = self.pos - 1;
        if has_right_trim(&self.src[before..]) && self.src[before + 2..].starts_with(RIGHT) {
            self.pos = before;
            if n == 1 {
                return self.right_delim(inside);
            }
        }
        self.emit(Kind::Space);
        true
    }

    /// True if the next character may follow an identifier, field or variable.
    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(' | '=') => true,
            Some('}') => true,
            Some(_) => false,
        }
    }

    fn identifier(&mut self) -> bool {
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(bad_character(c));
            return false;
        }
        let word = &self.src[self.start..self.pos];
        let kind = match keyword(word) {
            Some(k) => k,
            None if word == "true" || word == "false" => Kind::Bool,
            None => Kind::Identifier,
        };
        self.emit(kind);
        true
    }

    fn field_or_variable(&mut self, kind: Kind) -> bool {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return true;
        }
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(bad_character(c));
            return false;
        }
        self.emit(kind);
        true
    }

    fn char_constant(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        self.error("unterminated character constant".into());
                        return false;
                    }
                }
                None | Some('\n') => {
                    self.error("unterminated character constant".into());
                    return false;
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::CharConstant);
        true
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return false;
        }
        true
    }

    fn number(&mut self) -> bool {
        if !self.scan_number() {
            let t = super::gofmt::quote(&self.src[self.start..self.pos]);
            self.error(format!("bad number syntax: {t}"));
            return false;
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex: 1+2i.
            if !self.scan_number() || !self.src[..self.pos].ends_with('i') {
                let t = super::gofmt::quote(&self.src[self.start..self.pos]);
                self.error(format!("bad number syntax: {t}"));
                return false;
            }
            self.emit(Kind::Complex);
        } else {
            self.emit(Kind::Number);
        }
        true
    }

    fn quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        self.error("unterminated quoted string".into());
                        return false;
                    }
                }
                None | Some('\n') => {
                    self.error("unterminated quoted string".into());
                    return false;
                }
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::String);
        true
    }

    fn raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => {
                    self.error("unterminated raw quoted string".into());
                    return false;
                }
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::RawString);
        true
    }
}

/// Go's `bad character %#U` message.
fn bad_character(c: char) -> String {
    format!(
        "bad character U+{:04X} {}",
        c as u32,
        super::gofmt::quote_rune(c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src).into_iter().map(|i| (i.kind, i.val)).collect()
    }

    #[test]
    fn actions_and_text() {
        use Kind::*;
        let got = kinds("a {{ $x := .Labels.job | printf \"%s\" }}b");
        let want: Vec<(Kind, &str)> = vec![
            (Text, "a "),
            (LeftDelim, "{{"),
            (Space, " "),
            (Variable, "$x"),
            (Space, " "),
            (Declare, ":="),
            (Space, " "),
            (Field, ".Labels"),
            (Field, ".job"),
            (Space, " "),
            (Pipe, "|"),
            (Space, " "),
            (Identifier, "printf"),
            (Space, " "),
            (String, "\"%s\""),
            (Space, " "),
            (RightDelim, "}}"),
            (Text, "b"),
            (Eof, ""),
        ];
        let want: Vec<(Kind, std::string::String)> =
            want.into_iter().map(|(k, v)| (k, v.into())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn trim_markers_and_comments() {
        use Kind::*;
        let got = kinds("x  \n{{- 3 -}}\n  y{{/* c */}}z {{- /* d */ -}} w");
        let vals: Vec<(Kind, &str)> = got.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            vals,
            vec![
                (Text, "x"),
                (LeftDelim, "{{"),
                (Number, "3"),
                (RightDelim, "}}"),
                (Text, "y"),
                (Text, "z"),
                (Text, "w"),
                (Eof, ""),
            ]
        );
        // "{{-3}}" is the number -3, not a trim marker.
        assert_eq!(kinds("{{-3}}")[1], (Number, "-3".into()));
    }

    #[test]
    fn errors() {
        let last = |s: &str| lex(s).pop().unwrap();
        assert_eq!(last("{{").val, "unclosed action");
        assert_eq!(last("{{ \"abc }}").val, "unterminated quoted string");
        assert_eq!(last("{{/* x }}").val, "unclosed comment");
        assert_eq!(
            last("{{/* x */ }}").val,
            "comment ends before closing delimiter"
        );
        assert_eq!(last("{{ 3x }}").val, "bad number syntax: \"3x\"");
        assert_eq!(
            last("{{ \u{a0} }}").val,
            "unrecognized character in action: U+00A0"
        );
        assert_eq!(last("{{ (1 }}").val, "unclosed left paren");
        assert_eq!(last("{{ .a# }}").val, "bad character U+0023 '#'");
        assert_eq!(last("{{ 1 }}").kind, Kind::Eof);
    }
}
