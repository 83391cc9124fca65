//! `/api/v1/rules` in Prometheus's exact JSON (reference rules.md section 8, Prometheus's
//! `api.go`): field names and order, `interval`/`evaluationTime` as JSON numbers of seconds,
//! `lastEvaluation` in RFC 3339 with nanoseconds (Go's zero time before the first run), HTML
//! characters escaped in strings as Go's encoder escapes them, recording-rule `labels`
//! omitted when empty.
//!
//! Filters as Prometheus applies them: `type=alert|record`, `rule_name[]`, `rule_group[]`,
//! `file[]` (Grafana also sends the bracket-less `rule_name`, `rule_group`, `file` that Mimir
//! reads; both spellings are accepted), `match[]` on the rules' labels, `exclude_alerts`,
//! and pagination with `group_limit` + `group_next_token`. Groups left with no rule after
//! filtering are not listed. Alerting rules are written by [`crate::alert::api`], with
//! their current alerts.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use strata_engine::{Labels, Matcher};

use crate::file::RuleKind;
use crate::group::Health;
use crate::manager::GroupView;

/// Which rules to list.
#[derive(Clone, Debug, Default)]
pub struct RulesQuery {
    /// `type`: only alerting (`Some(true)`) or only recording (`Some(false)`) rules.
    pub alerting_only: Option<bool>,
    /// `rule_name[]`.
    pub rule_names: HashSet<String>,
    /// `rule_group[]`.
    pub groups: HashSet<String>,
    /// `file[]`.
    pub files: HashSet<String>,
    /// `match[]`: a rule is listed if its labels match any one set.
    pub matchers: Vec<Vec<Matcher>>,
    /// `exclude_alerts`.
    pub exclude_alerts: bool,
    /// `group_limit`.
    pub group_limit: Option<usize>,
    /// `group_next_token`.
    pub next_token: Option<String>,
}

/// A bad parameter: its name and the reason, in Prometheus's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter.
    pub param: &'static str,
    /// The reason.
    pub msg: String,
}

impl RulesQuery {
    /// Reads the parameters (everything but `match[]`, which the caller parses into
    /// matchers). `get(name)` returns every value of a parameter.
    pub fn from_params(get: &dyn Fn(&str) -> Vec<String>) -> Result<RulesQuery, ParamError> {
        let first = |n: &str| get(n).into_iter().next().unwrap_or_default();
        let set = |a: &str, b: &str| -> HashSet<String> {
            get(a)
                .into_iter()
                .chain(get(b))
                .filter(|s| !s.is_empty())
                .collect()
        };
        let alerting_only = match first("type").to_ascii_lowercase().as_str() {
            "" => None,
            "alert" => Some(true),
            "record" => Some(false),
            other => {
                return Err(ParamError {
                    param: "type",
                    msg: format!("not supported value {other:?}"),
                })
            }
        };
        let exclude_alerts = match first("exclude_alerts").to_ascii_lowercase().as_str() {
            "" => false,
            "1" | "t" | "true" => true,
            "0" | "f" | "false" => false,
            other => {
                return Err(ParamError {
                    param: "exclude_alerts",
                    msg: format!(
                        "error converting exclude_alerts: strconv.ParseBool: parsing {other:?}: invalid syntax"
                    ),
                })
            }
        };
        let limit = first("group_limit");
        let token = first("group_next_token");
        if !token.is_empty() && limit.is_empty() {
            return Err(ParamError {
                param: "group_next_token",
                msg: "group_limit needs to be present in order to paginate over the groups".into(),
            });
        }
        let group_limit = if limit.is_empty() {
            None
        } else {
            let n: i64 = limit.parse().map_err(|_| ParamError {
                param: "group_limit",
                msg: format!(
                    "group_limit needs to be a valid number: strconv.ParseInt: parsing {limit:?}: invalid syntax"
                ),
            })?;
            if n <= 0 {
                return Err(ParamError {
                    param: "group_limit",
                    msg: "group_limit needs to be greater than 0".into(),
                });
            }
            Some(n as usize)
        };
        Ok(RulesQuery {
            alerting_only,
            rule_names: set("rule_name[]", "rule_name"),
            groups: set("rule_group[]", "rule_group"),
            files: set("file[]", "file"),
            matchers: Vec::new(),
            exclude_alerts,
            next_token: group_limit.and(Some(token).filter(|t| !t.is_empty())),
            group_limit,
        })
    }
}

/// The pagination token of a group (opaque to clients).
pub fn next_token(file: &str, group: &str) -> String {
    format!(
        "{:032x}",
        xxhash_rust::xxh3::xxh3_128(format!("{file};{group}").as_bytes())
    )
}

/// Renders the `data` object of `/api/v1/rules` for `groups` (sorted by file, then name).
pub fn rules_json(groups: &[GroupView], q: &RulesQuery) -> Result<String, ParamError> {
    let mut out = String::from("{\"groups\":[");
    let mut listed = 0usize;
    let mut found_token = q.next_token.is_none();
    let mut next = None;
    for g in groups {
        let def = &g.def;
        if !found_token {
            if q.next_token.as_deref() == Some(next_token(&def.file, &def.name).as_str()) {
                found_token = true;
            } else {
                continue;
            }
        }
        if !q.groups.is_empty() && !q.groups.contains(&def.name) {
            continue;
        }
        if !q.files.is_empty() && !q.files.contains(&def.file) {
            continue;
        }
        let mut rules = String::new();
        let mut n_rules = 0;
        for (i, r) in def.rules.iter().enumerate() {
            let alerting = r.spec.is_alerting();
            if q.alerting_only.is_some_and(|a| a != alerting) {
                continue;
            }
            if !q.rule_names.is_empty() && !q.rule_names.contains(&r.spec.name) {
                continue;
            }
            if !q.matchers.is_empty() {
                let labels =
                    Labels::from_pairs(&r.labels.iter().collect::<Vec<_>>()).unwrap_or_default();
                if !q.matchers.iter().any(|set| {
                    set.iter()
                        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
                }) {
                    continue;
                }
            }
            let st = g.status.rules.get(i).cloned().unwrap_or_default();
            if n_rules > 0 {
                rules.push(',');
            }
            n_rules += 1;
            if let Some(Some(state)) = g.alerts.get(i) {
                let status = crate::alert::api::RuleStatus {
                    health: match st.health {
                        Health::Unknown => crate::alert::api::Health::Unknown,
                        Health::Good => crate::alert::api::Health::Ok,
                        Health::Bad => crate::alert::api::Health::Err,
                    },
                    last_error: st.last_error.clone(),
                    evaluation_seconds: st.evaluation_time.as_secs_f64(),
                    last_evaluation: st.last_evaluation,
                };
                crate::alert::api::write_alerting_rule(
                    &mut rules,
                    &state.lock(),
                    &status,
                    q.exclude_alerts,
                );
                continue;
            }
            rules.push('{');
            if let RuleKind::Alerting {
                for_ms,
                keep_firing_for_ms,
                annotations,
            } = &r.spec.kind
            {
                let state = if st.last_evaluation.is_some() {
                    "inactive"
                } else {
                    "unknown"
                };
                let _ = write!(rules, "\"state\":\"{state}\",\"name\":");
                write_str(&mut rules, &r.spec.name);
                rules.push_str(",\"query\":");
                write_str(&mut rules, &r.query);
                let _ = write!(
                    rules,
                    ",\"duration\":{},\"keepFiringFor\":{},\"labels\":",
                    go_float(*for_ms as f64 / 1000.0),
                    go_float(*keep_firing_for_ms as f64 / 1000.0)
                );
                write_map(&mut rules, r.labels.iter());
                rules.push_str(",\"annotations\":");
                write_map(&mut rules, annotations.iter());
                rules.push_str(",\"alerts\":[]");
            } else {
                rules.push_str("\"name\":");
                write_str(&mut rules, &r.spec.name);
                rules.push_str(",\"query\":");
                write_str(&mut rules, &r.query);
                if !r.labels.is_empty() {
                    rules.push_str(",\"labels\":");
                    write_map(&mut rules, r.labels.iter());
                }
            }
            write_health(&mut rules, st.health, st.last_error.as_deref());
            let _ = write!(
                rules,
                ",\"evaluationTime\":{},\"lastEvaluation\":\"{}\",\"type\":\"{}\"}}",
                go_float(st.evaluation_time.as_secs_f64()),
                rfc3339_nano(st.last_evaluation),
                if alerting { "alerting" } else { "recording" }
            );
        }
        if n_rules == 0 {
            continue;
        }
        if q.group_limit.is_some_and(|l| listed == l) {
            next = Some(next_token(&def.file, &def.name));
            break;
        }
        if listed > 0 {
            out.push(',');
        }
        listed += 1;
        out.push_str("{\"name\":");
        write_str(&mut out, &def.name);
        out.push_str(",\"file\":");
        write_str(&mut out, &def.file);
        let _ = write!(
            out,
            ",\"rules\":[{rules}],\"interval\":{},\"limit\":{},\"evaluationTime\":{},\"lastEvaluation\":\"{}\"}}",
            go_float(def.interval_ms as f64 / 1000.0),
            def.limit,
            go_float(g.status.evaluation_time.as_secs_f64()),
            rfc3339_nano(g.status.last_evaluation)
        );
    }
    if !found_token {
        return Err(ParamError {
            param: "group_next_token",
            msg: format!(
                "invalid group_next_token '{}'. were rule groups changed?",
                q.next_token.as_deref().unwrap_or_default()
            ),
        });
    }
    out.push(']');
    if let Some(t) = next {
        let _ = write!(out, ",\"groupNextToken\":\"{t}\"");
    }
    out.push('}');
    Ok(out)
}

fn write_health(out: &mut String, h: Health, err: Option<&str>) {
    let _ = write!(out, ",\"health\":\"{}\"", h.as_str());
    if let Some(e) = err.filter(|e| !e.is_empty()) {
        out.push_str(",\"lastError\":");
        write_str(out, e);
    }
}

/// Appends a JSON object of string pairs.
pub fn write_map<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a String, &'a String)>) {
    out.push('{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

pub use crate::alert::json::write_str;

/// A float as Go's `encoding/json` writes it: shortest digits, plain notation from 1e-6 to
/// below 1e21, exponent notation (`5e-7`, `1e+21`) outside.
pub fn go_float(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{v}")
    }
}

/// A wall-clock time in RFC 3339 with nanoseconds, trailing zeros trimmed, UTC, as Go's
/// `time.Time` marshals to JSON; `None` is Go's zero time.
pub fn rfc3339_nano(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".into();
    };
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let nanos = d.subsec_nanos();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::file;
    use crate::group::{GroupDef, GroupStatus, RuleStatus};
    use crate::schedule::Alignment;

    const TEXT: &str = "\
groups:
  - name: b
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - record: x:labeled
        expr: vector(1)
        labels: {a: b}
      - alert: Always
        expr: vector(1) > 0
        for: 1m
        labels: {severity: page}
        annotations: {summary: \"v={{ $value }}\"}
  - name: a
    interval: 2s
    limit: 5
    rules:
      - record: r
        expr: up
";

    fn views() -> Vec<GroupView> {
        let f = file::parse("/tmp/rules.yml", TEXT).unwrap();
        let mut v: Vec<GroupView> = f
            .groups
            .iter()
            .map(|g| GroupView {
                def: Arc::new(GroupDef::new(&f.path, g, 60_000, Alignment::Prometheus3)),
                status: GroupStatus {
                    rules: vec![RuleStatus::default(); g.rules.len()],
                    ..GroupStatus::default()
                },
                run_id: 1,
                alerts: Arc::new(vec![]),
            })
            .collect();
        v.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        let t = UNIX_EPOCH + Duration::new(1_796_479_660, 606_642_500);
        let b = &mut v[1].status;
        b.evaluation_time = Duration::from_nanos(1_742_578);
        b.last_evaluation = Some(t);
        b.rules[0] = RuleStatus {
            health: Health::Good,
            last_error: None,
            evaluation_time: Duration::from_nanos(1_111_119),
            last_evaluation: Some(t),
        };
        b.rules[1] = RuleStatus {
            health: Health::Bad,
            last_error: Some("exceeded limit of 1 with 2 series".into()),
            evaluation_time: Duration::from_nanos(300),
            last_evaluation: Some(UNIX_EPOCH + Duration::from_secs(1_796_479_661)),
        };
        v
    }

    fn query(pairs: &[(&str, &str)]) -> Result<RulesQuery, ParamError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        RulesQuery::from_params(&move |n: &str| {
            pairs
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    #[test]
    fn prometheus_shape() {
        let got = rules_json(&views(), &RulesQuery::default()).unwrap();
        let want = concat!(
            "{\"groups\":[",
            "{\"name\":\"a\",\"file\":\"/tmp/rules.yml\",\"rules\":[",
            "{\"name\":\"r\",\"query\":\"up\",\"health\":\"unknown\",\"evaluationTime\":0,",
            "\"lastEvaluation\":\"0001-01-01T00:00:00Z\",\"type\":\"recording\"}],",
            "\"interval\":2,\"limit\":5,\"evaluationTime\":0,\"lastEvaluation\":\"0001-01-01T00:00:00Z\"},",
            "{\"name\":\"b\",\"file\":\"/tmp/rules.yml\",\"rules\":[",
            "{\"name\":\"job:up:sum\",\"query\":\"sum by (job) (up)\",\"health\":\"ok\",",
            "\"evaluationTime\":0.001111119,\"lastEvaluation\":\"2026-12-05T14:07:40.6066425Z\",\"type\":\"recording\"},",
            "{\"name\":\"x:labeled\",\"query\":\"vector(1)\",\"labels\":{\"a\":\"b\"},\"health\":\"err\",",
            "\"lastError\":\"exceeded limit of 1 with 2 series\",\"evaluationTime\":3e-7,",
            "\"lastEvaluation\":\"2026-12-05T14:07:41Z\",\"type\":\"recording\"},",
            "{\"state\":\"unknown\",\"name\":\"Always\",\"query\":\"vector(1) \\u003e 0\",\"duration\":60,",
            "\"keepFiringFor\":0,\"labels\":{\"severity\":\"page\"},\"annotations\":{\"summary\":\"v={{ $value }}\"},",
            "\"alerts\":[],\"health\":\"unknown\",\"evaluationTime\":0,\"lastEvaluation\":\"0001-01-01T00:00:00Z\",",
            "\"type\":\"alerting\"}],",
            "\"interval\":60,\"limit\":0,\"evaluationTime\":0.001742578,\"lastEvaluation\":\"2026-12-05T14:07:40.6066425Z\"}",
            "]}"
        );
        assert_eq!(got, want);
        let _: serde_json::Value = serde_json::from_str(&got).unwrap();
    }

    fn listed(q: &RulesQuery) -> Vec<(String, Vec<String>)> {
        let v: serde_json::Value = serde_json::from_str(&rules_json(&views(), q).unwrap()).unwrap();
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().unwrap().to_string(),
                    g["rules"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["name"].as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn filters() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            listed(&query(&[("type", "alert")]).unwrap()),
            vec![("b".to_string(), s(&["Always"]))]
        );
        assert_eq!(
            listed(&query(&[("type", "RECORD")]).unwrap()),
            vec![
                ("a".to_string(), s(&["r"])),
                ("b".to_string(), s(&["job:up:sum", "x:labeled"]))
            ]
        );
        assert_eq!(
            listed(&query(&[("rule_name[]", "r"), ("rule_name[]", "Always")]).unwrap()),
            vec![
                ("a".to_string(), s(&["r"])),
                ("b".to_string(), s(&["Always"]))
            ]
        );
        // Grafana sends both spellings.
        assert_eq!(
            listed(&query(&[("rule_group[]", "a"), ("rule_group", "a")]).unwrap()),
            vec![("a".to_string(), s(&["r"]))]
        );
        assert!(listed(&query(&[("file[]", "/other.yml")]).unwrap()).is_empty());
        assert_eq!(
            listed(&query(&[("file", "/tmp/rules.yml")]).unwrap()).len(),
            2
        );
        let q = RulesQuery {
            matchers: vec![vec![Matcher::equal("severity", "page")]],
            ..RulesQuery::default()
        };
        assert_eq!(listed(&q), vec![("b".to_string(), s(&["Always"]))]);
        // exclude_alerts keeps the rule, with no alerts.
        assert!(query(&[("exclude_alerts", "true")]).unwrap().exclude_alerts);
    }

    #[test]
    fn pagination() {
        let q = query(&[("group_limit", "1")]).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&rules_json(&views(), &q).unwrap()).unwrap();
        assert_eq!(v["groups"].as_array().unwrap().len(), 1);
        let token = v["groupNextToken"].as_str().unwrap().to_string();
        assert_eq!(token, next_token("/tmp/rules.yml", "b"));
        let q = query(&[("group_limit", "1"), ("group_next_token", &token)]).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&rules_json(&views(), &q).unwrap()).unwrap();
        assert_eq!(v["groups"][0]["name"], "b");
        assert!(v.get("groupNextToken").is_none());
        let q = query(&[("group_limit", "1"), ("group_next_token", "nope")]).unwrap();
        assert_eq!(
            rules_json(&views(), &q).unwrap_err().msg,
            "invalid group_next_token 'nope'. were rule groups changed?"
        );
    }

    #[test]
    fn bad_parameters() {
        let e = query(&[("type", "bogus")]).unwrap_err();
        assert_eq!(
            (e.param, e.msg.as_str()),
            ("type", "not supported value \"bogus\"")
        );
        let e = query(&[("group_next_token", "x")]).unwrap_err();
        assert_eq!(e.param, "group_next_token");
        assert_eq!(
            query(&[("group_limit", "0")]).unwrap_err().msg,
            "group_limit needs to be greater than 0"
        );
        assert_eq!(
            query(&[("group_limit", "x")]).unwrap_err().param,
            "group_limit"
        );
        assert_eq!(
            query(&[("exclude_alerts", "maybe")]).unwrap_err().param,
            "exclude_alerts"
        );
    }

    #[test]
    fn go_formats() {
        assert_eq!(go_float(60.0), "60");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(0.000004036), "0.000004036");
        assert_eq!(go_float(3e-7), "3e-7");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(rfc3339_nano(Some(UNIX_EPOCH)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(Some(UNIX_EPOCH + Duration::new(951_782_400, 10))),
            "2000-02-29T00:00:00.00000001Z"
        );
        let mut s = String::new();
        write_str(&mut s, "a<b>&\"\n");
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\\"\\n\"");
    }
}
