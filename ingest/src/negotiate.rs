//! Content negotiation for remote write: which protobuf message a body holds, decided from the
//! `Content-Type` `proto=` parameter only (never by sniffing the bytes), and whether its
//! `Content-Encoding` is one we can decode (snappy block format only).

use crate::error::{Error, Result};

/// Which remote-write protocol message a request body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Remote-write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote-write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    /// The fully qualified protobuf message name, as used in the `proto=` parameter.
    pub fn message_name(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
        }
    }
}

/// Chooses the protocol from the `Content-Type` and `Content-Encoding` headers (`None` =
/// header absent).
///
/// A missing `Content-Type` means v1, as does `application/x-protobuf` without `proto=`. A
/// missing `Content-Encoding` means snappy. Any other media type, an unknown `proto=` message
/// or an encoding other than `snappy` is [`Error::UnsupportedMediaType`] (HTTP 415).
/// Media type, parameter names and the encoding compare case-insensitively; the `proto=`
/// value is case-sensitive (it is a protobuf name) and may be quoted.
pub fn negotiate(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<Protocol> {
    if let Some(enc) = content_encoding {
        let enc = enc.trim();
        if !enc.eq_ignore_ascii_case("snappy") {
            return Err(Error::UnsupportedMediaType(format!(
                "Content-Encoding {enc:?} is not supported, only \"snappy\""
            )));
        }
    }
    let Some(ct) = content_type else {
        return Ok(Protocol::V1);
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(Error::UnsupportedMediaType(format!(
            "Content-Type {media:?} is not supported, expected \"application/x-protobuf\""
        )));
    }
    let mut proto = Protocol::V1;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if !name.trim().eq_ignore_ascii_case("proto") {
            // Other parameters (charset, ...) carry no meaning for protobuf bodies.
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        proto = match value {
            "prometheus.WriteRequest" => Protocol::V1,
            "io.prometheus.write.v2.Request" => Protocol::V2,
            other => {
                return Err(Error::UnsupportedMediaType(format!(
                    "proto={other:?} is not supported, expected \"prometheus.WriteRequest\" \
                     or \"io.prometheus.write.v2.Request\""
                )))
            }
        };
    }
    Ok(proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_v1_snappy() {
        assert_eq!(negotiate(None, None).unwrap(), Protocol::V1);
        assert_eq!(
            negotiate(Some("application/x-protobuf"), Some("snappy")).unwrap(),
            Protocol::V1
        );
        assert_eq!(
            negotiate(Some("Application/X-Protobuf"), Some("SNAPPY")).unwrap(),
            Protocol::V1
        );
    }

    #[test]
    fn picks_message_from_proto_parameter() {
        assert_eq!(
            negotiate(
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
                Some("snappy")
            )
            .unwrap(),
            Protocol::V2
        );
        assert_eq!(
            negotiate(
                Some("application/x-protobuf; proto=\"prometheus.WriteRequest\""),
                None
            )
            .unwrap(),
            Protocol::V1
        );
    }

    #[test]
    fn rejects_unknown_with_415() {
        for (ct, ce) in [
            (Some("application/json"), None),
            (Some("text/plain"), Some("snappy")),
            (Some("application/x-protobuf;proto=foo.Bar"), None),
            (Some("application/x-protobuf"), Some("gzip")),
            (None, Some("zstd")),
        ] {
            let e = negotiate(ct, ce).unwrap_err();
            assert!(matches!(e, Error::UnsupportedMediaType(_)), "{ct:?} {ce:?}");
            assert_eq!(e.status(), 415);
        }
    }
}
