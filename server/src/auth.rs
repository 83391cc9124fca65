//! Optional request authentication: a bearer token and/or one basic-auth user.
//!
//! Off unless configured. When on, every request except the liveness and readiness probes
//! (`/-/healthy`, `/-/ready`) needs an `Authorization` header matching one configured
//! credential; others get 401. Prometheus's `remote_write` (`authorization:` or
//! `basic_auth:`) and Grafana's data source settings can send either form. Credentials are
//! compared in constant time.

/// The credentials a request may present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// The accepted token of `Authorization: Bearer <token>`.
    bearer: Option<String>,
    /// The accepted credentials of `Authorization: Basic <base64(user:password)>`.
    basic: Option<String>,
}

impl Auth {
    /// Builds the checker; `None` everywhere means authentication is off.
    pub fn new(bearer_token: Option<&str>, basic: Option<(&str, &str)>) -> Auth {
        Auth {
            bearer: bearer_token.map(str::to_string),
            basic: basic.map(|(u, p)| base64(format!("{u}:{p}").as_bytes())),
        }
    }

    /// True if no credential is configured.
    pub fn is_off(&self) -> bool {
        self.bearer.is_none() && self.basic.is_none()
    }

    /// True if basic auth is configured (the 401 then carries a `WWW-Authenticate` challenge).
    pub fn has_basic(&self) -> bool {
        self.basic.is_some()
    }

    /// Whether a request to `path` with this `Authorization` header value may proceed.
    pub fn allows(&self, path: &str, header: Option<&[u8]>) -> bool {
        if self.is_off() || path == "/-/healthy" || path == "/-/ready" {
            return true;
        }
        let Some(h) = header else { return false };
        // `<scheme> <credentials>`; the scheme is case-insensitive (RFC 9110, 11.1).
        let Some(sp) = h.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, rest) = (&h[..sp], &h[sp..]);
        let cred = match rest.iter().position(|&b| b != b' ') {
            Some(i) => &rest[i..],
            None => return false,
        };
        let want = if scheme.eq_ignore_ascii_case(b"bearer") {
            &self.bearer
        } else if scheme.eq_ignore_ascii_case(b"basic") {
            &self.basic
        } else {
            return false;
        };
        want.as_ref()
            .is_some_and(|w| constant_time_eq(w.as_bytes(), cred))
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn checks_credentials() {
        let off = Auth::default();
        assert!(off.allows("/api/v1/query", None));
        let a = Auth::new(Some("s3cret"), Some(("Aladdin", "open sesame")));
        assert!(!a.allows("/api/v1/query", None));
        assert!(a.allows("/api/v1/query", Some(b"Bearer s3cret")));
        assert!(a.allows("/api/v1/write", Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!a.allows("/api/v1/query", Some(b"Bearer s3cre")));
        assert!(!a.allows("/api/v1/query", Some(b"Bearer s3cretX")));
        assert!(!a.allows("/metrics", Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ")));
        assert!(a.allows("/-/healthy", None));
        assert!(a.allows("/-/ready", None));
        // Schemes are case-insensitive; credentials are not; the wrong scheme fails.
        assert!(a.allows("/api/v1/query", Some(b"bearer s3cret")));
        assert!(a.allows("/api/v1/query", Some(b"BEARER  s3cret")));
        assert!(a.allows("/api/v1/write", Some(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!a.allows("/api/v1/query", Some(b"Bearer S3CRET")));
        assert!(!a.allows("/api/v1/query", Some(b"Basic s3cret")));
        assert!(!a.allows("/api/v1/query", Some(b"Token s3cret")));
        assert!(!a.allows("/api/v1/query", Some(b"Bearer")));
        assert!(!a.allows("/api/v1/query", Some(b"Bearer ")));
        let only_basic = Auth::new(None, Some(("u", "p")));
        assert!(!only_basic.allows("/api/v1/query", Some(b"Bearer dTpw")));
        assert!(only_basic.allows("/api/v1/query", Some(b"Basic dTpw")));
    }
}
