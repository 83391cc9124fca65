//! Size limits applied to untrusted input before the matching allocation.

/// Bounds on what one request may contain. `Limits::default()` suits Prometheus, Grafana
/// Alloy, vmagent and the OTel collector at their default batch sizes with a wide margin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted request body as received (compressed), in bytes. Default 64 MiB.
    pub max_body_bytes: usize,
    /// Largest accepted decoded (decompressed) body, in bytes, checked against the snappy
    /// header before allocating; also the largest accepted text-format body. Default 32 MiB,
    /// as in the reference client_golang handler: a default Prometheus batch of 2000 samples
    /// decodes to well under 1 MiB, and decoded label sets take several times their wire size
    /// in memory, so this bound also bounds the memory a request can pin.
    pub max_decoded_bytes: usize,
    /// Most labels (including `__name__`) one series may carry. Default 128.
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes. Default 1024.
    pub max_label_name_bytes: usize,
    /// Longest label value, in bytes. Default 4096.
    pub max_label_value_bytes: usize,
    /// How far ahead of the receiver's clock a sample timestamp may be, in ms. Default 10 min,
    /// as Prometheus ("too far in the future").
    pub max_future_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 << 20,
            max_decoded_bytes: 32 << 20,
            max_labels_per_series: 128,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 4096,
            max_future_ms: 10 * 60 * 1000,
        }
    }
}
