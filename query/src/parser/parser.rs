//! Recursive-descent PromQL parser with precedence climbing, over the lexer's tokens.
//!
//! Error reporting follows Prometheus: a syntax error (or an error Prometheus raises while
//! building a node, like `unknown function with name "x"`) stops parsing and is reported;
//! type errors (what Prometheus's `checkAST` finds, e.g. `expected type range vector in call
//! to function "rate", got instant vector`) are collected while parsing and only the first
//! is reported, and only when the whole input parsed, so that a later syntax error wins.
//!
//! Precedence (low to high): `or` < `and unless` < comparisons < `+ -` < `* / % atan2` and
//! unary `+ -` < `^` (right-assoc) < postfix `[..]`, `offset`, `@`. A unary minus applied
//! to a number literal folds into the literal (`-1` is `Number(-1)`), as in Prometheus.

use strata_engine::{MatchOp, Matcher};

use super::ast::*;
use super::functions::{self, FunctionSpec};
use super::lexer::{go_quote, tokenize, AggKw, Tok, Token};
use super::ParseOptions;

/// A parse failure: byte range and the bare message (without `line:col: parse error:`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    /// Start byte offset.
    pub start: usize,
    /// End byte offset.
    pub end: usize,
    /// Prometheus-style message.
    pub msg: String,
}

type PResult<T> = Result<T, ParseFailure>;

/// An expression with its byte range.
struct Node {
    expr: Expr,
    start: usize,
    end: usize,
    /// Height of the tree under this node (a leaf is 1).
    depth: usize,
}

struct BinModifiers {
    return_bool: bool,
    /// `Some(on)` if `on`/`ignoring` was written.
    on: Option<bool>,
    labels: Vec<String>,
    card: Cardinality,
    end: usize,
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    i: usize,
    opts: ParseOptions,
    type_errors: Vec<ParseFailure>,
    depth: usize,
}

/// Deepest expression tree accepted. Every pass over the tree (printing, evaluating,
/// dropping) recurses, so this bounds the stack that hostile input can make any of them use;
/// a chain of 500 `or` terms is still fine.
pub const MAX_DEPTH: usize = 512;

/// Deepest nesting of the parser's own recursion (parentheses, unary operators, right
/// operands of `^`, arguments), whose frames are larger than those of a tree walk.
pub const MAX_NESTING: usize = 128;

/// Milliseconds in one second, for durations given as float seconds.
const MS_PER_S: f64 = 1000.0;
/// Largest duration in seconds Prometheus accepts (`time.Duration` in ns must not overflow).
const MAX_DURATION_S: f64 = 9_223_372_036.854_775;

/// Parses `input` into an expression.
pub fn parse_expr(input: &str, opts: ParseOptions) -> PResult<Expr> {
    let mut p = Parser {
        input,
        toks: tokenize(input),
        i: 0,
        opts,
        type_errors: Vec::new(),
        depth: 0,
    };
    if p.peek().tok == Tok::Eof {
        return Err(ParseFailure {
            start: 0,
            end: 0,
            msg: "no expression found in input".into(),
        });
    }
    let node = p.expr(0)?;
    if p.peek().tok != Tok::Eof {
        return Err(p.unexpected("", ""));
    }
    if let Some(e) = p.type_errors.into_iter().next() {
        return Err(e);
    }
    Ok(node.expr)
}

fn binop(t: &Tok) -> Option<BinaryOp> {
    Some(match t {
        Tok::Add => BinaryOp::Add,
        Tok::Sub => BinaryOp::Sub,
        Tok::Mul => BinaryOp::Mul,
        Tok::Div => BinaryOp::Div,
        Tok::Mod => BinaryOp::Mod,
        Tok::Pow => BinaryOp::Pow,
        Tok::Atan2 => BinaryOp::Atan2,
        Tok::Eqlc => BinaryOp::Eql,
        Tok::Neq => BinaryOp::Neq,
        Tok::Gtr => BinaryOp::Gtr,
        Tok::Lss => BinaryOp::Lss,
        Tok::Gte => BinaryOp::Gte,
        Tok::Lte => BinaryOp::Lte,
        Tok::And => BinaryOp::And,
        Tok::Or => BinaryOp::Or,
        Tok::Unless => BinaryOp::Unless,
        _ => return None,
    })
}

/// Go's `%f` for the `@` bounds error.
fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:.6}")
    }
}

/// Parses a number token's text as Prometheus does (`strconv.ParseInt(s, 0, 64)`, falling
/// back to `strconv.ParseFloat`). Underscores were validated by the lexer.
pub fn parse_number(text: &str) -> Result<f64, String> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    match lower.as_str() {
        "inf" => return Ok(f64::INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    let range_err = || {
        format!(
            "error parsing number: strconv.ParseFloat: parsing {}: value out of range",
            go_quote(text)
        )
    };
    let syntax_err = || {
        format!(
            "error parsing number: strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(text)
        )
    };
    if let Some(hex) = lower.strip_prefix("0x") {
        return match i64::from_str_radix(hex, 16) {
            Ok(v) => Ok(v as f64),
            Err(_) => Err(syntax_err()),
        };
    }
    let all_digits = !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        if lower.len() > 1 && lower.starts_with('0') {
            if let Ok(v) = i64::from_str_radix(&lower[1..], 8) {
                return Ok(v as f64);
            }
        } else if let Ok(v) = lower.parse::<i64>() {
            return Ok(v as f64);
        }
    }
    match lower.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(range_err()),
        Ok(v) => Ok(v),
        Err(_) => Err(syntax_err()),
    }
}

/// Parses a duration literal like `1h30m` into milliseconds (Prometheus's
/// `model.ParseDuration`: units `y w d h m s ms`, each at most once, in that order).
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {}", go_quote(text));
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let b = text.as_bytes();
    let mut i = 0;
    let mut last_unit = usize::MAX;
    let mut total: i64 = 0;
    while i < b.len() {
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if ds == i {
            return Err(invalid());
        }
        let us = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit = &text[us..i];
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(text)
            ));
        };
        if last_unit != usize::MAX && idx <= last_unit {
            return Err(invalid());
        }
        last_unit = idx;
        let n: i64 = text[ds..us]
            .parse()
            .map_err(|_| "duration out of range".to_string())?;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(total)
}

/// Converts float seconds to whole milliseconds the way Prometheus does (round to
/// nanoseconds, then truncate to milliseconds).
fn seconds_to_ms(v: f64) -> i64 {
    let ns = (v * 1e9).round();
    (ns / 1e6).trunc() as i64
}

fn is_label_name_token(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Identifier
            | Tok::MetricIdentifier
            | Tok::Agg(_)
            | Tok::Bool
            | Tok::By
            | Tok::GroupLeft
            | Tok::GroupRight
            | Tok::Ignoring
            | Tok::And
            | Tok::Or
            | Tok::Unless
            | Tok::Offset
            | Tok::On
            | Tok::Without
            | Tok::Start
            | Tok::End
            | Tok::Atan2
    )
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, k: usize) -> &Token {
        &self.toks[(self.i + k).min(self.toks.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn fail(&self, start: usize, end: usize, msg: impl Into<String>) -> ParseFailure {
        ParseFailure {
            start,
            end,
            msg: msg.into(),
        }
    }

    /// The error for the current token: the lexer's message for an error token, else
    /// `unexpected <token>[ in <context>][, expected <expected>]`.
    fn unexpected(&self, context: &str, expected: &str) -> ParseFailure {
        let t = self.peek();
        if let Tok::Error(m) = &t.tok {
            return self.fail(t.start, t.end, m.clone());
        }
        let mut msg = format!("unexpected {}", t.describe(self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.fail(t.start, t.end, msg)
    }

    fn type_error(&mut self, start: usize, end: usize, msg: String) {
        self.type_errors.push(ParseFailure { start, end, msg });
    }

    fn expect(&mut self, tok: Tok, context: &str, expected: &str) -> PResult<Token> {
        if self.peek().tok == tok {
            Ok(self.advance())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    // ---- expressions -------------------------------------------------------------------

    fn expr(&mut self, min_prec: u8) -> PResult<Node> {
        if self.depth >= MAX_NESTING {
            return Err(self.too_deep(MAX_NESTING));
        }
        self.depth += 1;
        let r = self.expr_inner(min_prec);
        self.depth -= 1;
        if let Ok(node) = &r {
            self.check_depth(node)?;
        }
        r
    }

    #[cold]
    fn too_deep(&self, limit: usize) -> ParseFailure {
        let t = self.peek();
        self.fail(
            t.start,
            t.end,
            format!("expression nested more than {limit} levels deep"),
        )
    }

    fn check_depth(&self, node: &Node) -> PResult<()> {
        if node.depth > MAX_DEPTH {
            let mut e = self.too_deep(MAX_DEPTH);
            (e.start, e.end) = (node.start, node.end);
            return Err(e);
        }
        Ok(())
    }

    fn expr_inner(&mut self, min_prec: u8) -> PResult<Node> {
        let mut lhs = self.unary()?;
        while let Some(op) = binop(&self.peek().tok) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_tok = self.advance();
            let mods = self.bin_modifiers()?;
            let next_min = if op.is_right_assoc() { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            lhs = self.binary(lhs, op, op_tok.start, mods, rhs);
            self.check_depth(&lhs)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Node> {
        let op = match self.peek().tok {
            Tok::Add => UnaryOp::Pos,
            Tok::Sub => UnaryOp::Neg,
            _ => {
                let p = self.primary()?;
                return self.postfix(p);
            }
        };
        let op_tok = self.advance();
        // Unary binds like `*`: only `^` (and postfix operators) bind tighter.
        let operand = self.expr(BinaryOp::Pow.precedence())?;
        let end = operand.end;
        let depth = operand.depth;
        if let Expr::Number(v) = operand.expr {
            let v = if op == UnaryOp::Neg { -v } else { v };
            return Ok(Node {
                expr: Expr::Number(v),
                start: op_tok.start,
                end,
                depth: 1,
            });
        }
        self.check_unary(&operand.expr, op_tok.start, end);
        Ok(Node {
            expr: Expr::Unary(op, Box::new(operand.expr)),
            start: op_tok.start,
            end,
            depth: depth + 1,
        })
    }

    /// Dispatches on the current token. Kept small (each arm is its own function) because
    /// it sits on the recursion path of nested parentheses: large frames here would cut the
    /// nesting depth that fits in a thread's stack.
    fn check_unary(&mut self, operand: &Expr, start: usize, end: usize) {
        let t = operand.value_type();
        if t != ValueType::Scalar && t != ValueType::Vector {
            self.type_error(
                start,
                end,
                format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                    go_quote(t.name())
                ),
            );
        }
    }

    fn primary(&mut self) -> PResult<Node> {
        let next_is_paren = self.peek_at(1).tok == Tok::LParen;
        match &self.peek().tok {
            Tok::Number | Tok::Duration | Tok::Str(_) => self.literal(),
            Tok::LParen => self.paren(),
            Tok::LBrace => {
                let start = self.peek().start;
                self.vector_selector(None, start)
            }
            Tok::Identifier | Tok::Start | Tok::End if next_is_paren => self.call(),
            Tok::Agg(kw) => {
                let kw = *kw;
                if next_is_paren || matches!(self.peek_at(1).tok, Tok::By | Tok::Without) {
                    self.aggregate(kw)
                } else {
                    self.named_selector()
                }
            }
            Tok::Identifier
            | Tok::MetricIdentifier
            | Tok::By
            | Tok::Without
            | Tok::And
            | Tok::Or
            | Tok::Unless
            | Tok::Offset
            | Tok::Start
            | Tok::End => self.named_selector(),
            _ => Err(self.unexpected("", "")),
        }
    }

    fn literal(&mut self) -> PResult<Node> {
        let t = self.advance();
        let expr = match &t.tok {
            Tok::Number => Expr::Number(
                parse_number(t.text(self.input)).map_err(|m| self.fail(t.start, t.end, m))?,
            ),
            Tok::Duration => {
                let ms = parse_duration_ms(t.text(self.input))
                    .map_err(|m| self.fail(t.start, t.end, m))?;
                Expr::Number(ms as f64 / MS_PER_S)
            }
            Tok::Str(s) => Expr::String(s.clone()),
            _ => return Err(self.fail(t.start, t.end, "unexpected token")),
        };
        Ok(Node {
            expr,
            start: t.start,
            end: t.end,
            depth: 1,
        })
    }

    fn paren(&mut self) -> PResult<Node> {
        let start = self.advance().start;
        let inner = self.expr(0)?;
        let end = self.expect(Tok::RParen, "", "")?.end;
        Ok(Node {
            expr: Expr::Paren(Box::new(inner.expr)),
            start,
            end,
            depth: inner.depth + 1,
        })
    }

    /// A selector starting with a metric name (keywords that may name a metric included).
    fn named_selector(&mut self) -> PResult<Node> {
        let t = self.advance();
        self.vector_selector(Some(t.text(self.input).to_string()), t.start)
    }

    // ---- selectors ---------------------------------------------------------------------

    /// Parses optional `{...}` after an optional metric name (already consumed).
    fn vector_selector(&mut self, name: Option<String>, start: usize) -> PResult<Node> {
        let mut matchers = Vec::new();
        let mut end = self.toks[self.i.saturating_sub(1)].end;
        if self.peek().tok == Tok::LBrace {
            let (ms, e) = self.label_matchers()?;
            matchers = ms;
            end = e;
        }
        if let Some(n) = &name {
            for m in &matchers {
                if m.name == strata_engine::labels::METRIC_NAME {
                    self.type_error(
                        start,
                        end,
                        format!(
                            "metric name must not be set twice: {} or {}",
                            go_quote(n),
                            go_quote(&m.value)
                        ),
                    );
                }
            }
            matchers.push(Matcher::equal(
                strata_engine::labels::METRIC_NAME,
                n.clone(),
            ));
        } else if !matchers.iter().any(|m| !m.matches_empty()) {
            self.type_error(
                start,
                end,
                "vector selector must contain at least one non-empty matcher".into(),
            );
        }
        Ok(Node {
            expr: Expr::VectorSelector(VectorSelector {
                name,
                matchers,
                offset: 0,
                at: None,
            }),
            start,
            end,
            depth: 1,
        })
    }

    fn label_matchers(&mut self) -> PResult<(Vec<Matcher>, usize)> {
        self.advance(); // `{`
        let mut out = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RBrace => {
                    self.advance();
                    return Ok((out, t.end));
                }
                Tok::Identifier | Tok::Str(_) => {
                    self.advance();
                    let name = match &t.tok {
                        Tok::Str(s) => s.clone(),
                        _ => t.text(self.input).to_string(),
                    };
                    let op = match self.peek().tok {
                        Tok::Eql => Some(MatchOp::Equal),
                        Tok::Neq => Some(MatchOp::NotEqual),
                        Tok::EqlRegex => Some(MatchOp::Regex),
                        Tok::NeqRegex => Some(MatchOp::NotRegex),
                        _ => None,
                    };
                    match op {
                        Some(op) => {
                            self.advance();
                            let v = self.peek().clone();
                            let Tok::Str(value) = &v.tok else {
                                return Err(self.unexpected("label matching", "string"));
                            };
                            self.advance();
                            let m = Matcher::new(op, name, value.clone())
                                .map_err(|e| self.fail(t.start, v.end, e.to_string()))?;
                            out.push(m);
                        }
                        None if matches!(t.tok, Tok::Str(_)) => {
                            out.push(Matcher::equal(strata_engine::labels::METRIC_NAME, name));
                        }
                        None => {
                            return Err(self.unexpected("label matching", "label matching operator"))
                        }
                    }
                    match self.peek().tok {
                        Tok::Comma => {
                            self.advance();
                        }
                        Tok::RBrace => {}
                        _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
                    }
                }
                _ => {
                    return Err(self.unexpected("label matching", "identifier or \"}\""));
                }
            }
        }
    }

    // ---- postfix: ranges, subqueries, offset, @ -----------------------------------------

    fn postfix(&mut self, mut node: Node) -> PResult<Node> {
        loop {
            match self.peek().tok {
                Tok::LBracket => {
                    node = self.range_or_subquery(node)?;
                    self.check_depth(&node)?;
                }
                Tok::Offset => node = self.offset(node)?,
                Tok::At => node = self.at(node)?,
                _ => return Ok(node),
            }
        }
    }

    /// Parses a positive duration inside brackets: `5m`, `300`, `1.5`.
    fn bracket_duration(&mut self, context: &str, expected: &str) -> PResult<(i64, usize)> {
        let first = self.peek().clone();
        let neg = match first.tok {
            Tok::Sub => {
                self.advance();
                true
            }
            Tok::Add => {
                self.advance();
                false
            }
            Tok::LParen => {
                return Err(self.fail(
                    first.start,
                    first.end,
                    "experimental duration expression is not enabled",
                ))
            }
            _ => false,
        };
        let (secs, ms) = self.duration_literal(context, expected)?;
        let (secs, ms) = if neg { (-secs, -ms) } else { (secs, ms) };
        let t = &self.toks[self.i - 1];
        let end = t.end;
        if matches!(
            self.peek().tok,
            Tok::Add | Tok::Sub | Tok::Mul | Tok::Div | Tok::Mod | Tok::Pow
        ) {
            let o = self.peek().clone();
            return Err(self.fail(
                o.start,
                o.end,
                "experimental duration expression is not enabled",
            ));
        }
        if secs.is_nan() || secs <= 0.0 || ms <= 0 {
            return Err(self.fail(first.start, end, "duration must be greater than 0"));
        }
        Ok((ms, end))
    }

    /// A NUMBER or DURATION token as (seconds, milliseconds), range-checked.
    fn duration_literal(&mut self, context: &str, expected: &str) -> PResult<(f64, i64)> {
        let t = self.peek().clone();
        let (secs, ms) = match t.tok {
            Tok::Number => {
                let v =
                    parse_number(t.text(self.input)).map_err(|m| self.fail(t.start, t.end, m))?;
                if v.is_nan() || v.abs() > MAX_DURATION_S {
                    return Err(self.fail(t.start, t.end, "duration out of range"));
                }
                (v, seconds_to_ms(v))
            }
            Tok::Duration => {
                let ms = parse_duration_ms(t.text(self.input))
                    .map_err(|m| self.fail(t.start, t.end, m))?;
                let secs = ms as f64 / MS_PER_S;
                if secs > MAX_DURATION_S {
                    return Err(self.fail(t.start, t.end, "duration out of range"));
                }
                (secs, ms)
            }
            _ => return Err(self.unexpected(context, expected)),
        };
        self.advance();
        Ok((secs, ms))
    }

    fn range_or_subquery(&mut self, node: Node) -> PResult<Node> {
        let open = self.advance();
        let (range, _) = self.bracket_duration(
            "subquery or range selector",
            "number, duration, step(), or range()",
        )?;
        match self.peek().tok {
            Tok::RBracket => {
                let close = self.advance();
                let msg = match &node.expr {
                    Expr::VectorSelector(vs) if vs.offset != 0 => {
                        Some("no offset modifiers allowed before range")
                    }
                    Expr::VectorSelector(vs) if vs.at.is_some() => {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(m) = msg {
                    return Err(self.fail(open.start, close.end, m));
                }
                let Expr::VectorSelector(selector) = node.expr else {
                    return Err(self.fail(
                        open.start,
                        close.end,
                        "ranges only allowed for vector selectors",
                    ));
                };
                Ok(Node {
                    expr: Expr::MatrixSelector(MatrixSelector { selector, range }),
                    start: node.start,
                    end: close.end,
                    depth: 1,
                })
            }
            Tok::Colon => {
                self.advance();
                let step = if self.peek().tok == Tok::RBracket {
                    None
                } else {
                    Some(
                        self.bracket_duration(
                            "subquery selector",
                            "number, duration, step(), range(), or \"]\"",
                        )?
                        .0,
                    )
                };
                let close = self.expect(Tok::RBracket, "subquery selector", "\"]\"")?;
                let depth = node.depth + 1;
                let t = node.expr.value_type();
                if t != ValueType::Vector {
                    self.type_error(
                        node.start,
                        close.end,
                        format!(
                            "subquery is only allowed on instant vector, got {} instead",
                            t.go_name()
                        ),
                    );
                }
                Ok(Node {
                    expr: Expr::Subquery(SubqueryExpr {
                        expr: Box::new(node.expr),
                        range,
                        step,
                        offset: 0,
                        at: None,
                    }),
                    start: node.start,
                    end: close.end,
                    depth,
                })
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    fn offset(&mut self, mut node: Node) -> PResult<Node> {
        self.advance();
        let neg = match self.peek().tok {
            Tok::Sub => {
                self.advance();
                true
            }
            Tok::Add => {
                self.advance();
                false
            }
            _ => false,
        };
        let (_, ms) = self.duration_literal("offset", "number, duration, step(), or range()")?;
        let ms = if neg { -ms } else { ms };
        let end = self.toks[self.i - 1].end;
        let slot = match &mut node.expr {
            Expr::VectorSelector(vs) => &mut vs.offset,
            Expr::MatrixSelector(ms) => &mut ms.selector.offset,
            Expr::Subquery(sq) => &mut sq.offset,
            _ => {
                return Err(self.fail(
                    node.start,
                    node.end,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if *slot != 0 {
            return Err(self.fail(node.start, node.end, "offset may not be set multiple times"));
        }
        *slot = ms;
        node.end = end;
        Ok(node)
    }

    fn at(&mut self, mut node: Node) -> PResult<Node> {
        self.advance();
        let t = self.peek().clone();
        let at = match t.tok {
            Tok::Start | Tok::End => {
                self.advance();
                self.expect(Tok::LParen, "@", "timestamp")?;
                self.expect(Tok::RParen, "@", "timestamp")?;
                if t.tok == Tok::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                }
            }
            _ => {
                let neg = match t.tok {
                    Tok::Sub => {
                        self.advance();
                        true
                    }
                    Tok::Add => {
                        self.advance();
                        false
                    }
                    _ => false,
                };
                let n = self.peek().clone();
                let secs = match n.tok {
                    Tok::Number => parse_number(n.text(self.input))
                        .map_err(|m| self.fail(n.start, n.end, m))?,
                    Tok::Duration => {
                        parse_duration_ms(n.text(self.input))
                            .map_err(|m| self.fail(n.start, n.end, m))?
                            as f64
                            / MS_PER_S
                    }
                    _ => return Err(self.unexpected("@", "timestamp")),
                };
                self.advance();
                let secs = if neg { -secs } else { secs };
                let ms = (secs * MS_PER_S).round();
                if !secs.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
                    return Err(self.fail(
                        node.start,
                        node.end,
                        format!(
                            "timestamp out of bounds for @ modifier: {}",
                            go_float_f(secs)
                        ),
                    ));
                }
                AtModifier::Timestamp(ms as i64)
            }
        };
        let end = self.toks[self.i - 1].end;
        let slot = match &mut node.expr {
            Expr::VectorSelector(vs) => &mut vs.at,
            Expr::MatrixSelector(ms) => &mut ms.selector.at,
            Expr::Subquery(sq) => &mut sq.at,
            _ => {
                return Err(self.fail(
                    node.start,
                    node.end,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if slot.is_some() {
            return Err(self.fail(
                node.start,
                node.end,
                "@ <timestamp> may not be set multiple times",
            ));
        }
        *slot = Some(at);
        node.end = end;
        Ok(node)
    }

    // ---- binary expressions ------------------------------------------------------------

    fn grouping_labels(&mut self) -> PResult<(Vec<String>, usize)> {
        if self.peek().tok != Tok::LParen {
            return Err(self.unexpected("grouping opts", "\"(\""));
        }
        self.advance();
        let mut labels = Vec::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RParen => {
                    self.advance();
                    return Ok((labels, t.end));
                }
                Tok::Str(s) => {
                    if s.is_empty() {
                        return Err(self.fail(
                            t.start,
                            t.end,
                            format!("invalid label name for grouping: {}", go_quote(s)),
                        ));
                    }
                    self.advance();
                    labels.push(s.clone());
                }
                tok if is_label_name_token(tok) => {
                    self.advance();
                    labels.push(t.text(self.input).to_string());
                }
                _ => return Err(self.unexpected("grouping opts", "label")),
            }
            match self.peek().tok {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    fn bin_modifiers(&mut self) -> PResult<BinModifiers> {
        let mut m = BinModifiers {
            return_bool: false,
            on: None,
            labels: Vec::new(),
            card: Cardinality::OneToOne,
            end: self.toks[self.i - 1].end,
        };
        if self.peek().tok == Tok::Bool {
            m.end = self.advance().end;
            m.return_bool = true;
        }
        let on = match self.peek().tok {
            Tok::On => true,
            Tok::Ignoring => false,
            _ => return Ok(m),
        };
        self.advance();
        let (labels, end) = self.grouping_labels()?;
        m.on = Some(on);
        m.labels = labels;
        m.end = end;
        let left = match self.peek().tok {
            Tok::GroupLeft => true,
            Tok::GroupRight => false,
            _ => return Ok(m),
        };
        m.end = self.advance().end;
        let include = if self.peek().tok == Tok::LParen {
            let (l, end) = self.grouping_labels()?;
            m.end = end;
            l
        } else {
            Vec::new()
        };
        m.card = if left {
            Cardinality::ManyToOne(include)
        } else {
            Cardinality::OneToMany(include)
        };
        Ok(m)
    }

    fn binary(
        &mut self,
        lhs: Node,
        op: BinaryOp,
        op_start: usize,
        m: BinModifiers,
        rhs: Node,
    ) -> Node {
        let (start, end) = (lhs.start, rhs.end);
        let depth = 1 + lhs.depth.max(rhs.depth);
        let lt = lhs.expr.value_type();
        let rt = rhs.expr.value_type();
        if m.return_bool && !op.is_comparison() {
            self.type_error(
                op_start,
                m.end,
                "bool modifier can only be used on comparison operators".into(),
            );
        }
        if op.is_comparison()
            && !m.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            self.type_error(
                op_start,
                m.end,
                "comparisons between scalars must use BOOL modifier".into(),
            );
        }
        let mut card = m.card;
        if op.is_set() && card == Cardinality::OneToOne {
            card = Cardinality::ManyToMany;
        }
        if m.on == Some(true) {
            let include = match &card {
                Cardinality::ManyToOne(l) | Cardinality::OneToMany(l) => l.as_slice(),
                _ => &[],
            };
            for l1 in &m.labels {
                if include.contains(l1) {
                    self.type_error(
                        op_start,
                        m.end,
                        format!(
                            "label {} must not occur in ON and GROUP clause at once",
                            go_quote(l1)
                        ),
                    );
                }
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            self.type_error(
                lhs.start,
                lhs.end,
                "binary expression must contain only scalar and instant vector types".into(),
            );
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            self.type_error(
                rhs.start,
                rhs.end,
                "binary expression must contain only scalar and instant vector types".into(),
            );
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        let matching = if !both_vectors {
            if !m.labels.is_empty() {
                self.type_error(
                    start,
                    end,
                    "vector matching only allowed between instant vectors".into(),
                );
            }
            None
        } else {
            if op.is_set() && matches!(card, Cardinality::ManyToOne(_) | Cardinality::OneToMany(_))
            {
                self.type_error(
                    start,
                    end,
                    format!(
                        "no grouping allowed for {} operation",
                        go_quote(op.as_str())
                    ),
                );
            }
            Some(VectorMatching {
                on: m.on == Some(true),
                labels: m.labels,
                card,
            })
        };
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && op.is_set() {
            self.type_error(
                start,
                end,
                format!(
                    "set operator {} not allowed in binary scalar expression",
                    go_quote(op.as_str())
                ),
            );
        }
        Node {
            expr: Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs.expr),
                rhs: Box::new(rhs.expr),
                return_bool: m.return_bool,
                matching,
            }),
            start,
            end,
            depth,
        }
    }

    // ---- calls and aggregations --------------------------------------------------------

    /// `( args )`; returns the arguments and the end offset.
    fn call_body(&mut self) -> PResult<(Vec<Node>, usize)> {
        if self.peek().tok != Tok::LParen {
            return Err(self.unexpected("", ""));
        }
        self.advance();
        let mut args = Vec::new();
        if self.peek().tok == Tok::RParen {
            return Ok((args, self.advance().end));
        }
        loop {
            args.push(self.expr(0)?);
            match self.peek().tok {
                Tok::Comma => {
                    let comma = self.advance();
                    if self.peek().tok == Tok::RParen {
                        return Err(self.fail(
                            comma.start,
                            comma.end,
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                Tok::RParen => return Ok((args, self.advance().end)),
                _ => return Err(self.unexpected("", "")),
            }
        }
    }

    fn call(&mut self) -> PResult<Node> {
        let name_tok = self.advance();
        let name = name_tok.text(self.input).to_string();
        let spec: &FunctionSpec = match functions::lookup(&name) {
            Some(f) => f,
            None => {
                return Err(self.fail(
                    name_tok.start,
                    name_tok.end,
                    format!("unknown function with name {}", go_quote(&name)),
                ))
            }
        };
        if spec.experimental && !self.opts.experimental_functions {
            return Err(self.fail(
                name_tok.start,
                name_tok.end,
                format!("function {} is not enabled", go_quote(&name)),
            ));
        }
        let (args, end) = self.call_body()?;
        let depth = 1 + args.iter().map(|a| a.depth).max().unwrap_or(0);
        let n = args.len();
        if spec.variadic == 0 {
            if n != spec.args.len() {
                self.type_error(
                    name_tok.start,
                    end,
                    format!(
                        "expected {} argument(s) in call to {}, got {}",
                        spec.args.len(),
                        go_quote(&name),
                        n
                    ),
                );
            }
        } else if n < spec.min_args() {
            self.type_error(
                name_tok.start,
                end,
                format!(
                    "expected at least {} argument(s) in call to {}, got {}",
                    spec.min_args(),
                    go_quote(&name),
                    n
                ),
            );
        } else if let Some(max) = spec.max_args().filter(|&m| n > m) {
            self.type_error(
                name_tok.start,
                end,
                format!(
                    "expected at most {} argument(s) in call to {}, got {}",
                    max,
                    go_quote(&name),
                    n
                ),
            );
        }
        for (i, a) in args.iter().enumerate() {
            let Some(want) = spec.arg_type(i) else { break };
            let got = a.expr.value_type();
            if got != want {
                self.type_error(
                    a.start,
                    a.end,
                    format!(
                        "expected type {} in call to function {}, got {}",
                        want.name(),
                        go_quote(&name),
                        got.name()
                    ),
                );
            }
        }
        Ok(Node {
            expr: Expr::Call(Call {
                func: spec.func,
                args: args.into_iter().map(|a| a.expr).collect(),
            }),
            start: name_tok.start,
            end,
            depth,
        })
    }

    fn grouping(&mut self) -> PResult<Option<Grouping>> {
        let without = match self.peek().tok {
            Tok::By => false,
            Tok::Without => true,
            _ => return Ok(None),
        };
        self.advance();
        let (labels, _) = self.grouping_labels()?;
        Ok(Some(if without {
            Grouping::Without(labels)
        } else {
            Grouping::By(labels)
        }))
    }

    fn aggregate(&mut self, kw: AggKw) -> PResult<Node> {
        let op_tok = self.advance();
        let op = match kw {
            AggKw::Op(op) => op,
            AggKw::Limitk | AggKw::LimitRatio => {
                let name = op_tok.text(self.input).to_ascii_lowercase();
                let msg = if self.opts.experimental_functions {
                    format!("{name}() is not supported by Strata yet")
                } else {
                    format!("{name}() is experimental and must be enabled with --enable-feature=promql-experimental-functions")
                };
                return Err(self.fail(op_tok.start, op_tok.end, msg));
            }
        };
        let mut grouping = self.grouping()?;
        let (mut args, end) = self.call_body()?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        let start = op_tok.start;
        if args.is_empty() {
            return Err(self.fail(start, end, "no arguments for aggregate expression provided"));
        }
        let want = if op.has_param() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.fail(
                start,
                end,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let depth = 1 + args.iter().map(|a| a.depth).max().unwrap_or(0);
        let expr = args.pop().expect("checked: one or two arguments");
        let param = args.pop();
        let t = expr.expr.value_type();
        if t != ValueType::Vector {
            self.type_error(
                expr.start,
                expr.end,
                format!(
                    "expected type instant vector in aggregation expression, got {}",
                    t.name()
                ),
            );
        }
        if let Some(p) = &param {
            let want = if op == AggregateOp::CountValues {
                ValueType::String
            } else {
                ValueType::Scalar
            };
            let got = p.expr.value_type();
            if got != want {
                self.type_error(
                    p.start,
                    p.end,
                    format!(
                        "expected type {} in aggregation parameter, got {}",
                        want.name(),
                        got.name()
                    ),
                );
            }
        }
        Ok(Node {
            expr: Expr::Aggregate(AggregateExpr {
                op,
                expr: Box::new(expr.expr),
                param: param.map(|p| Box::new(p.expr)),
                grouping,
            }),
            start,
            end: self.toks[self.i - 1].end,
            depth,
        })
    }
}
