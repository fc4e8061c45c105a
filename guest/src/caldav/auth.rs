//! HTTP authentication for CalDAV: Basic (RFC 7617) and Digest (RFC 7616,
//! MD5 and SHA-256, `qop=auth`), which Baïkal uses by default.

use std::cell::RefCell;

use base64::Engine;
use md5::Md5;
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Digest,
}

#[derive(Debug)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub scheme: Scheme,
    /// The server's last Digest challenge and our request count under it.
    challenge: RefCell<Option<(Challenge, u32)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: String,
    pub qop_auth: bool,
}

impl Credentials {
    pub fn new(username: &str, password: &str, scheme: Scheme) -> Self {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
            scheme,
            challenge: RefCell::new(None),
        }
    }

    /// The `Authorization` header for a request, when one can be computed
    /// (Digest needs a challenge first).
    pub fn authorization(&self, method: &str, uri: &str) -> Option<String> {
        match self.scheme {
            Scheme::Basic => {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", self.username, self.password));
                Some(format!("Basic {token}"))
            }
            Scheme::Digest => {
                let mut state = self.challenge.borrow_mut();
                let (challenge, count) = state.as_mut()?;
                *count += 1;
                let cnonce = client_nonce(&challenge.nonce, *count);
                Some(digest_header(
                    challenge,
                    &self.username,
                    &self.password,
                    method,
                    uri,
                    *count,
                    &cnonce,
                ))
            }
        }
    }

    /// Takes a `401`'s `WWW-Authenticate`; returns whether a retry can now
    /// authenticate (a new Digest challenge arrived).
    pub fn accept_challenge(&self, header: &str) -> bool {
        if self.scheme != Scheme::Digest {
            return false;
        }
        let Some(challenge) = Challenge::parse(header) else {
            return false;
        };
        let mut state = self.challenge.borrow_mut();
        let fresh = state
            .as_ref()
            .is_none_or(|(old, _)| old.nonce != challenge.nonce);
        *state = Some((challenge, 0));
        fresh
    }
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let rest = header.trim().strip_prefix("Digest")?.trim_start();
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = "MD5".to_string();
        let mut qop_auth = false;
        for (key, value) in parameters(rest) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "opaque" => opaque = Some(value),
                "algorithm" => algorithm = value.to_ascii_uppercase(),
                "qop" => qop_auth = value.split(',').any(|q| q.trim() == "auth"),
                _ => {}
            }
        }
        Some(Challenge {
            realm: realm?,
            nonce: nonce?,
            opaque,
            algorithm,
            qop_auth,
        })
    }
}

/// `a=b, c="d, e"` → pairs, honouring quotes.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (
                quoted[..end].to_string(),
                quoted.get(end + 1..).unwrap_or(""),
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        pairs.push((key, value));
        rest = remainder;
    }
    pairs
}

fn hash(algorithm: &str, text: &str) -> String {
    let bytes = if algorithm.starts_with("SHA-256") {
        Sha256::digest(text.as_bytes()).to_vec()
    } else {
        Md5::digest(text.as_bytes()).to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Not a secret: only needs to differ per request (RFC 7616 §3.4).
fn client_nonce(nonce: &str, count: u32) -> String {
    let seed = format!(
        "{nonce}:{count}:{}",
        crate::time::now().timestamp_nanos_opt().unwrap_or(0)
    );
    hash("SHA-256", &seed)[..16].to_string()
}

fn digest_header(
    c: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    count: u32,
    cnonce: &str,
) -> String {
    let ha1 = hash(&c.algorithm, &format!("{user}:{}:{password}", c.realm));
    let ha1 = if c.algorithm.ends_with("-SESS") {
        hash(&c.algorithm, &format!("{ha1}:{}:{cnonce}", c.nonce))
    } else {
        ha1
    };
    let ha2 = hash(&c.algorithm, &format!("{method}:{uri}"));
    let nc = format!("{count:08x}");
    let response = if c.qop_auth {
        hash(
            &c.algorithm,
            &format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce),
        )
    } else {
        hash(&c.algorithm, &format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let mut header = format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", algorithm={}, response=\"{response}\"",
        c.realm, c.nonce, c.algorithm
    );
    if c.qop_auth {
        header.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = &c.opaque {
        header.push_str(&format!(", opaque=\"{opaque}\""));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_base64_of_user_and_password() {
        let credentials = Credentials::new("Aladdin", "open sesame", Scheme::Basic);
        assert_eq!(
            credentials.authorization("GET", "/").as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
    }

    /// RFC 7616 §3.9.1, MD5 and SHA-256.
    #[test]
    fn digest_matches_the_rfc_examples() {
        let header = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let challenge = Challenge::parse(header).unwrap();
        assert!(challenge.qop_auth);
        let line = digest_header(
            &challenge,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert!(
            line.contains(r#"response="8ca523f5e9506fed4657c9700eebdbec""#),
            "{line}"
        );
        assert!(line.contains("nc=00000001"));

        let sha = Challenge {
            algorithm: "SHA-256".into(),
            ..challenge
        };
        let line = digest_header(
            &sha,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert!(
            line.contains(
                r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#
            ),
            "{line}"
        );
    }

    #[test]
    fn digest_waits_for_a_challenge_and_counts_requests() {
        let credentials = Credentials::new("u", "p", Scheme::Digest);
        assert!(credentials.authorization("GET", "/").is_none());
        assert!(credentials.accept_challenge(r#"Digest realm="r", nonce="n1", qop="auth""#));
        assert!(
            credentials
                .authorization("GET", "/")
                .unwrap()
                .contains("nc=00000001")
        );
        assert!(
            credentials
                .authorization("GET", "/")
                .unwrap()
                .contains("nc=00000002")
        );
        assert!(!credentials.accept_challenge(r#"Digest realm="r", nonce="n1", qop="auth""#));
        assert!(!credentials.accept_challenge("Basic realm=\"r\""));
    }
}
