//! The YAML shapes of an SLO file, as serde reads them, with source positions.
//!
//! A file is a stream of YAML documents, each one spec: Sloth's `prometheus/v1` or Strata's
//! `strata/v1` (the `version` key says which). Both share the top level (`version`,
//! `service`, `labels`, `slos`), so one set of shapes holds the fields of both; each
//! mapping rejects keys neither format has, and [`super::spec`] rejects the other format's
//! fields. Nothing here validates.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// One spec document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    pub version: Option<Spanned<String>>,
    pub service: Option<Spanned<String>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    pub slos: Option<Spanned<Vec<Spanned<RawSlo>>>>,
    /// Sloth's SLO plugin chain: not supported, reported.
    pub slo_plugins: Option<Spanned<IgnoredAny>>,
}

/// One SLO, with the fields of both formats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlo {
    pub name: Option<Spanned<String>>,
    pub objective: Option<Spanned<f64>>,
    pub description: Option<Spanned<String>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    // prometheus/v1
    pub sli: Option<Spanned<RawSli>>,
    pub alerting: Option<Spanned<RawAlerting>>,
    pub plugins: Option<Spanned<IgnoredAny>>,
    // strata/v1
    pub period: Option<Spanned<String>>,
    pub errors: Option<Spanned<String>>,
    pub good: Option<Spanned<String>>,
    pub total: Option<Spanned<String>>,
    pub by: Option<Spanned<Vec<String>>>,
    pub alerts: Option<Spanned<RawAlerting>>,
}

/// `sli` of a Sloth SLO.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSli {
    pub events: Option<Spanned<RawEvents>>,
    pub raw: Option<Spanned<RawRatio>>,
    pub plugin: Option<Spanned<IgnoredAny>>,
}

/// `sli.events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvents {
    pub error_query: Option<Spanned<String>>,
    pub total_query: Option<Spanned<String>>,
}

/// `sli.raw`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRatio {
    pub error_ratio_query: Option<Spanned<String>>,
}

/// Sloth's `alerting` and Strata's `alerts`: the alert name, shared labels and annotations,
/// and one entry per severity (`page_alert`/`ticket_alert` in Sloth, `page`/`ticket` in
/// Strata).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerting {
    pub name: Option<Spanned<String>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    pub annotations: Option<Spanned<BTreeMap<String, String>>>,
    pub page_alert: Option<Spanned<RawAlert>>,
    pub ticket_alert: Option<Spanned<RawAlert>>,
    pub page: Option<Spanned<RawAlert>>,
    pub ticket: Option<Spanned<RawAlert>>,
}

/// One severity's alert.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlert {
    pub disable: Option<bool>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    pub annotations: Option<Spanned<BTreeMap<String, String>>>,
    /// Strata only.
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
}

/// Reads every document of `text`. On a YAML or shape error, returns its message (without
/// the location suffix) and its 1-based line and column.
pub(crate) fn documents(text: &str) -> Result<Vec<Document>, (String, u64, u64)> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_multiple_with_options::<Document>(text, options).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let mut msg = e.to_string();
        if let Some(i) = msg.rfind(" at line ") {
            msg.truncate(i);
        }
        (msg, line, col)
    })
}
