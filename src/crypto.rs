//! Key material that never prints, and HMAC-SHA256 compared in constant time: what webhook
//! verification, session cookies and signed links all stand on.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Key material. Its `Debug` is redacted so a secret can never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Option<Secret> {
        (!bytes.is_empty()).then_some(Secret(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `expected` is the HMAC-SHA256 of `parts` under `key`, compared in constant time.
pub fn hmac_sha256_matches(key: &Secret, parts: &[&[u8]], expected: &[u8]) -> bool {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(expected).is_ok()
}

/// Whether a submitted token (a form's CSRF token) is `expected`, compared in constant time;
/// an empty submission never matches.
pub fn token_matches(expected: &str, submitted: &str) -> bool {
    use subtle::ConstantTimeEq;
    !submitted.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

fn keyed(key: &Secret) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; `Secret` is never empty.
    match HmacSha256::new_from_slice(key.expose()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new(b"hunter2".to_vec()).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert!(Secret::new(Vec::new()).is_none());
    }

    #[test]
    fn github_published_vector() {
        // GH-1: the one HMAC-SHA256 vector every provider family shares.
        let key = Secret::new(b"It's a Secret to Everybody".to_vec()).unwrap();
        let expected =
            hex::decode("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
                .unwrap();
        assert_eq!(hmac_sha256(&key, &[b"Hello, World!"]).to_vec(), expected);
        assert!(hmac_sha256_matches(
            &key,
            &[b"Hello, ", b"World!"],
            &expected
        ));
        assert!(!hmac_sha256_matches(&key, &[b"Hello, World?"], &expected));
        assert!(!hmac_sha256_matches(
            &key,
            &[b"Hello, World!"],
            &expected[..31]
        ));
    }
}
