//! The template executor: walks a parsed [`Tree`] over a data value and writes the output.
//!
//! It follows Go's `text/template` execution with the `missingkey=zero` option Prometheus
//! sets: pipelines pass each command's result as the last argument of the next; variables
//! live until the `{{end}}` of the structure that declared them; `if`/`with` use Go truth;
//! `range` iterates lists, query results, maps (sorted keys) and integers; `and`/`or`
//! short-circuit; a missing map key yields the map's zero value and a field of nil data
//! prints `<no value>`.
//!
//! Invariant: errors carry the node being executed (its offset and its Go `String()`), so
//! the message reads `template: NAME:LINE:COL: executing "NAME" at <NODE>: ...` as in Go.
//! Template calls nest at most [`MAX_CALL_DEPTH`] deep.

use std::rc::Rc;

use super::funcs::{call_func, call_method, func_sig, method_sig, Sig, Ty};
use super::parse::{Arg, Command, Node, Number, Pipe, Tree};
use super::value::Value;
use super::Env;

/// Deepest nesting of `{{template}}` calls.
pub(crate) const MAX_CALL_DEPTH: usize = 100;

/// An execution failure: offset and Go string of the node being executed, and the message.
#[derive(Debug)]
pub(crate) struct ExecError {
    pub pos: Option<usize>,
    pub context: String,
    pub msg: String,
}

type EResult<T> = Result<T, ExecError>;

/// How a list walk ended.
#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node errors are reported at.
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Action(usize, &'a Pipe),
    Cmd(&'a Command),
    Arg(&'a Arg),
    Template(usize, &'a str),
}

pub(crate) struct Exec<'a> {
    tree: &'a Tree,
    env: &'a Env<'a>,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    at: At<'a>,
}

/// Executes `tree` with `data` as dot and `$`.
pub(crate) fn execute(tree: &Tree, env: &Env<'_>, data: Value) -> EResult<String> {
    let mut ex = Exec {
        tree,
        env,
        vars: vec![("$".to_string(), data.clone())],
        out: String::new(),
        depth: 0,
        at: At::None,
    };
    ex.walk_list(&data, &tree.root)?;
    Ok(ex.out)
}

impl<'a> Exec<'a> {
    fn error(&self, msg: impl Into<String>) -> ExecError {
        let (pos, context) = match self.at {
            At::None => (None, String::new()),
            At::Action(pos, pipe) => (Some(pos), format!("{{{{{pipe}}}}}")),
            At::Cmd(c) => (Some(c.pos), c.to_string()),
            At::Arg(a) => (Some(a.pos()), a.to_string()),
            At::Template(pos, name) => (
                Some(pos),
                format!("{{{{template {}}}}}", super::gofmt::quote(name)),
            ),
        };
        ExecError {
            pos,
            context,
            msg: msg.into(),
        }
    }

    fn walk_list(&mut self, dot: &Value, list: &'a [Node]) -> EResult<Flow> {
        for n in list {
            let f = self.walk(dot, n)?;
            if f != Flow::Normal {
                return Ok(f);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> EResult<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action { pos, pipe } => {
                self.at = At::Action(*pos, pipe);
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at = At::Action(*pos, pipe);
                    match v {
                        Value::Invalid => self.out.push_str("<no value>"),
                        v => self.out.push_str(&v.to_go_string()),
                    }
                }
            }
            Node::If(b) | Node::With(b) => {
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, &b.pipe)?;
                let flow = if v.truth() {
                    let inner = if matches!(node, Node::With(_)) {
                        &v
                    } else {
                        dot
                    };
                    self.walk_list(inner, &b.list)?
                } else if let Some(e) = &b.else_list {
                    self.walk_list(dot, e)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(b) => {
                let mark = self.vars.len();
                self.range(dot, b)?;
                self.vars.truncate(mark);
            }
            Node::Template { pos, name, pipe } => {
                self.at = At::Template(*pos, name);
                let Some(body) = self.tree.defines.get(name) else {
                    return Err(self.error(format!(
                        "template {} not defined",
                        super::gofmt::quote(name)
                    )));
                };
                if self.depth >= MAX_CALL_DEPTH {
                    return Err(self.error(format!(
                        "exceeded maximum template depth ({MAX_CALL_DEPTH})"
                    )));
                }
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Invalid,
                };
                let saved = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                self.depth += 1;
                let r = self.walk_list(&new_dot, body);
                self.depth -= 1;
                self.vars = saved;
                r?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Value, b: &'a super::parse::Branch) -> EResult<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let items: Vec<(Value, Value)> = match &val {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Samples(l) => l
                .iter()
                .enumerate()
                .map(|(i, s)| (Value::Int(i as i64), Value::Sample(s.clone())))
                .collect(),
            Value::StrMap(m) => m
                .iter()
                .map(|(k, v)| (Value::str(k), Value::str(v)))
                .collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect(),
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.error(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                (0..(*n).max(0))
                    .map(|i| (Value::Int(i), Value::Int(i)))
                    .collect()
            }
            Value::Invalid => Vec::new(),
            other => {
                return Err(self.error(format!("range can't iterate over {}", other.to_go_string())))
            }
        };
        let decl = &b.pipe.decl;
        for (index, elem) in &items {
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    if decl.len() > 1 {
                        self.set_var(&decl[0], index.clone())?;
                        self.set_var(&decl[1], elem.clone())?;
                    } else {
                        self.set_var(&decl[0], elem.clone())?;
                    }
                } else {
                    let n = self.vars.len();
                    self.vars[n - 1].1 = elem.clone();
                    if decl.len() > 1 {
                        self.vars[n - 2].1 = index.clone();
                    }
                }
            }
            let flow = self.walk_list(elem, &b.list)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                self.walk_list(dot, e)?;
            }
        }
        Ok(())
    }

    fn var_value(&self, name: &str) -> EResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, v: Value) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> EResult<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Invalid);
        for v in &pipe.decl {
            if pipe.is_assign {
                self.set_var(v, value.clone())?;
            } else {
                self.vars.push((v.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> EResult<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.error(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'a Command,
        fin: Option<Value>,
    ) -> EResult<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = At::Arg(first);
                return self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, fin);
            }
            Arg::Chain { node, fields, .. } => {
                // As in Go, field errors of a chain are reported at the last node evaluated.
                self.at = At::Arg(first);
                let recv = self.eval_arg(dot, None, node)?;
                return self.eval_field_chain(dot, recv, first, fields, &cmd.args, fin);
            }
            Arg::Identifier { name, .. } => {
                self.at = At::Arg(first);
                return self.eval_function(dot, name, At::Cmd(cmd), &cmd.args[1..], fin);
            }
            Arg::Pipe { pipe, .. } => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable { idents, .. } => {
                self.at = At::Arg(first);
                let v = self.var_value(&idents[0])?;
                if idents.len() == 1 {
                    self.not_a_function(&cmd.args, &fin)?;
                    return Ok(v);
                }
                return self.eval_field_chain(dot, v, first, &idents[1..], &cmd.args, fin);
            }
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.error("nil is not a command")),
            Arg::Number { num, .. } => self.ideal_constant(num),
            Arg::Str { text, .. } => Ok(Value::str(text)),
            _ => Err(self.error(format!("can't evaluate command {}", first))),
        }
    }

    /// A number constant where no type is known: the syntax decides, as in Go.
    fn ideal_constant(&self, n: &Number) -> EResult<Value> {
        let t = &n.text;
        let hex_int =
            t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) && !t.contains(['p', 'P']);
        let float_syntax =
            !hex_int && !t.starts_with('\'') && t.contains(['.', 'e', 'E', 'p', 'P']);
        if let (Some(f), true) = (n.float, float_syntax) {
            return Ok(Value::Float(f));
        }
        match (n.int, n.uint) {
            (Some(i), _) => Ok(Value::Int(i)),
            (None, Some(_)) => Err(self.error(format!("{t} overflows int"))),
            (None, None) => Ok(Value::Invalid),
        }
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        node: &'a Arg,
        idents: &'a [String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        let n = idents.len();
        for id in &idents[..n - 1] {
            recv = self.eval_field(dot, id, node, &[], None, recv)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
        recv: Value,
    ) -> EResult<Value> {
        if let Value::Invalid = recv {
            return Ok(Value::Invalid);
        }
        if let Some(sig) = method_sig(&recv, name) {
            let call_args = if args.is_empty() { args } else { &args[1..] };
            let argv = self.eval_args(dot, &sig, name, call_args, fin)?;
            return match call_method(&recv, name, argv) {
                Ok(v) => Ok(v),
                Err(e) => {
                    self.at = At::Arg(node);
                    Err(self.error(format!("error calling {name}: {e}")))
                }
            };
        }
        let has_args = args.len() > 1 || fin.is_some();
        let field = |fields: &[(&'static str, Value)]| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        let found = match &recv {
            Value::Struct(s) => field(&s.fields),
            Value::Sample(s) => match name {
                "Labels" => Some(Value::StrMap(Rc::new(s.labels.clone()))),
                "Value" => Some(Value::Float(s.value)),
                _ => None,
            },
            Value::StrMap(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                return Ok(Value::str(m.get(name).map_or("", String::as_str)));
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                return Ok(m.get(name).cloned().unwrap_or(Value::Invalid));
            }
            _ => None,
        };
        match found {
            Some(_) if has_args => Err(self.error(format!(
                "{name} has arguments but cannot be invoked as function"
            ))),
            Some(v) => Ok(v),
            None => Err(self.error(format!(
                "can't evaluate field {name} in type {}",
                recv.type_name()
            ))),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        call_node: At<'a>,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        let Some(sig) = func_sig(name) else {
            return Err(self.error(format!(
                "{} is not a defined function",
                super::gofmt::quote(name)
            )));
        };
        if name == "and" || name == "or" {
            if args.is_empty() && fin.is_none() {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )));
            }
            let mut v = Value::Invalid;
            for a in args {
                v = self.eval_arg(dot, Some(Ty::Any), a)?;
                if v.truth() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let argv = self.eval_args(dot, &sig, name, args, fin)?;
        // As in Go, the call node becomes the error position only when the call fails.
        match call_func(name, argv, self.env) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at = call_node;
                Err(self.error(format!("error calling {name}: {e}")))
            }
        }
    }

    /// Evaluates call arguments against a signature (Go's `evalCall` argument handling).
    fn eval_args(
        &mut self,
        dot: &Value,
        sig: &Sig,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> EResult<Vec<Value>> {
        let num_in = args.len() + usize::from(fin.is_some());
        let fixed = sig.params.len();
        match sig.variadic {
            Some(_) if num_in < fixed => {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least {fixed} got {}",
                    args.len()
                )))
            }
            None if num_in != fixed => {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want {fixed} got {num_in}"
                )))
            }
            _ => {}
        }
        let ty = |i: usize| {
            sig.params
                .get(i)
                .copied()
                .or(sig.variadic)
                .unwrap_or(Ty::Any)
        };
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, Some(ty(i)), a)?);
        }
        if let Some(f) = fin {
            argv.push(self.validate(f, Some(ty(num_in - 1)))?);
        }
        Ok(argv)
    }

    fn validate(&self, v: Value, ty: Option<Ty>) -> EResult<Value> {
        let Some(ty) = ty else { return Ok(v) };
        if let Value::Invalid = v {
            if ty.can_be_nil() {
                return Ok(v);
            }
            return Err(self.error(format!("invalid value; expected {}", ty.name())));
        }
        if ty.accepts(&v) {
            return Ok(v);
        }
        Err(self.error(format!(
            "wrong type for value; expected {}; got {}",
            ty.name(),
            v.type_name()
        )))
    }

    fn eval_arg(&mut self, dot: &Value, ty: Option<Ty>, n: &'a Arg) -> EResult<Value> {
        self.at = At::Arg(n);
        match n {
            Arg::Dot { .. } => return self.validate(dot.clone(), ty),
            Arg::Nil { .. } => {
                return match ty {
                    None => Ok(Value::Invalid),
                    Some(t) if t.can_be_nil() => Ok(Value::Invalid),
                    Some(t) => Err(self.error(format!("cannot assign nil to {}", t.name()))),
                }
            }
            Arg::Field { idents, .. } => {
                let v = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    n,
                    idents,
                    std::slice::from_ref(n),
                    None,
                )?;
                return self.validate(v, ty);
            }
            Arg::Variable { idents, .. } => {
                let v = self.var_value(&idents[0])?;
                let v = if idents.len() > 1 {
                    self.eval_field_chain(dot, v, n, &idents[1..], &[], None)?
                } else {
                    v
                };
                return self.validate(v, ty);
            }
            Arg::Pipe { pipe, .. } => {
                let v = self.eval_pipeline(dot, pipe)?;
                return self.validate(v, ty);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(dot, name, At::Arg(n), &[], None)?;
                return self.validate(v, ty);
            }
            Arg::Chain { node, fields, .. } => {
                let recv = self.eval_arg(dot, None, node)?;
                let v = self.eval_field_chain(dot, recv, n, fields, &[], None)?;
                return self.validate(v, ty);
            }
            _ => {}
        }
        let found = |what: &str| format!("expected {what}; found {n}");
        match (ty.unwrap_or(Ty::Any), n) {
            (Ty::Any, Arg::Bool { val, .. }) => Ok(Value::Bool(*val)),
            (Ty::Any, Arg::Number { num, .. }) => self.ideal_constant(num),
            (Ty::Any, Arg::Str { text, .. }) => Ok(Value::str(text)),
            (Ty::Str, Arg::Str { text, .. }) => Ok(Value::str(text)),
            (Ty::Str, _) => Err(self.error(found("string"))),
            (t, _) => Err(self.error(format!("can't handle {n} for arg of type {}", t.name()))),
        }
    }
}
