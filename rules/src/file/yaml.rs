//! The YAML shapes of a rule file, as serde reads them, with source positions.
//!
//! A file is a stream of YAML documents. Each document is either a plain Prometheus rule file
//! (`groups:` at the top) or a Kubernetes `PrometheusRule` object (`apiVersion`, `kind`,
//! `metadata`, `spec.groups`). Every mapping rejects unknown keys, as Prometheus does; names
//! and expressions keep the position of their YAML node for error messages. Nothing here
//! validates: [`super::validate`] turns these shapes into checked specs.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// One YAML document of a rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    /// Plain form: the groups.
    pub groups: Option<Spanned<Vec<Spanned<RawGroup>>>>,
    /// `PrometheusRule` form: `monitoring.coreos.com/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: Option<Spanned<String>>,
    /// `PrometheusRule` form: `PrometheusRule`.
    pub kind: Option<Spanned<String>>,
    /// `PrometheusRule` form: Kubernetes object metadata (not interpreted).
    pub metadata: Option<Spanned<IgnoredAny>>,
    /// `PrometheusRule` form: the spec holding the groups.
    pub spec: Option<Spanned<Spec>>,
}

/// `spec` of a `PrometheusRule`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// The groups.
    pub groups: Option<Vec<Spanned<RawGroup>>>,
}

/// A group as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    pub name: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub limit: Option<Spanned<i64>>,
    pub query_offset: Option<Spanned<String>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    pub rules: Option<Vec<Spanned<RawRule>>>,
    /// Thanos's field, allowed by the `PrometheusRule` schema only; ignored.
    pub partial_response_strategy: Option<Spanned<String>>,
}

/// A rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub record: Option<Spanned<String>>,
    pub alert: Option<Spanned<String>>,
    pub expr: Option<Spanned<String>>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    pub keep_firing_for: Option<Spanned<String>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    pub annotations: Option<Spanned<BTreeMap<String, String>>>,
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
