//! The template parser: tokens from [`super::lex`] into the tree that [`super::exec`] walks.
//!
//! It follows Go's `text/template/parse`: actions hold pipelines of commands; `if`, `range`
//! and `with` (with `else`, `else if`, `else with`) hold lists of nodes; `define`, `block` and
//! `template` name sub-templates; `break` and `continue` are only valid inside `range`.
//! Functions must exist and variables must be declared before use, both checked here, so an
//! unknown name is a parse error with a position, as in Go.
//!
//! Invariants: every node records the byte offset where it starts; `Display` of a node prints
//! it the way Go's `Node.String` does (error messages quote nodes); nesting deeper than
//! [`MAX_DEPTH`] is an error rather than a stack overflow.

use std::collections::HashMap;
use std::fmt;

use super::lex::{lex, Item, Kind};

/// Deepest nesting of parentheses and control structures accepted.
pub(crate) const MAX_DEPTH: usize = 200;

/// A node of a template body.
#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `range` and `with`.
#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline, possibly declaring (`:=`) or assigning (`=`) variables.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// One stage of a pipeline: a function, field, variable or constant with its arguments.
#[derive(Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A parsed number constant, with every Go type it fits (as Go's `NumberNode`).
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub uint: Option<u64>,
    pub float: Option<f64>,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Arg {
    /// `.A.B` (field names without dots)
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A.B` (`idents[0]` is the variable, `$` included)
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `(pipeline).A.B`
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Identifier {
        pos: usize,
        name: String,
    },
    Pipe {
        pos: usize,
        pipe: Box<Pipe>,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        num: Number,
    },
    /// A string constant: source text (with quotes) and value.
    Str {
        pos: usize,
        quoted: String,
        text: String,
    },
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Pipe { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::Str { pos, .. } => *pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe { pipe, .. } => write!(f, "({pipe})")?,
                    n => write!(f, "{n}")?,
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Pipe { pipe, .. } => write!(f, "({pipe})"),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { val, .. } => write!(f, "{val}"),
            Arg::Number { num, .. } => f.write_str(&num.text),
            Arg::Str { quoted, .. } => f.write_str(quoted),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A parse failure: byte offset and Go's message (without the `template: NAME:LINE:` prefix).
#[derive(Debug)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub msg: String,
}

type PResult<T> = Result<T, ParseError>;

/// A parsed template: its body and the templates it defines.
#[derive(Debug)]
pub(crate) struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

/// Parses `src`; `has_func` says whether a function name exists.
pub(crate) fn parse(src: &str, has_func: &dyn Fn(&str) -> bool) -> PResult<Tree> {
    let mut p = Parser {
        items: lex(src),
        idx: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        has_func,
        defines: HashMap::new(),
    };
    let root = p.top()?;
    Ok(Tree {
        root,
        defines: p.defines,
    })
}

/// What ended a list of nodes.
enum Stop {
    End(usize),
    Else(usize),
}

struct Parser<'a> {
    items: Vec<Item>,
    idx: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    has_func: &'a dyn Fn(&str) -> bool,
    defines: HashMap<String, Vec<Node>>,
}

fn err<T>(pos: usize, msg: impl Into<String>) -> PResult<T> {
    Err(ParseError {
        pos,
        msg: msg.into(),
    })
}

impl Parser<'_> {
    fn peek(&self) -> &Item {
        &self.items[self.idx.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        it
    }

    fn backup(&mut self, n: usize) {
        self.idx -= n;
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.kind != Kind::Space {
                return it;
            }
        }
    }

    /// The next non-space token, left unconsumed (the spaces before it are consumed).
    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup(1);
        it
    }

    /// "unexpected X in CONTEXT", or the lexer's message for an error token.
    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        if it.kind == Kind::Error {
            return err(it.pos, it.val.clone());
        }
        err(it.pos, format!("unexpected {it} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if it.kind != kind {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    fn enter(&mut self, pos: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(pos, format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let start = self.idx;
                self.next();
                let t = self.next_non_space();
                if t.kind == Kind::Define {
                    self.definition()?;
                    continue;
                }
                self.idx = start;
            }
            match self.text_or_action()? {
                Ok(n) => root.push(n),
                Err(Stop::End(pos)) => return err(pos, "unexpected {{end}}"),
                Err(Stop::Else(pos)) => return err(pos, "unexpected {{else}}"),
            }
        }
        Ok(root)
    }

    fn definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let name = self.next_non_space();
        let name = match name.kind {
            Kind::String | Kind::RawString => unquote(&name.val).map_err(|m| ParseError {
                pos: name.pos,
                msg: m,
            })?,
            _ => return self.unexpected(&name, CONTEXT),
        };
        self.expect(Kind::RightDelim, CONTEXT)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, stop) = self.item_list()?;
        self.vars = saved;
        if let Stop::Else(pos) = stop {
            return err(pos, format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.defines.insert(name, list);
        Ok(())
    }

    /// A text node, an action, or the `{{end}}` / `{{else}}` that closes a list.
    fn text_or_action(&mut self) -> PResult<Result<Node, Stop>> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Text => Ok(Ok(Node::Text(it.val))),
            Kind::LeftDelim => self.action(),
            _ => self.unexpected(&it, "input"),
        }
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Stop)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Ok(n) => list.push(n),
                Err(stop) => return Ok((list, stop)),
            }
        }
        let eof = self.peek().clone();
        if eof.kind == Kind::Error {
            return err(eof.pos, eof.val);
        }
        err(eof.pos, "unexpected EOF")
    }

    fn action(&mut self) -> PResult<Result<Node, Stop>> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Block => return self.block(it.pos).map(Ok),
            Kind::Break | Kind::Continue => {
                let word = if it.kind == Kind::Break {
                    "break"
                } else {
                    "continue"
                };
                if self.range_depth == 0 {
                    return err(it.pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                let t = self.next_non_space();
                if t.kind != Kind::RightDelim {
                    return self.unexpected(&t, &format!("{{{{{word}}}}}"));
                }
                return Ok(Ok(if it.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Kind::Else => return self.else_control(it.pos).map(Err),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Err(Stop::End(it.pos)));
            }
            Kind::If => return self.control("if", it.pos).map(|b| Ok(Node::If(b))),
            Kind::Range => return self.control("range", it.pos).map(|b| Ok(Node::Range(b))),
            Kind::With => return self.control("with", it.pos).map(|b| Ok(Node::With(b))),
            Kind::Template => return self.template_control().map(Ok),
            _ => {}
        }
        self.backup(1);
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Ok(Node::Action { pos, pipe }))
    }

    fn else_control(&mut self, pos: usize) -> PResult<Stop> {
        // "else if" / "else with": leave the keyword for the enclosing control.
        let p = self.peek_non_space();
        if p.kind == Kind::If || p.kind == Kind::With {
            return Ok(Stop::Else(pos));
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Stop::Else(pos))
    }

    fn control(&mut self, context: &str, pos: usize) -> PResult<Branch> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, stop) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Stop::Else(_) = stop {
            let kw = self.peek_non_space();
            let chained = (context == "if" && kw.kind == Kind::If)
                || (context == "with" && kw.kind == Kind::With);
            if chained {
                let kw = self.next_non_space();
                let inner = self.control(context, kw.pos)?;
                else_list = Some(vec![if context == "if" {
                    Node::If(inner)
                } else {
                    Node::With(inner)
                }]);
            } else {
                let (l, stop) = self.item_list()?;
                if let Stop::Else(p) = stop {
                    return err(p, "expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, context: &str) -> PResult<String> {
        let t = self.next_non_space();
        match t.kind {
            Kind::String | Kind::RawString => {
                unquote(&t.val).map_err(|m| ParseError { pos: t.pos, msg: m })
            }
            _ => self.unexpected(&t, context),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let pos = self.peek_non_space().pos;
        let name = self.template_name(CONTEXT)?;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup(1);
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block(&mut self, pos: usize) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let name = self.template_name(CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, stop) = self.item_list()?;
        self.vars = saved;
        if let Stop::Else(p) = stop {
            return err(p, format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.defines.insert(name.clone(), list);
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let mut pipe = Pipe {
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: "$x :=", "$x =", "$i, $e :=" (range only).
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let start = self.idx;
            self.next();
            let after = self.peek().clone();
            let nxt = self.peek_non_space();
            match nxt.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = nxt.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                Kind::Char if nxt.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        let k = self.peek_non_space().kind;
                        if matches!(k, Kind::Variable | Kind::RightDelim | Kind::RightParen) {
                            continue;
                        }
                        return err(nxt.pos, "range can only initialize variables");
                    }
                    return err(nxt.pos, format!("too many declarations in {context}"));
                }
                _ => {
                    let _ = after;
                    self.idx = start;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            match t.kind {
                k if k == end => {
                    if pipe.cmds.is_empty() {
                        return err(t.pos, format!("missing value for {context}"));
                    }
                    for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                        if matches!(
                            c.args[0],
                            Arg::Bool { .. }
                                | Arg::Dot { .. }
                                | Arg::Nil { .. }
                                | Arg::Number { .. }
                                | Arg::Str { .. }
                        ) {
                            return err(
                                c.pos,
                                format!("non executable command in pipeline stage {}", i + 1),
                            );
                        }
                    }
                    return Ok(pipe);
                }
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup(1);
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(1),
                Kind::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return err(pos, "empty command");
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            fields.push(self.next().val[1..].to_string());
        }
        // As in Go, a field or variable extended by fields takes the position of the chain
        // (its first added field).
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            n @ (Arg::Bool { .. }
            | Arg::Str { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. }) => {
                return err(pos, format!("unexpected . after term {}", quote_node(&n)));
            }
            n => Arg::Chain {
                pos,
                node: Box::new(n),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !(self.has_func)(&t.val) {
                    return err(
                        pos,
                        format!("function {} not defined", super::gofmt::quote(&t.val)),
                    );
                }
                Arg::Identifier { pos, name: t.val }
            }
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                let idents: Vec<String> = t.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return err(
                        pos,
                        format!("undefined variable {}", super::gofmt::quote(&idents[0])),
                    );
                }
                Arg::Variable { pos, idents }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: vec![t.val[1..].to_string()],
            },
            Kind::Bool => Arg::Bool {
                pos,
                val: t.val == "true",
            },
            Kind::CharConstant | Kind::Number | Kind::Complex => Arg::Number {
                pos,
                num: number(&t.val, t.kind).map_err(|msg| ParseError { pos, msg })?,
            },
            Kind::LeftParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe {
                    pos,
                    pipe: Box::new(pipe),
                }
            }
            Kind::String | Kind::RawString => Arg::Str {
                pos,
                text: unquote(&t.val).map_err(|msg| ParseError { pos, msg })?,
                quoted: t.val,
            },
            _ => {
                self.backup(1);
                return Ok(None);
            }
        }))
    }
}

fn quote_node(n: &Arg) -> String {
    super::gofmt::quote(&n.to_string())
}

/// Go's `strconv.Unquote` for `"..."`, `` `...` `` and `'.'` literals.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    const SYNTAX: &str = "invalid syntax";
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b[b.len() - 1] {
        return Err(SYNTAX.into());
    }
    let q = b[0];
    let body = &s[1..s.len() - 1];
    if q == b'`' {
        if body.contains('`') {
            return Err(SYNTAX.into());
        }
        return Ok(body.replace('\r', ""));
    }
    if q != b'"' && q != b'\'' {
        return Err(SYNTAX.into());
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut count = 0;
    while let Some(c) = chars.next() {
        count += 1;
        if c == q as char || c == '\n' {
            return Err(SYNTAX.into());
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().ok_or(SYNTAX)?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' if q == b'\'' => Some(b'\''),
            '"' if q == b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(v) = simple {
            bytes.push(v);
            continue;
        }
        let mut hex = |n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = chars.next().and_then(|c| c.to_digit(16)).ok_or(SYNTAX)?;
                v = v * 16 + d;
            }
            Ok(v)
        };
        match e {
            'x' => bytes.push(hex(2)? as u8),
            'u' | 'U' => {
                let v = hex(if e == 'u' { 4 } else { 8 })?;
                let c = char::from_u32(v).ok_or(SYNTAX)?;
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars.next().and_then(|c| c.to_digit(8)).ok_or(SYNTAX)?;
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err(SYNTAX.into());
                }
                bytes.push(v as u8);
            }
            _ => return Err(SYNTAX.into()),
        }
    }
    if q == b'\'' && count != 1 {
        return Err(SYNTAX.into());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint`: sign, `0x`/`0o`/`0b`/leading-`0` bases,
/// underscores between digits.
fn parse_int(s: &str) -> Option<i128> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower)
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let v = i128::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if neg { -v } else { v })
}

/// A number token as Go's parser reads it (`newNumber`).
fn number(text: &str, kind: Kind) -> Result<Number, String> {
    let mut n = Number {
        text: text.to_string(),
        int: None,
        uint: None,
        float: None,
    };
    if kind == Kind::CharConstant {
        let s = unquote(text)?;
        let c = s.chars().next().ok_or("invalid syntax")? as i64;
        n.int = Some(c);
        n.uint = Some(c as u64);
        n.float = Some(c as f64);
        return Ok(n);
    }
    if kind == Kind::Complex || text.ends_with('i') {
        return Err(format!(
            "complex constant {} not supported",
            super::gofmt::quote(text)
        ));
    }
    if let Some(v) = parse_int(text) {
        n.int = i64::try_from(v).ok();
        n.uint = u64::try_from(v).ok();
        if n.int.is_some() || n.uint.is_some() {
            n.float = Some(v as f64);
            return Ok(n);
        }
    }
    let clean = text.replace('_', "");
    match clean.parse::<f64>() {
        Ok(f) if f.is_finite() => {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {}", super::gofmt::quote(text)));
            }
            n.float = Some(f);
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                n.int = Some(f as i64);
            }
            if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
                n.uint = Some(f as u64);
            }
            Ok(n)
        }
        _ => Err(format!(
            "illegal number syntax: {}",
            super::gofmt::quote(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<Tree, ParseError> {
        parse(src, &|n| {
            matches!(n, "printf" | "len" | "humanize" | "query" | "first")
        })
    }

    #[test]
    fn prints_nodes_as_go_does() {
        let t =
            p(r#"{{ $x := .Labels.job | printf "%s-%d" 3 }}{{ (query "up" | first).Labels.a }}"#)
                .unwrap();
        let Node::Action { pipe, .. } = &t.root[0] else {
            panic!()
        };
        assert_eq!(pipe.to_string(), r#"$x := .Labels.job | printf "%s-%d" 3"#);
        let Node::Action { pipe, .. } = &t.root[1] else {
            panic!()
        };
        assert_eq!(pipe.to_string(), r#"(query "up" | first).Labels.a"#);
    }

    #[test]
    fn errors_have_positions_and_go_messages() {
        let cases: &[(&str, usize, &str)] = &[
            ("{{", 2, "unclosed action"),
            ("ab{{ nope 1 }}", 5, "function \"nope\" not defined"),
            ("{{ $y }}", 3, "undefined variable \"$y\""),
            ("{{ if 1 }}x", 11, "unexpected EOF"),
            ("{{ end }}", 3, "unexpected {{end}}"),
            ("{{ else }}", 3, "unexpected {{else}}"),
            ("{{ break }}", 3, "{{break}} outside {{range}}"),
            (
                "{{ 1 | 2 }}",
                7,
                "non executable command in pipeline stage 2",
            ),
            ("{{ }}", 3, "missing value for command"),
            ("{{ \"a\".x }}", 6, "unexpected . after term \"\\\"a\\\"\""),
            ("{{ 1 ) }}", 5, "unexpected \")\" in command"),
            (
                "{{ 99999999999999999999 }}",
                3,
                "integer overflow: \"99999999999999999999\"",
            ),
            ("{{ \"\\q\" }}", 3, "invalid syntax"),
        ];
        for &(src, pos, msg) in cases {
            match p(src) {
                Ok(_) => panic!("{src:?} parsed"),
                Err(e) => {
                    assert_eq!(e.msg, msg, "{src:?}");
                    assert_eq!(e.pos, pos, "{src:?}");
                }
            }
        }
    }

    #[test]
    fn numbers_and_strings() {
        let n = number("0x1F", Kind::Number).unwrap();
        assert_eq!((n.int, n.float), (Some(31), Some(31.0)));
        let n = number("1.0", Kind::Number).unwrap();
        assert_eq!((n.int, n.float), (Some(1), Some(1.0)));
        let n = number("1.5", Kind::Number).unwrap();
        assert_eq!((n.int, n.float), (None, Some(1.5)));
        let n = number("'a'", Kind::CharConstant).unwrap();
        assert_eq!(n.int, Some(97));
        assert_eq!(number("1_000", Kind::Number).unwrap().int, Some(1000));
        assert_eq!(unquote(r#""a\tb\x41\u00e9\101""#).unwrap(), "a\tbA\u{e9}A");
        assert_eq!(unquote("`a\\n`").unwrap(), "a\\n");
        assert!(unquote(r#""\'""#).is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
        assert!(p(&deep).unwrap_err().msg.starts_with("nesting deeper than"));
    }
}
