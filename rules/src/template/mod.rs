//! Alert label and annotation templates: the part of Go's `text/template` that rule files use,
//! with Prometheus's template functions.
//!
//! A [`Template`] is parsed once (when a rule is loaded) and expanded at every evaluation.
//! [`Template::parse_alert`] does what Prometheus does to an alert's label or annotation
//! text: it prepends `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
//! {{$externalURL := .ExternalURL}}{{$value := .Value}}` (without the line break) and names
//! the template `__alert_<rule name>`, so variables, error positions and messages are those
//! of Prometheus. [`Template::expand_alert`] runs it over an [`AlertData`].
//!
//! Supported: text and actions, trim markers `{{- -}}`, comments, pipelines, variables
//! (`:=`, `=`), `if`/`else if`/`else`, `range` (lists, query results, maps, integers, with
//! `break`/`continue`), `with`/`else with`, `define`/`template`/`block`, string (with Go
//! escapes), raw string, character, number, boolean and nil constants, fields and methods
//! (`.Labels.job`, `(now | toTime).Format "2006"`), Go's builtin functions and Prometheus's
//! template functions (see [`funcs`]). Numbers print as Go prints them: `$value` of 1234567
//! is `1.234567e+06` (Go `%v`), `humanize` of it is `1.235M`.
//!
//! Go's float formatting lives in [`gofmt`]; the server crate has its own formatter for
//! Prometheus JSON sample values (`server/src/json.rs`), which is a different format.
//!
//! Invariants: parsing and expansion never panic on any input; a parse error carries the
//! byte offset of the offending token (within the user's text) and its line and column;
//! expansion is deterministic for a given data value, timestamp and query result.

mod exec;
pub mod funcs;
pub mod gofmt;
pub mod gotime;
mod lex;
mod parse;
pub mod value;

use std::fmt;
use std::rc::Rc;

use strata_engine::Labels;

pub use value::{Sample, Struct, Value};

/// The error a `query` callback may return.
pub type QueryError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a PromQL instant query at a millisecond timestamp, for the `query` template function:
/// an instant vector as `(labels, value)` pairs (a scalar as one sample without labels).
pub type QueryFn<'a> = dyn Fn(&str, i64) -> Result<Vec<(Labels, f64)>, QueryError> + 'a;

/// What a template sees besides its data: the evaluation time (for `query` and `now`), the
/// external URL (`externalURL`, `pathPrefix`) and the query callback.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// Evaluation timestamp, ms since the epoch.
    pub ts_ms: i64,
    /// `--web.external-url`, e.g. `http://strata:9201/prefix` (may be empty).
    pub external_url: &'a str,
    /// The `query` function's backend; without one `query` fails with an error.
    pub query: Option<&'a QueryFn<'a>>,
}

impl<'a> Env<'a> {
    /// An environment at `ts_ms` with no external URL and no query function.
    pub fn at(ts_ms: i64) -> Env<'a> {
        Env {
            ts_ms,
            external_url: "",
            query: None,
        }
    }
}

/// The data of an alert template (Prometheus's `AlertTemplateData`).
#[derive(Clone, Copy, Debug)]
pub struct AlertData<'a> {
    /// Labels of the result sample (`$labels`), `__name__` included if present.
    pub labels: &'a Labels,
    /// External labels (`$externalLabels`).
    pub external_labels: &'a Labels,
    /// External URL (`$externalURL`).
    pub external_url: &'a str,
    /// Sample value (`$value`).
    pub value: f64,
}

impl AlertData<'_> {
    /// The data as a template value: a struct with `Labels`, `ExternalLabels`, `ExternalURL`
    /// and `Value` fields.
    pub fn to_value(&self) -> Value {
        let map = |l: &Labels| Value::labels(l.iter().map(|l| (&*l.name, &*l.value)));
        Value::Struct(Rc::new(Struct {
            type_name: "struct { Labels map[string]string; ExternalLabels map[string]string; \
                        ExternalURL string; Value interface {} }",
            fields: vec![
                ("Labels", map(self.labels)),
                ("ExternalLabels", map(self.external_labels)),
                ("ExternalURL", Value::str(self.external_url)),
                ("Value", Value::Float(self.value)),
            ],
        }))
    }
}

/// The variable definitions Prometheus prepends to every alert label and annotation text.
pub const ALERT_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}\
{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Whether a template failed to parse or to execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not a valid template.
    Parse,
    /// Execution failed (a function error, a bad field, a type mismatch).
    Exec,
}

/// A template error with its position and Go's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Parse or execution.
    pub kind: ErrorKind,
    /// The template name (`__alert_<rule>` for alert templates).
    pub name: String,
    /// Byte offset of the offending token in the text the user wrote (for alert templates,
    /// the prepended definitions are not counted), when known.
    pub offset: Option<usize>,
    /// Line, 1-based.
    pub line: usize,
    /// Column as Go reports it: bytes from the start of the line, 0-based, counting the
    /// prepended definitions on line 1 of alert templates.
    pub column: usize,
    /// Go's message, e.g. `template: __alert_X:1: unexpected "}" in operand`.
    pub message: String,
}

impl TemplateError {
    /// The text Prometheus puts after `<error expanding template: ` (with `error parsing
    /// template NAME: ` or `error executing template NAME: ` in front of the message).
    pub fn prometheus_message(&self) -> String {
        let what = match self.kind {
            ErrorKind::Parse => "parsing",
            ErrorKind::Exec => "executing",
        };
        format!("error {what} template {}: {}", self.name, self.message)
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TemplateError {}

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    name: String,
    src: String,
    /// Length of text prepended to the user's (the alert definitions), 0 otherwise.
    prefix: usize,
    tree: parse::Tree,
}

/// (line, column) of byte `pos` in `src`, as Go's `ErrorContext` computes them.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

fn has_func(name: &str) -> bool {
    funcs::func_sig(name).is_some()
}

impl Template {
    /// Parses `text` as a template called `name`.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Template::parse_with_prefix(name, text.to_string(), 0)
    }

    /// Parses an alert label or annotation text as Prometheus does (see the module docs).
    pub fn parse_alert(rule_name: &str, text: &str) -> Result<Template, TemplateError> {
        let name = format!("__alert_{rule_name}");
        Template::parse_with_prefix(&name, format!("{ALERT_DEFS}{text}"), ALERT_DEFS.len())
    }

    fn parse_with_prefix(
        name: &str,
        src: String,
        prefix: usize,
    ) -> Result<Template, TemplateError> {
        match parse::parse(&src, &has_func) {
            Ok(tree) => Ok(Template {
                name: name.to_string(),
                src,
                prefix,
                tree,
            }),
            Err(e) => {
                let (line, column) = line_col(&src, e.pos);
                Err(TemplateError {
                    kind: ErrorKind::Parse,
                    name: name.to_string(),
                    offset: Some(e.pos.saturating_sub(prefix)),
                    line,
                    column,
                    message: format!("template: {name}:{line}: {}", e.msg),
                })
            }
        }
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True if the text has no actions (expanding it returns it unchanged), so callers can
    /// skip expansion of plain labels.
    pub fn is_plain_text(&self) -> bool {
        self.prefix == 0
            && self.tree.defines.is_empty()
            && self
                .tree
                .root
                .iter()
                .all(|n| matches!(n, parse::Node::Text(_)))
    }

    /// Expands the template with `data` as dot and `$`.
    pub fn execute(&self, data: Value, env: &Env<'_>) -> Result<String, TemplateError> {
        exec::execute(&self.tree, env, data).map_err(|e| {
            let quoted = gofmt::quote(&self.name);
            let (offset, line, column, message) = match e.pos {
                Some(pos) => {
                    let (line, col) = line_col(&self.src, pos);
                    let mut ctx = e.context;
                    if ctx.len() > 20 {
                        ctx = format!("{}...", ctx.chars().take(20).collect::<String>());
                    }
                    let msg = format!(
                        "template: {}:{line}:{col}: executing {quoted} at <{ctx}>: {}",
                        self.name, e.msg
                    );
                    (Some(pos.saturating_sub(self.prefix)), line, col, msg)
                }
                None => (None, 0, 0, format!("template: {}: {}", self.name, e.msg)),
            };
            TemplateError {
                kind: ErrorKind::Exec,
                name: self.name.clone(),
                offset,
                line,
                column,
                message,
            }
        })
    }

    /// Expands an alert template (see [`Template::parse_alert`]) over `data`.
    pub fn expand_alert(
        &self,
        data: &AlertData<'_>,
        env: &Env<'_>,
    ) -> Result<String, TemplateError> {
        self.execute(data.to_value(), env)
    }
}

#[cfg(test)]
mod tests;
