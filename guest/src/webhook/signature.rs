//! `X-Plane-Signature`: HMAC-SHA256 of the raw request body keyed with the
//! webhook secret, as hex. Plane sends lowercase hex without a prefix; the
//! API reference shows `sha256=<hex>`: both, in either case, are accepted.
//! Always computed over the bytes received: Plane's body is Python
//! `json.dumps` output, which re-serialising parsed JSON never reproduces.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Plane-Signature header is missing")]
    Missing,
    #[error("the X-Plane-Signature header is not a hex SHA-256 digest")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks `header` against every configured secret (the current one and,
/// during a rotation, the previous one). Comparison is constant-time
/// (`Mac::verify_slice`).
pub fn verify(body: &[u8], header: Option<&str>, secrets: &[&str]) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    let hex = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &header[7..],
        _ => header,
    };
    let digest = decode_hex(hex)
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let matches = secrets.iter().any(|secret| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&digest).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body as Plane builds it: Python `json.dumps` with default
    /// separators and `ensure_ascii=True` (non-ASCII as `\uXXXX`).
    const BODY: &[u8] = br#"{"event": "issue", "action": "updated", "webhook_id": "w1", "workspace_id": "ws", "data": {"id": "i1", "name": "Caf\u00e9 \ud83d\ude80", "target_date": "2025-12-27"}, "activity": {"field": "name", "new_value": "Caf\u00e9"}}"#;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn accepts_every_form_plane_and_the_reference_use() {
        let hex = sign("s3cret", BODY);
        for header in [
            hex.clone(),
            hex.to_uppercase(),
            format!("sha256={hex}"),
            format!("SHA256={}", hex.to_uppercase()),
            format!("  {hex} "),
        ] {
            assert_eq!(verify(BODY, Some(&header), &["s3cret"]), Ok(()), "{header}");
        }
    }

    #[test]
    fn rejects_wrong_truncated_missing_and_reserialised() {
        let hex = sign("s3cret", BODY);
        assert_eq!(
            verify(BODY, Some(&sign("other", BODY)), &["s3cret"]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(BODY, Some(&hex[..40]), &["s3cret"]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some("zz"), &["s3cret"]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, None, &["s3cret"]),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(BODY, Some(""), &["s3cret"]),
            Err(SignatureError::Missing)
        );
        // The same JSON, compactly re-serialised, is other bytes.
        let value: serde_json::Value = serde_json::from_slice(BODY).unwrap();
        let compact = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            verify(&compact, Some(&hex), &["s3cret"]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(BODY, Some(&hex), &[]), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_previous_secret_works_during_rotation() {
        let old = sign("old", BODY);
        assert_eq!(verify(BODY, Some(&old), &["new", "old"]), Ok(()));
        assert_eq!(
            verify(BODY, Some(&old), &["new"]),
            Err(SignatureError::Mismatch)
        );
    }
}
