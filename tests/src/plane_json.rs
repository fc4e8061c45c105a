//! Webhook bodies as Plane builds them: Python's `json.dumps` with default
//! separators (`", "` and `": "`) and `ensure_ascii=True`, signed with
//! HMAC-SHA256 as lowercase hex.

use std::io;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::ser::Formatter;
use sha2::Sha256;

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// `json.dumps(value)` as Python writes it.
pub fn dumps(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut serializer).expect("serializable");
    out
}

/// Plane's `X-Plane-Signature` for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python() {
        // python3 -c 'import json; print(json.dumps({"a": [1, 2], "b": "Café 🚀", "c": None}))'
        let value = serde_json::json!({"a": [1, 2], "b": "Café 🚀", "c": null});
        assert_eq!(
            String::from_utf8(dumps(&value)).unwrap(),
            r#"{"a": [1, 2], "b": "Caf\u00e9 \ud83d\ude80", "c": null}"#
        );
    }
}
