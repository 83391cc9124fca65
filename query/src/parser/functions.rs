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

/// One function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionSpec {
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
    name: &'static str,
    args: &'static [ValueType],
    variadic: i32,
    ret: ValueType,
    experimental: bool,
) -> FunctionSpec {
    FunctionSpec {
        name,
        args,
        variadic,
        ret,
        experimental,
    }
}

/// Every function the parser knows, sorted by name.
pub static FUNCTIONS: &[FunctionSpec] = &[
    f("abs", &[V], 0, V, false),
    f("absent", &[V], 0, V, false),
    f("absent_over_time", &[M], 0, V, false),
    f("acos", &[V], 0, V, false),
    f("acosh", &[V], 0, V, false),
    f("asin", &[V], 0, V, false),
    f("asinh", &[V], 0, V, false),
    f("atan", &[V], 0, V, false),
    f("atanh", &[V], 0, V, false),
    f("avg_over_time", &[M], 0, V, false),
    f("ceil", &[V], 0, V, false),
    f("changes", &[M], 0, V, false),
    f("clamp", &[V, S, S], 0, V, false),
    f("clamp_max", &[V, S], 0, V, false),
    f("clamp_min", &[V, S], 0, V, false),
    f("cos", &[V], 0, V, false),
    f("cosh", &[V], 0, V, false),
    f("count_over_time", &[M], 0, V, false),
    f("day_of_month", &[V], 1, V, false),
    f("day_of_week", &[V], 1, V, false),
    f("day_of_year", &[V], 1, V, false),
    f("days_in_month", &[V], 1, V, false),
    f("deg", &[V], 0, V, false),
    f("delta", &[M], 0, V, false),
    f("deriv", &[M], 0, V, false),
    f("double_exponential_smoothing", &[M, S, S], 0, V, true),
    f("exp", &[V], 0, V, false),
    f("first_over_time", &[M], 0, V, true),
    f("floor", &[V], 0, V, false),
    f("histogram_avg", &[V], 0, V, false),
    f("histogram_count", &[V], 0, V, false),
    f("histogram_fraction", &[S, S, V], 0, V, false),
    f("histogram_quantile", &[S, V], 0, V, false),
    f("histogram_stddev", &[V], 0, V, false),
    f("histogram_stdvar", &[V], 0, V, false),
    f("histogram_sum", &[V], 0, V, false),
    f("hour", &[V], 1, V, false),
    f("idelta", &[M], 0, V, false),
    f("increase", &[M], 0, V, false),
    f("irate", &[M], 0, V, false),
    f("label_join", &[V, Str, Str, Str], -1, V, false),
    f("label_replace", &[V, Str, Str, Str, Str], 0, V, false),
    f("last_over_time", &[M], 0, V, false),
    f("ln", &[V], 0, V, false),
    f("log10", &[V], 0, V, false),
    f("log2", &[V], 0, V, false),
    f("mad_over_time", &[M], 0, V, true),
    f("max_over_time", &[M], 0, V, false),
    f("min_over_time", &[M], 0, V, false),
    f("minute", &[V], 1, V, false),
    f("month", &[V], 1, V, false),
    f("pi", &[], 0, S, false),
    f("predict_linear", &[M, S], 0, V, false),
    f("present_over_time", &[M], 0, V, false),
    f("quantile_over_time", &[S, M], 0, V, false),
    f("rad", &[V], 0, V, false),
    f("rate", &[M], 0, V, false),
    f("resets", &[M], 0, V, false),
    f("round", &[V, S], 1, V, false),
    f("scalar", &[V], 0, S, false),
    f("sgn", &[V], 0, V, false),
    f("sin", &[V], 0, V, false),
    f("sinh", &[V], 0, V, false),
    f("sort", &[V], 0, V, false),
    f("sort_by_label", &[V, Str], -1, V, true),
    f("sort_by_label_desc", &[V, Str], -1, V, true),
    f("sort_desc", &[V], 0, V, false),
    f("sqrt", &[V], 0, V, false),
    f("stddev_over_time", &[M], 0, V, false),
    f("stdvar_over_time", &[M], 0, V, false),
    f("sum_over_time", &[M], 0, V, false),
    f("tan", &[V], 0, V, false),
    f("tanh", &[V], 0, V, false),
    f("time", &[], 0, S, false),
    f("timestamp", &[V], 0, V, false),
    f("ts_of_first_over_time", &[M], 0, V, true),
    f("ts_of_last_over_time", &[M], 0, V, true),
    f("ts_of_max_over_time", &[M], 0, V, true),
    f("ts_of_min_over_time", &[M], 0, V, true),
    f("vector", &[S], 0, V, false),
    f("year", &[V], 1, V, false),
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
