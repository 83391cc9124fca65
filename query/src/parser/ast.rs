//! The PromQL abstract syntax tree.
//!
//! Durations and timestamps are `i64` milliseconds. A vector selector's `matchers` always hold
//! every matcher it applies, including the `__name__="..."` matcher implied by a leading metric
//! name (kept separately in `name` only so that the printer can write `foo{a="b"}` back).

use strata_engine::Matcher;

pub use super::functions::Func;

/// The type of value an expression produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A single float.
    Scalar,
    /// One sample per series at one time.
    Vector,
    /// Several samples per series over a window.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// Name as Prometheus prints it in errors ("scalar", "instant vector", ...).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

/// A PromQL expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `1`, `0x1f`, `Inf`, `NaN`, `1e3`.
    Number(f64),
    /// `"text"`.
    String(String),
    /// `foo{a="b"} offset 5m @ 100`.
    VectorSelector(VectorSelector),
    /// `foo[5m]`.
    MatrixSelector(MatrixSelector),
    /// `expr[30m:1m]`.
    Subquery(SubqueryExpr),
    /// `( expr )`.
    Paren(Box<Expr>),
    /// `-expr` or `+expr`.
    Unary(UnaryOp, Box<Expr>),
    /// `a + on(x) group_left b`.
    Binary(BinaryExpr),
    /// `sum by (x) (expr)`.
    Aggregate(AggregateExpr),
    /// `rate(x[5m])`.
    Call(Call),
}

/// A `@` modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtModifier {
    /// `@ <unix seconds>`, stored in ms.
    Timestamp(i64),
    /// `@ start()`.
    Start,
    /// `@ end()`.
    End,
}

/// An instant vector selector.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name written before the braces, if any.
    pub name: Option<String>,
    /// All matchers, including `__name__="name"` when `name` is set.
    pub matchers: Vec<Matcher>,
    /// `offset` in ms (negative looks forward); 0 if absent.
    pub offset: i64,
    /// `@` modifier.
    pub at: Option<AtModifier>,
}

/// A range vector selector `selector[range]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// The inner selector (offset and `@` live there).
    pub selector: VectorSelector,
    /// Range in ms.
    pub range: i64,
}

/// A subquery `expr[range:step]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression (an instant vector).
    pub expr: Box<Expr>,
    /// Range in ms.
    pub range: i64,
    /// Step in ms; `None` for `[range:]` (the default evaluation interval).
    pub step: Option<i64>,
    /// `offset` in ms; 0 if absent.
    pub offset: i64,
    /// `@` modifier.
    pub at: Option<AtModifier>,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Pos,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
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
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// True for `== != > < >= <=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Gtr
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Lte
        )
    }
    /// True for `and or unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }
}

/// Which side may have many series per match group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cardinality {
    /// Plain one-to-one matching.
    OneToOne,
    /// `group_left(labels...)`: many on the left.
    ManyToOne(Vec<String>),
    /// `group_right(labels...)`: many on the right.
    OneToMany(Vec<String>),
    /// Set operators (`and`, `or`, `unless`).
    ManyToMany,
}

/// `on(...)` / `ignoring(...)` and `group_*` of a binary expression between two vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorMatching {
    /// True for `on(labels)`, false for `ignoring(labels)` (or no clause).
    pub on: bool,
    /// The `on`/`ignoring` label list.
    pub labels: Vec<String>,
    /// Cardinality and the `group_*` extra labels.
    pub card: Cardinality,
}

/// A binary expression.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    /// Operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Box<Expr>,
    /// Right operand.
    pub rhs: Box<Expr>,
    /// `bool` modifier on a comparison.
    pub return_bool: bool,
    /// Present when both sides are instant vectors (set to the default one-to-one, or
    /// many-to-many for set operators, when no clause is written).
    pub matching: Option<VectorMatching>,
}

/// Aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `quantile`
    Quantile,
    /// `count_values`
    CountValues,
}

impl AggregateOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::CountValues => "count_values",
        }
    }
    /// True for operators that take a parameter (`topk`, `bottomk`, `quantile`,
    /// `count_values`).
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::Quantile
                | AggregateOp::CountValues
        )
    }
}

/// `by (...)` or `without (...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// `by (labels)`.
    By(Vec<String>),
    /// `without (labels)`.
    Without(Vec<String>),
}

/// An aggregation.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    /// Operator.
    pub op: AggregateOp,
    /// The aggregated instant vector.
    pub expr: Box<Expr>,
    /// Parameter (`k`, `phi`, or the `count_values` label).
    pub param: Option<Box<Expr>>,
    /// Grouping; `None` aggregates everything into one group.
    pub grouping: Option<Grouping>,
}

/// A function call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The function, resolved by the parser.
    pub func: Func,
    /// Arguments.
    pub args: Vec<Expr>,
}

impl ValueType {
    /// Name as Go's `ValueType.String()` prints it ("scalar", "vector", "matrix",
    /// "string"), used by a few Prometheus error messages.
    pub fn go_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

impl Expr {
    /// The type of value the expression produces.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(e) | Expr::Unary(_, e) => e.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.spec().ret,
        }
    }

    /// The expression with any number of enclosing parentheses removed.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren(e) => e.unparen(),
            e => e,
        }
    }
}

impl BinaryOp {
    /// Binding strength: 1 (`or`) to 6 (`^`). Unary minus/plus binds like 5.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// True for `^`, the only right-associative operator.
    pub fn is_right_assoc(self) -> bool {
        self == BinaryOp::Pow
    }
}
