//! The gateway's Ed25519 signing key for tree heads, written `ed25519:<base64 of the 32-byte
//! seed>` in `[trust] signing_key`, and its public half, written `ed25519:<base64>`, which
//! is what an auditor is given. `hooktrail keygen` makes a pair.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

const PREFIX: &str = "ed25519:";

/// A signing key. Its `Debug` shows the public key only.
#[derive(Clone)]
pub struct TreeKey(SigningKey);

impl std::fmt::Debug for TreeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TreeKey({})", self.public().encoded())
    }
}

impl TreeKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<TreeKey, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|err| format!("no randomness: {err}"))?;
        Ok(TreeKey(SigningKey::from_bytes(&seed)))
    }

    /// `ed25519:<base64 seed>`, as `keygen` prints it.
    pub fn parse(text: &str) -> Result<TreeKey, String> {
        let seed = decode::<32>(text, "a 32-byte seed")?;
        Ok(TreeKey(SigningKey::from_bytes(&seed)))
    }

    /// The text for the config: the secret.
    pub fn encoded(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// The public half, as published for auditors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.encoded())
    }
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let bytes = decode::<32>(text, "a 32-byte public key")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| "not an Ed25519 public key".to_owned())
    }

    /// `ed25519:<base64>`.
    pub fn encoded(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    /// The first 8 bytes of the key's SHA-256, in hex: names the key in every head it signs,
    /// so a key can be rotated and old heads still say which key to check them with.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.to_bytes())[..8])
    }

    /// Whether `signature` is this key's over `message` (strict verification: no malleable
    /// or small-order forms).
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

fn decode<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let encoded = text
        .trim()
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("expected {PREFIX}<base64 of {what}>"))?;
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| format!("expected {PREFIX}<base64 of {what}>: not base64"))?;
    bytes
        .try_into()
        .map_err(|_| format!("expected {PREFIX}<base64 of {what}>: wrong length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032, section 7.1, test 1: the secret key, its public key, and the signature of the
    /// empty message.
    const RFC8032_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn rfc_key() -> TreeKey {
        let seed = hex::decode(RFC8032_SECRET).unwrap();
        TreeKey::parse(&format!("ed25519:{}", STANDARD.encode(seed))).unwrap()
    }

    #[test]
    fn signs_as_rfc_8032_says() {
        let key = rfc_key();
        let public = key.public();
        assert_eq!(
            public.encoded(),
            format!(
                "ed25519:{}",
                STANDARD.encode(hex::decode(RFC8032_PUBLIC).unwrap())
            )
        );
        let signature = key.sign(b"");
        assert_eq!(hex::encode(signature), RFC8032_SIGNATURE);
        assert!(public.verifies(b"", &signature));
        let mut forged = signature;
        forged[0] ^= 1;
        assert!(!public.verifies(b"", &forged));
        assert!(!public.verifies(b"x", &signature));
    }

    #[test]
    fn keys_round_trip_through_their_text_and_never_print_the_secret() {
        let key = TreeKey::generate().unwrap();
        let again = TreeKey::parse(&key.encoded()).unwrap();
        assert_eq!(again.public(), key.public());
        assert_eq!(
            PublicKey::parse(&key.public().encoded()).unwrap(),
            key.public()
        );
        assert_eq!(key.public().key_id().len(), 16);
        assert!(!format!("{key:?}").contains(&key.encoded()));
        for bad in ["", "ed25519:", "ed25519:!!!", "rsa:AAAA", "ed25519:AAAA"] {
            assert!(TreeKey::parse(bad).is_err(), "{bad}");
        }
    }
}
