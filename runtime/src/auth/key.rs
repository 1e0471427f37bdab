//! The key format of SPEC §9, `slp_<key id>_<secret>`, and the hash a key file stores.
//!
//! The secret is 256 random bits, so a fast hash (SHA-256) is enough: a slow password hash
//! guards guessable secrets, and costing it on every request would cap the read rate.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "slp_";
/// Hex digits of a key id (64 bits: unique among the keys of one deployment).
pub const ID_LEN: usize = 16;
/// Hex digits of a secret (256 random bits).
const SECRET_LEN: usize = 64;

/// A key as it is handed out, once. Its `Debug` hides the secret.
pub struct NewKey {
    pub id: String,
    secret: String,
}

impl NewKey {
    pub fn generate() -> Self {
        Self {
            id: hex::encode(rand::random::<[u8; ID_LEN / 2]>()),
            secret: hex::encode(rand::random::<[u8; SECRET_LEN / 2]>()),
        }
    }

    /// The whole key, for the one time it is shown.
    pub fn token(&self) -> String {
        format!("{PREFIX}{}_{}", self.id, self.secret)
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.secret)
    }
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey").field("id", &self.id).finish()
    }
}

/// A bearer token split into its key id and secret; `None` when it is not of our format.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (lower_hex(id, ID_LEN) && lower_hex(secret, SECRET_LEN)).then_some((id, secret))
}

/// SHA-256 of a secret, what a key file holds instead of the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Compared in constant time, so the answer's timing says nothing of how close a guess was.
    pub fn matches(&self, secret: &str) -> bool {
        Self::of(secret).0.ct_eq(&self.0).into()
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_into_its_id_and_a_matching_secret() {
        let key = NewKey::generate();
        let token = key.token();
        let (id, secret) = parse(&token).expect("our own format");
        assert_eq!(id, key.id);
        assert!(key.hash().matches(secret));
        assert!(!key.hash().matches(&"0".repeat(SECRET_LEN)));
    }

    #[test]
    fn keys_are_unique_and_never_shown_by_debug() {
        let (a, b) = (NewKey::generate(), NewKey::generate());
        assert_ne!(a.token(), b.token());
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn tokens_of_another_shape_do_not_parse() {
        let key = NewKey::generate().token();
        for bad in [
            "",
            "slp_",
            "slp__",
            &key[..key.len() - 1],
            &key.to_uppercase(),
            &key.replacen("slp_", "sk_", 1),
            &format!("{key}0"),
            &key.replacen('_', "-", 2),
            "slp_ab\u{e9}cdef0123456789_0",
        ] {
            assert_eq!(parse(bad), None, "{bad} parsed");
        }
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = SecretHash::of("secret");
        assert_eq!(SecretHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(SecretHash::from_hex("zz"), None);
    }
}
