//! Query results as the Prometheus HTTP API returns them, and the comparison of two of them.
//!
//! Rules: both fail (any error) or both succeed; same `resultType`; the same set of series
//! (label sets, order-insensitive unless the caller asks for order); per series the same
//! timestamps (ms) and values equal within [`REL_TOL`] relative or [`ABS_TOL`] absolute,
//! NaN equal to NaN and infinities equal only to themselves. Errors are never compared by
//! wording, only by existence.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Relative tolerance on values.
pub const REL_TOL: f64 = 1e-9;
/// Absolute tolerance on values (for results near 0, e.g. a regression slope of a constant).
pub const ABS_TOL: f64 = 1e-12;
/// At most this many differences are listed per comparison.
const MAX_DIFFS: usize = 8;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One sample of a result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Timestamp in ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a vector (one point) or matrix result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// Its points in the order received.
    pub points: Vec<Point>,
}

/// The `data` of a successful query.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `resultType: scalar`.
    Scalar(Point),
    /// `resultType: string` (timestamp ms, text).
    String(i64, String),
    /// `resultType: vector` (each series has one point).
    Vector(Vec<Series>),
    /// `resultType: matrix`.
    Matrix(Vec<Series>),
}

impl Data {
    /// The `resultType` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Data::Scalar(_) => "scalar",
            Data::String(..) => "string",
            Data::Vector(_) => "vector",
            Data::Matrix(_) => "matrix",
        }
    }
}

/// What one server answered to one query.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `status: success`.
    Success(Data),
    /// `status: error` (or any non-2xx status).
    Error {
        /// HTTP status code.
        http_status: u16,
        /// `errorType` and `error`, or the raw body.
        message: String,
    },
    /// The answer was not a Prometheus API response at all (transport error, not JSON, wrong
    /// shape). Never equal to anything.
    Invalid(String),
}

/// Parses an API response body given its HTTP status.
pub fn parse_outcome(http_status: u16, body: &[u8]) -> Outcome {
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let text = abbreviate(&String::from_utf8_lossy(body), 200);
            if !(200..300).contains(&http_status) {
                return Outcome::Error {
                    http_status,
                    message: text,
                };
            }
            return Outcome::Invalid(format!(
                "HTTP {http_status}, body is not JSON ({e}): {text}"
            ));
        }
    };
    let status = json.get("status").and_then(Value::as_str).unwrap_or("");
    if status == "error" || !(200..300).contains(&http_status) {
        let et = json.get("errorType").and_then(Value::as_str).unwrap_or("");
        let msg = json.get("error").and_then(Value::as_str).unwrap_or("");
        return Outcome::Error {
            http_status,
            message: format!("{et}: {msg}"),
        };
    }
    if status != "success" {
        return Outcome::Invalid(format!("status is {status:?}"));
    }
    match parse_data(json.get("data")) {
        Ok(d) => Outcome::Success(d),
        Err(e) => Outcome::Invalid(e),
    }
}

fn parse_data(data: Option<&Value>) -> Result<Data, String> {
    let data = data.ok_or("no data")?;
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or("no data.resultType")?;
    let result = data.get("result").ok_or("no data.result")?;
    match kind {
        "scalar" => Ok(Data::Scalar(parse_point(result)?)),
        "string" => {
            let arr = result
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or("bad string")?;
            let s = arr[1].as_str().ok_or("string value is not a string")?;
            Ok(Data::String(parse_time(&arr[0])?, s.to_string()))
        }
        "vector" | "matrix" => {
            let items = result.as_array().ok_or("result is not an array")?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let labels = parse_labels(item.get("metric"))?;
                let points = if kind == "vector" {
                    vec![parse_point(
                        item.get("value").ok_or("vector item without value")?,
                    )?]
                } else {
                    item.get("values")
                        .and_then(Value::as_array)
                        .ok_or("matrix item without values")?
                        .iter()
                        .map(parse_point)
                        .collect::<Result<Vec<_>, _>>()?
                };
                out.push(Series { labels, points });
            }
            Ok(if kind == "vector" {
                Data::Vector(out)
            } else {
                Data::Matrix(out)
            })
        }
        other => Err(format!("unknown resultType {other:?}")),
    }
}

fn parse_labels(v: Option<&Value>) -> Result<Labels, String> {
    let obj = v
        .and_then(Value::as_object)
        .ok_or("metric is not an object")?;
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("label {k} is not a string"))
        })
        .collect()
}

fn parse_time(v: &Value) -> Result<i64, String> {
    let secs = v.as_f64().ok_or("timestamp is not a number")?;
    Ok((secs * 1000.0).round() as i64)
}

fn parse_point(v: &Value) -> Result<Point, String> {
    let arr = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or("sample is not [time, \"value\"]")?;
    let text = arr[1].as_str().ok_or("sample value is not a string")?;
    Ok(Point {
        t: parse_time(&arr[0])?,
        v: parse_value(text).ok_or_else(|| format!("bad sample value {text:?}"))?,
    })
}

/// Parses a sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// Whether two values are equal for this test.
pub fn values_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= ABS_TOL || diff <= REL_TOL * a.abs().max(b.abs())
}

/// Renders labels as `name{a="b", ...}`.
pub fn format_labels(l: &Labels) -> String {
    let name = l.get("__name__").map_or("", String::as_str);
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn format_point(p: &Point) -> String {
    format!("{}@{}", format_value(p.v), p.t)
}

fn abbreviate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A short human-readable rendering of an outcome (a few series, a few points each).
pub fn summarize(o: &Outcome) -> String {
    match o {
        Outcome::Invalid(m) => format!("INVALID: {m}"),
        Outcome::Error {
            http_status,
            message,
        } => format!("error (HTTP {http_status}) {}", abbreviate(message, 160)),
        Outcome::Success(Data::Scalar(p)) => format!("scalar {}", format_point(p)),
        Outcome::Success(Data::String(t, s)) => format!("string {s:?}@{t}"),
        Outcome::Success(d @ (Data::Vector(ss) | Data::Matrix(ss))) => {
            let mut out = format!("{}({})", d.kind(), ss.len());
            for s in ss.iter().take(3) {
                let pts: Vec<String> = s.points.iter().take(3).map(format_point).collect();
                let more = if s.points.len() > 3 {
                    format!(" +{}", s.points.len() - 3)
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    " {} [{}{more}];",
                    format_labels(&s.labels),
                    pts.join(" ")
                );
            }
            if ss.len() > 3 {
                let _ = write!(out, " ...");
            }
            abbreviate(&out, 600)
        }
    }
}

/// Compares Prometheus's outcome (`want`) with Strata's (`got`). Returns the differences,
/// empty when they agree. `ordered` also requires the same value order (for instant `sort`,
/// `sort_desc`, `topk`, `bottomk`): ties may be listed in any order, so what is compared is
/// the sequence of values, after the series sets were found equal.
pub fn compare(want: &Outcome, got: &Outcome, ordered: bool) -> Vec<String> {
    let mut diffs = Vec::new();
    let (w, g) = match (want, got) {
        (Outcome::Error { .. }, Outcome::Error { .. }) => return diffs,
        (Outcome::Invalid(m), _) => {
            diffs.push(format!("prometheus answer unusable: {m}"));
            return diffs;
        }
        (_, Outcome::Invalid(m)) => {
            diffs.push(format!("strata answer unusable: {m}"));
            return diffs;
        }
        (Outcome::Error { .. }, Outcome::Success(_)) => {
            diffs.push("prometheus failed, strata succeeded".into());
            return diffs;
        }
        (Outcome::Success(_), Outcome::Error { .. }) => {
            diffs.push("prometheus succeeded, strata failed".into());
            return diffs;
        }
        (Outcome::Success(w), Outcome::Success(g)) => (w, g),
    };
    match (w, g) {
        (Data::Scalar(a), Data::Scalar(b)) => compare_points("scalar", &[*a], &[*b], &mut diffs),
        (Data::String(ta, a), Data::String(tb, b)) => {
            if ta != tb || a != b {
                diffs.push(format!("string {a:?}@{ta} vs {b:?}@{tb}"));
            }
        }
        (Data::Vector(a), Data::Vector(b)) => {
            compare_series(a, b, &mut diffs);
            if ordered && diffs.is_empty() {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    if !values_equal(x.points[0].v, y.points[0].v) {
                        diffs.push(format!(
                            "order differs at position {i}: prometheus has {} {}, strata has {} {}",
                            format_labels(&x.labels),
                            format_value(x.points[0].v),
                            format_labels(&y.labels),
                            format_value(y.points[0].v)
                        ));
                        break;
                    }
                }
            }
        }
        (Data::Matrix(a), Data::Matrix(b)) => compare_series(a, b, &mut diffs),
        _ => diffs.push(format!("resultType {} vs {}", w.kind(), g.kind())),
    }
    diffs
}

/// The tie-tolerant comparison for `topk`/`bottomk`, used after [`compare`] found a
/// difference: both succeed with the same `resultType`; at every timestamp the sorted values
/// of all series are equal; and a series present in both has equal values wherever both have
/// a point. Answers that keep different but tied series pass; anything else does not.
pub fn compare_ranked(want: &Outcome, got: &Outcome) -> Vec<String> {
    let (Outcome::Success(w), Outcome::Success(g)) = (want, got) else {
        return compare(want, got, false);
    };
    let (a, b) = match (w, g) {
        (Data::Vector(a), Data::Vector(b)) | (Data::Matrix(a), Data::Matrix(b)) => (a, b),
        _ => return compare(want, got, false),
    };
    let mut diffs = Vec::new();
    let by_time = |ss: &[Series]| {
        let mut m: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for s in ss {
            for p in &s.points {
                m.entry(p.t).or_default().push(p.v);
            }
        }
        for vs in m.values_mut() {
            vs.sort_by(|x, y| x.total_cmp(y));
        }
        m
    };
    let (ta, tb) = (by_time(a), by_time(b));
    for (t, va) in &ta {
        let vb = tb.get(t).map_or(&[][..], Vec::as_slice);
        let same = va.len() == vb.len() && va.iter().zip(vb).all(|(x, y)| values_equal(*x, *y));
        if !same {
            diffs.push(format!(
                "values at t={t} differ: prometheus {:?} strata {vb:?}",
                va
            ));
            break;
        }
    }
    if let Some(t) = tb.keys().find(|t| !ta.contains_key(*t)) {
        diffs.push(format!("strata has values at t={t}, prometheus has none"));
    }
    let ia = index(a, "prometheus", &mut diffs);
    let ib = index(b, "strata", &mut diffs);
    for (labels, pa) in &ia {
        let Some(pb) = ib.get(labels) else { continue };
        let mb: BTreeMap<i64, f64> = pb.iter().map(|p| (p.t, p.v)).collect();
        if let Some(p) = pa
            .iter()
            .find(|p| mb.get(&p.t).is_some_and(|v| !values_equal(p.v, *v)))
        {
            diffs.push(format!(
                "{} at t={}: prometheus {} strata {}",
                format_labels(labels),
                p.t,
                format_value(p.v),
                format_value(mb[&p.t])
            ));
        }
    }
    diffs
}

fn index(ss: &[Series], side: &str, diffs: &mut Vec<String>) -> BTreeMap<Labels, Vec<Point>> {
    let mut m = BTreeMap::new();
    for s in ss {
        if m.insert(s.labels.clone(), s.points.clone()).is_some() {
            diffs.push(format!("{side} lists {} twice", format_labels(&s.labels)));
        }
    }
    m
}

fn compare_series(want: &[Series], got: &[Series], diffs: &mut Vec<String>) {
    let a = index(want, "prometheus", diffs);
    let b = index(got, "strata", diffs);
    let only_a: Vec<&Labels> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<&Labels> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    for (side, only) in [("prometheus", &only_a), ("strata", &only_b)] {
        if !only.is_empty() {
            let names: Vec<String> = only.iter().take(4).map(|l| format_labels(l)).collect();
            let more = if only.len() > 4 {
                format!(" (+{} more)", only.len() - 4)
            } else {
                String::new()
            };
            diffs.push(format!(
                "{} series only in {side}: {}{more}",
                only.len(),
                names.join("; ")
            ));
        }
    }
    for (labels, pa) in &a {
        if diffs.len() >= MAX_DIFFS {
            break;
        }
        if let Some(pb) = b.get(labels) {
            compare_points(&format_labels(labels), pa, pb, diffs);
        }
    }
}

fn compare_points(what: &str, a: &[Point], b: &[Point], diffs: &mut Vec<String>) {
    let ta: Vec<i64> = a.iter().map(|p| p.t).collect();
    let tb: Vec<i64> = b.iter().map(|p| p.t).collect();
    if ta != tb {
        let first = ta
            .iter()
            .zip(&tb)
            .position(|(x, y)| x != y)
            .unwrap_or(ta.len().min(tb.len()));
        diffs.push(format!(
            "{what}: timestamps differ ({} vs {} points; first difference at index {first}: {:?} vs {:?})",
            ta.len(),
            tb.len(),
            ta.get(first),
            tb.get(first)
        ));
        return;
    }
    let bad: Vec<(&Point, &Point)> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| !values_equal(x.v, y.v))
        .collect();
    if let Some((x, y)) = bad.first() {
        diffs.push(format!(
            "{what}: {} of {} values differ, first at t={}: prometheus {} strata {}",
            bad.len(),
            a.len(),
            x.t,
            format_value(x.v),
            format_value(y.v)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Outcome {
        let o = parse_outcome(200, body.as_bytes());
        assert!(matches!(o, Outcome::Success(_)), "{o:?}");
        o
    }

    fn vector(items: &[(&str, &str)]) -> Outcome {
        let items: Vec<String> = items
            .iter()
            .map(|(job, v)| {
                format!(r#"{{"metric":{{"__name__":"up","job":"{job}"}},"value":[1700000000.007,"{v}"]}}"#)
            })
            .collect();
        ok(&format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            items.join(",")
        ))
    }

    #[test]
    fn parses_every_result_type() {
        let s = ok(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"+Inf"]}}"#,
        );
        assert_eq!(
            s,
            Outcome::Success(Data::Scalar(Point {
                t: 1_700_000_000_500,
                v: f64::INFINITY
            }))
        );
        let s = ok(r#"{"status":"success","data":{"resultType":"string","result":[1,"foo"]}}"#);
        assert_eq!(s, Outcome::Success(Data::String(1000, "foo".into())));
        let m = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1.001,"1"],[2.002,"-Inf"]]}]}}"#,
        );
        let Outcome::Success(Data::Matrix(ss)) = m else {
            panic!()
        };
        assert_eq!(ss[0].points.len(), 2);
        assert_eq!(ss[0].points[1].t, 2002);
        assert_eq!(ss[0].points[1].v, f64::NEG_INFINITY);
        assert_eq!(ss[0].labels.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn errors_and_garbage() {
        let e = parse_outcome(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#,
        );
        assert!(matches!(
            e,
            Outcome::Error {
                http_status: 400,
                ..
            }
        ));
        assert!(matches!(parse_outcome(500, b"oops"), Outcome::Error { .. }));
        assert!(matches!(parse_outcome(200, b"oops"), Outcome::Invalid(_)));
        assert!(matches!(
            parse_outcome(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#),
            Outcome::Invalid(_)
        ));
        assert!(matches!(
            parse_outcome(
                200,
                br#"{"status":"success","data":{"resultType":"weird","result":[]}}"#
            ),
            Outcome::Invalid(_)
        ));
        // Both failing is agreement; one failing is not; unusable answers never agree.
        let e2 = parse_outcome(
            422,
            br#"{"status":"error","errorType":"execution","error":"x"}"#,
        );
        assert!(compare(&e, &e2, false).is_empty());
        let v = vector(&[("a", "1")]);
        assert_eq!(compare(&e, &v, false).len(), 1);
        assert_eq!(compare(&v, &e, false).len(), 1);
        let inv = Outcome::Invalid("x".into());
        assert_eq!(compare(&inv, &inv, false).len(), 1);
        assert_eq!(compare(&v, &inv, false).len(), 1);
    }

    #[test]
    fn equal_vectors_in_any_order() {
        let a = vector(&[("a", "1"), ("b", "2.5")]);
        let b = vector(&[("b", "2.5"), ("a", "1")]);
        assert!(compare(&a, &b, false).is_empty());
        assert!(compare(&a, &a, true).is_empty());
        // Order matters when asked for.
        assert_eq!(compare(&a, &b, true).len(), 1);
        // Ties may come in any order.
        let t1 = vector(&[("a", "1"), ("b", "1"), ("c", "3")]);
        let t2 = vector(&[("b", "1"), ("a", "1"), ("c", "3")]);
        assert!(compare(&t1, &t2, true).is_empty());
    }

    #[test]
    fn unequal_values_and_tolerance() {
        let a = vector(&[("a", "1000000")]);
        assert!(compare(&a, &vector(&[("a", "1000000.0000001")]), false).is_empty());
        assert_eq!(compare(&a, &vector(&[("a", "1000000.01")]), false).len(), 1);
        let z = vector(&[("a", "0")]);
        assert!(compare(&z, &vector(&[("a", "1e-17")]), false).is_empty());
        assert_eq!(compare(&z, &vector(&[("a", "1e-6")]), false).len(), 1);
        assert!(values_equal(0.1 + 0.2, 0.3));
        assert!(!values_equal(1.0, 1.0 + 1e-8));
        assert!(values_equal(-5.0, -5.000000000001));
        assert!(!values_equal(-5.0, 5.0));
    }

    #[test]
    fn nan_and_inf() {
        let nan = vector(&[("a", "NaN")]);
        assert!(compare(&nan, &nan, false).is_empty());
        assert_eq!(compare(&nan, &vector(&[("a", "0")]), false).len(), 1);
        assert_eq!(compare(&vector(&[("a", "0")]), &nan, false).len(), 1);
        let inf = vector(&[("a", "+Inf")]);
        assert!(compare(&inf, &inf, false).is_empty());
        assert_eq!(compare(&inf, &vector(&[("a", "-Inf")]), false).len(), 1);
        assert_eq!(compare(&inf, &vector(&[("a", "1e308")]), false).len(), 1);
        assert_eq!(compare(&inf, &nan, false).len(), 1);
        assert!(values_equal(f64::NAN, f64::NAN));
        assert!(!values_equal(f64::INFINITY, f64::NAN));
    }

    #[test]
    fn missing_and_extra_series() {
        let a = vector(&[("a", "1"), ("b", "2")]);
        let b = vector(&[("a", "1")]);
        let d = compare(&a, &b, false);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("only in prometheus"), "{d:?}");
        let d = compare(&b, &a, false);
        assert!(d[0].contains("only in strata"), "{d:?}");
        assert!(!compare(&a, &vector(&[]), false).is_empty());
        // Duplicates in one answer are a difference.
        assert!(!compare(&a, &vector(&[("a", "1"), ("a", "1"), ("b", "2")]), false).is_empty());
    }

    #[test]
    fn ranked_tolerates_ties_only() {
        let m = |items: &[(&str, &[(i64, &str)])]| {
            let items: Vec<String> = items
                .iter()
                .map(|(e, pts)| {
                    let pts: Vec<String> =
                        pts.iter().map(|(t, v)| format!("[{t},\"{v}\"]")).collect();
                    format!(r#"{{"metric":{{"e":"{e}"}},"values":[{}]}}"#, pts.join(","))
                })
                .collect();
            ok(&format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{}]}}}}"#,
                items.join(",")
            ))
        };
        // At t=2 the tie between b and c went either way.
        let a = m(&[("a", &[(1, "9"), (2, "9")]), ("b", &[(1, "5"), (2, "5")])]);
        let b = m(&[
            ("a", &[(1, "9"), (2, "9")]),
            ("b", &[(1, "5")]),
            ("c", &[(2, "5")]),
        ]);
        assert!(!compare(&a, &b, false).is_empty());
        assert!(compare_ranked(&a, &b).is_empty());
        // A different value is not a tie.
        let c = m(&[("a", &[(1, "9"), (2, "9")]), ("b", &[(1, "5"), (2, "4")])]);
        assert!(!compare_ranked(&a, &c).is_empty());
        // The same series with another value is caught even if the multiset matches.
        let d = m(&[("a", &[(1, "5"), (2, "9")]), ("b", &[(1, "9"), (2, "5")])]);
        let e = m(&[("a", &[(1, "9"), (2, "9")]), ("b", &[(1, "5"), (2, "5")])]);
        assert!(!compare_ranked(&d, &e).is_empty());
        // Extra steps on one side.
        let f = m(&[("a", &[(1, "9"), (2, "9"), (3, "1")])]);
        let g = m(&[("a", &[(1, "9"), (2, "9")])]);
        assert!(!compare_ranked(&f, &g).is_empty());
        assert!(!compare_ranked(&g, &f).is_empty());
        // Errors still must agree.
        let err = Outcome::Error {
            http_status: 422,
            message: String::new(),
        };
        assert!(!compare_ranked(&g, &err).is_empty());
    }

    #[test]
    fn result_type_and_timestamps() {
        let v = vector(&[("a", "1")]);
        let s = ok(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.007,"1"]}}"#,
        );
        assert_eq!(compare(&v, &s, false).len(), 1);
        let m1 = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#,
        );
        let m2 = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[3,"2"]]}]}}"#,
        );
        let m3 = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}"#,
        );
        let m4 = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2.5"]]}]}}"#,
        );
        assert!(compare(&m1, &m1, false).is_empty());
        assert_eq!(compare(&m1, &m2, false).len(), 1);
        assert_eq!(compare(&m1, &m3, false).len(), 1);
        assert_eq!(compare(&m1, &m4, false).len(), 1);
        assert!(summarize(&m4).contains("2.5@2000"));
    }
}
