//! The PromQL function table: name, argument types, arity and result type.
//!
//! Arity follows Prometheus's convention: `variadic == 0` means exactly `args.len()`
//! arguments; `variadic > 0` means the last argument is optional and may repeat up to
//! `variadic` times (so between `args.len() - 1` and `args.len() - 1 + variadic` arguments);
//! `variadic < 0` means the last argument may repeat without limit (at least
//! `args.len() - 1` arguments). Extra arguments take the type of the last one.
//!
//! Functions marked `experimental` are behind `--enable-feature=promql-experimental-functions`
//! in Prometheus; [`super::ParseOptions::experimental_functions`] controls them here.
//! `holt_winters` was removed in Prometheus 3 and is an unknown function.

use super::ast::ValueType;

/// Every PromQL function, resolved once by the parser (a [`crate::parser::ast::Call`] holds
/// one) so that the evaluator dispatches on this enum instead of matching names.
///
/// Invariant: variants are declared in the order of [`FUNCTIONS`] (sorted by name), so
/// `FUNCTIONS[f as usize].func == f` (checked by a test).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Func {
    Abs,
    Absent,
    AbsentOverTime,
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    AvgOverTime,
    Ceil,
    Changes,
    Clamp,
    ClampMax,
    ClampMin,
    Cos,
    Cosh,
    CountOverTime,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    DaysInMonth,
    Deg,
    Delta,
    Deriv,
    DoubleExponentialSmoothing,
    Exp,
    FirstOverTime,
    Floor,
    HistogramAvg,
    HistogramCount,
    HistogramFraction,
    HistogramQuantile,
    HistogramStddev,
    HistogramStdvar,
    HistogramSum,
    Hour,
    Idelta,
    Increase,
    Irate,
    LabelJoin,
    LabelReplace,
    LastOverTime,
    Ln,
    Log10,
    Log2,
    MadOverTime,
    MaxOverTime,
    MinOverTime,
    Minute,
    Month,
    Pi,
    PredictLinear,
    PresentOverTime,
    QuantileOverTime,
    Rad,
    Rate,
    Resets,
    Round,
    Scalar,
    Sgn,
    Sin,
    Sinh,
    Sort,
    SortByLabel,
    SortByLabelDesc,
    SortDesc,
    Sqrt,
    StddevOverTime,
    StdvarOverTime,
    SumOverTime,
    Tan,
    Tanh,
    Time,
    Timestamp,
    TsOfFirstOverTime,
    TsOfLastOverTime,
    TsOfMaxOverTime,
    TsOfMinOverTime,
    Vector,
    Year,
}

impl Func {
    /// The function's signature.
    pub fn spec(self) -> &'static FunctionSpec {
        &FUNCTIONS[self as usize]
    }

    /// The function's name as written in PromQL.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Looks a function up by its exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Func> {
        lookup(name).map(|s| s.func)
    }
}

impl std::fmt::Display for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The typed identity the evaluator dispatches on.
    pub func: Func,
    /// Name as written.
    pub name: &'static str,
    /// Argument types (see the module docs for optional/repeated arguments).
    pub args: &'static [ValueType],
    /// 0: fixed arity; n > 0: last argument optional, up to n times; -1: unbounded.
    pub variadic: i32,
    /// Result type.
    pub ret: ValueType,
    /// Experimental in Prometheus 3.
    pub experimental: bool,
}

impl FunctionSpec {
    /// Smallest accepted number of arguments.
    pub fn min_args(&self) -> usize {
        if self.variadic == 0 {
            self.args.len()
        } else {
            self.args.len().saturating_sub(1)
        }
    }

    /// Largest accepted number of arguments (`None` if unbounded).
    pub fn max_args(&self) -> Option<usize> {
        match self.variadic {
            0 => Some(self.args.len()),
            n if n > 0 => Some(self.args.len() - 1 + n as usize),
            _ => None,
        }
    }

    /// Expected type of argument `i` (`None` if `i` is beyond a fixed arity).
    pub fn arg_type(&self, i: usize) -> Option<ValueType> {
        if i < self.args.len() {
            Some(self.args[i])
        } else if self.variadic != 0 {
            self.args.last().copied()
        } else {
            None
        }
    }
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

const fn f(
    func: Func,
    name: &'static str,
    args: &'static [ValueType],
    variadic: i32,
    ret: ValueType,
    experimental: bool,
) -> FunctionSpec {
    FunctionSpec {
        func,
        name,
        args,
        variadic,
        ret,
        experimental,
    }
}

/// Every function the parser knows, sorted by name.
pub static FUNCTIONS: &[FunctionSpec] = &[
    f(Func::Abs, "abs", &[V], 0, V, false),
    f(Func::Absent, "absent", &[V], 0, V, false),
    f(Func::AbsentOverTime, "absent_over_time", &[M], 0, V, false),
    f(Func::Acos, "acos", &[V], 0, V, false),
    f(Func::Acosh, "acosh", &[V], 0, V, false),
    f(Func::Asin, "asin", &[V], 0, V, false),
    f(Func::Asinh, "asinh", &[V], 0, V, false),
    f(Func::Atan, "atan", &[V], 0, V, false),
    f(Func::Atanh, "atanh", &[V], 0, V, false),
    f(Func::AvgOverTime, "avg_over_time", &[M], 0, V, false),
    f(Func::Ceil, "ceil", &[V], 0, V, false),
    f(Func::Changes, "changes", &[M], 0, V, false),
    f(Func::Clamp, "clamp", &[V, S, S], 0, V, false),
    f(Func::ClampMax, "clamp_max", &[V, S], 0, V, false),
    f(Func::ClampMin, "clamp_min", &[V, S], 0, V, false),
    f(Func::Cos, "cos", &[V], 0, V, false),
    f(Func::Cosh, "cosh", &[V], 0, V, false),
    f(Func::CountOverTime, "count_over_time", &[M], 0, V, false),
    f(Func::DayOfMonth, "day_of_month", &[V], 1, V, false),
    f(Func::DayOfWeek, "day_of_week", &[V], 1, V, false),
    f(Func::DayOfYear, "day_of_year", &[V], 1, V, false),
    f(Func::DaysInMonth, "days_in_month", &[V], 1, V, false),
    f(Func::Deg, "deg", &[V], 0, V, false),
    f(Func::Delta, "delta", &[M], 0, V, false),
    f(Func::Deriv, "deriv", &[M], 0, V, false),
    f(
        Func::DoubleExponentialSmoothing,
        "double_exponential_smoothing",
        &[M, S, S],
        0,
        V,
        true,
    ),
    f(Func::Exp, "exp", &[V], 0, V, false),
    f(Func::FirstOverTime, "first_over_time", &[M], 0, V, true),
    f(Func::Floor, "floor", &[V], 0, V, false),
    f(Func::HistogramAvg, "histogram_avg", &[V], 0, V, false),
    f(Func::HistogramCount, "histogram_count", &[V], 0, V, false),
    f(
        Func::HistogramFraction,
        "histogram_fraction",
        &[S, S, V],
        0,
        V,
        false,
    ),
    f(
        Func::HistogramQuantile,
        "histogram_quantile",
        &[S, V],
        0,
        V,
        false,
    ),
    f(Func::HistogramStddev, "histogram_stddev", &[V], 0, V, false),
    f(Func::HistogramStdvar, "histogram_stdvar", &[V], 0, V, false),
    f(Func::HistogramSum, "histogram_sum", &[V], 0, V, false),
    f(Func::Hour, "hour", &[V], 1, V, false),
    f(Func::Idelta, "idelta", &[M], 0, V, false),
    f(Func::Increase, "increase", &[M], 0, V, false),
    f(Func::Irate, "irate", &[M], 0, V, false),
    f(
        Func::LabelJoin,
        "label_join",
        &[V, Str, Str, Str],
        -1,
        V,
        false,
    ),
    f(
        Func::LabelReplace,
        "label_replace",
        &[V, Str, Str, Str, Str],
        0,
        V,
        false,
    ),
    f(Func::LastOverTime, "last_over_time", &[M], 0, V, false),
    f(Func::Ln, "ln", &[V], 0, V, false),
    f(Func::Log10, "log10", &[V], 0, V, false),
    f(Func::Log2, "log2", &[V], 0, V, false),
    f(Func::MadOverTime, "mad_over_time", &[M], 0, V, true),
    f(Func::MaxOverTime, "max_over_time", &[M], 0, V, false),
    f(Func::MinOverTime, "min_over_time", &[M], 0, V, false),
    f(Func::Minute, "minute", &[V], 1, V, false),
    f(Func::Month, "month", &[V], 1, V, false),
    f(Func::Pi, "pi", &[], 0, S, false),
    f(Func::PredictLinear, "predict_linear", &[M, S], 0, V, false),
    f(
        Func::PresentOverTime,
        "present_over_time",
        &[M],
        0,
        V,
        false,
    ),
    f(
        Func::QuantileOverTime,
        "quantile_over_time",
        &[S, M],
        0,
        V,
        false,
    ),
    f(Func::Rad, "rad", &[V], 0, V, false),
    f(Func::Rate, "rate", &[M], 0, V, false),
    f(Func::Resets, "resets", &[M], 0, V, false),
    f(Func::Round, "round", &[V, S], 1, V, false),
    f(Func::Scalar, "scalar", &[V], 0, S, false),
    f(Func::Sgn, "sgn", &[V], 0, V, false),
    f(Func::Sin, "sin", &[V], 0, V, false),
    f(Func::Sinh, "sinh", &[V], 0, V, false),
    f(Func::Sort, "sort", &[V], 0, V, false),
    f(Func::SortByLabel, "sort_by_label", &[V, Str], -1, V, true),
    f(
        Func::SortByLabelDesc,
        "sort_by_label_desc",
        &[V, Str],
        -1,
        V,
        true,
    ),
    f(Func::SortDesc, "sort_desc", &[V], 0, V, false),
    f(Func::Sqrt, "sqrt", &[V], 0, V, false),
    f(Func::StddevOverTime, "stddev_over_time", &[M], 0, V, false),
    f(Func::StdvarOverTime, "stdvar_over_time", &[M], 0, V, false),
    f(Func::SumOverTime, "sum_over_time", &[M], 0, V, false),
    f(Func::Tan, "tan", &[V], 0, V, false),
    f(Func::Tanh, "tanh", &[V], 0, V, false),
    f(Func::Time, "time", &[], 0, S, false),
    f(Func::Timestamp, "timestamp", &[V], 0, V, false),
    f(
        Func::TsOfFirstOverTime,
        "ts_of_first_over_time",
        &[M],
        0,
        V,
        true,
    ),
    f(
        Func::TsOfLastOverTime,
        "ts_of_last_over_time",
        &[M],
        0,
        V,
        true,
    ),
    f(
        Func::TsOfMaxOverTime,
        "ts_of_max_over_time",
        &[M],
        0,
        V,
        true,
    ),
    f(
        Func::TsOfMinOverTime,
        "ts_of_min_over_time",
        &[M],
        0,
        V,
        true,
    ),
    f(Func::Vector, "vector", &[S], 0, V, false),
    f(Func::Year, "year", &[V], 1, V, false),
];

/// Looks a function up by its exact (case-sensitive) name.
pub fn lookup(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lookup_works() {
        assert!(FUNCTIONS.windows(2).all(|w| w[0].name < w[1].name));
        for (i, spec) in FUNCTIONS.iter().enumerate() {
            assert_eq!(spec.func as usize, i, "{}", spec.name);
            assert_eq!(spec.func.name(), spec.name);
            assert_eq!(Func::from_name(spec.name), Some(spec.func));
        }
        assert_eq!(lookup("rate").map(|f| f.args), Some(&[M][..]));
        assert!(lookup("holt_winters").is_none());
        assert!(lookup("RATE").is_none());
        let round = lookup("round").expect("round exists");
        assert_eq!((round.min_args(), round.max_args()), (1, Some(2)));
        let join = lookup("label_join").expect("label_join exists");
        assert_eq!((join.min_args(), join.max_args()), (3, None));
        assert_eq!(join.arg_type(7), Some(Str));
    }
}
