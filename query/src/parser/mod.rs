//! PromQL parsing and printing.
//!
//! - [`lexer`]: query text to tokens (keywords, literals, Go-style string escapes);
//! - [`parser`]: tokens to a type-checked [`ast::Expr`] (precedence climbing);
//! - [`functions`]: the function table (arity and argument types);
//! - [`json`]: the tree as `/api/v1/parse_query` JSON;
//! - [`printer`]: `impl Display for Expr`, canonical single-line PromQL such that
//!   `parse(&e.to_string())` gives back `e` for every parsed `e`.
//!
//! Errors are [`Error::Parse`] with the byte range of the problem and a message in
//! Prometheus's format, `<line>:<col>: parse error: <msg>` (1-based line and byte column).
//!
//! Experimental functions (`double_exponential_smoothing`, `sort_by_label`,
//! `mad_over_time`, `first_over_time`, `ts_of_*_over_time`) are accepted by [`parse`] so
//! that the evaluator decides whether to run them; [`parse_with`] with
//! `experimental_functions: false` rejects them as Prometheus does by default
//! (`function "x" is not enabled`). `limitk`/`limit_ratio` cannot be represented in the AST
//! and are always rejected; experimental duration arithmetic (`[5m+1m]`, `step()`) too.

pub mod ast;
pub mod functions;
pub mod json;
pub mod lexer;
#[allow(clippy::module_inception)]
pub mod parser;
pub mod printer;

use crate::error::{Error, Result};

/// Parser settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept the functions Prometheus puts behind `promql-experimental-functions`.
    pub experimental_functions: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            experimental_functions: true,
        }
    }
}

/// Parses a PromQL expression into a type-checked [`ast::Expr`] (experimental functions
/// accepted).
pub fn parse(input: &str) -> Result<ast::Expr> {
    parse_with(input, ParseOptions::default())
}

/// Parses with explicit [`ParseOptions`].
pub fn parse_with(input: &str, opts: ParseOptions) -> Result<ast::Expr> {
    parser::parse_expr(input, opts).map_err(|f| parse_error(input, f.start, f.end, &f.msg))
}

/// Formats a query the way `/api/v1/format_query` does: parsed, then printed canonically on
/// one line.
pub fn format_query(input: &str) -> Result<String> {
    Ok(parse(input)?.to_string())
}

/// Parses a query and returns its tree as JSON, as Prometheus's `/api/v1/parse_query`
/// returns it in the `data` field.
pub fn parse_query_json(input: &str) -> Result<String> {
    Ok(json::to_json(&parse(input)?))
}

/// Builds an [`Error::Parse`] with the `line:col: parse error: msg` text for `input`.
pub fn parse_error(input: &str, start: usize, end: usize, msg: &str) -> Error {
    let start = start.min(input.len());
    let before = input.as_bytes().get(..start).unwrap_or_default();
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let last_nl = before.iter().rposition(|&b| b == b'\n');
    let col = match last_nl {
        Some(i) => start - i,
        None => start + 1,
    };
    Error::Parse {
        pos: (start, end.max(start)),
        msg: format!("{line}:{col}: parse error: {msg}"),
    }
}
