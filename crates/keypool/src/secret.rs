//! Key material. It lives in a [`SecretString`]; everything that can be printed shows only the
//! last four characters.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// An API key's material. `Debug` and `Display` show `…` plus at most the last 4 characters.
#[derive(Clone)]
pub struct ApiKey {
    secret: SecretString,
    tail: String,
}

impl ApiKey {
    /// Wraps material read from the environment or a secret store.
    pub fn new(material: impl Into<String>) -> Self {
        let material: String = material.into();
        let chars: Vec<char> = material.chars().collect();
        // Short keys show less: a key must never be printable in full.
        let shown = if chars.len() >= 12 {
            4
        } else {
            chars.len() / 4
        };
        let tail: String = chars[chars.len() - shown..].iter().collect();
        Self {
            secret: SecretString::from(material),
            tail,
        }
    }

    /// The material itself, for the one place that sends it upstream (an HTTP header).
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// At most the last 4 characters, for display.
    pub fn tail(&self) -> &str {
        &self.tail
    }

    /// A stable, non-secret name for the material: the first 16 hex digits of its SHA-256.
    /// Shared state (Redis key names) uses this, never the key.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.expose().as_bytes());
        digest[..8]
            .iter()
            .fold(String::with_capacity(16), |mut s, b| {
                use std::fmt::Write;
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// Whether two keys hold the same material (constant time in the material's length).
    pub fn same_material(&self, other: &ApiKey) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(…{})", self.tail)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "…{}", self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_only_the_tail() {
        let k = ApiKey::new("test-key-SECRETMATERIAL-wxyz");
        assert_eq!(format!("{k:?}"), "ApiKey(…wxyz)");
        assert_eq!(format!("{k}"), "…wxyz");
        assert_eq!(k.expose(), "test-key-SECRETMATERIAL-wxyz");
    }

    #[test]
    fn fingerprints_are_stable_and_reveal_nothing() {
        let k = ApiKey::new("test-key-SECRETMATERIAL-wxyz");
        assert_eq!(
            k.fingerprint(),
            ApiKey::new("test-key-SECRETMATERIAL-wxyz").fingerprint()
        );
        assert_eq!(k.fingerprint().len(), 16);
        assert!(!k.fingerprint().contains("wxyz"));
        assert_ne!(k.fingerprint(), ApiKey::new("other").fingerprint());
    }

    #[test]
    fn short_keys_show_less() {
        assert_eq!(ApiKey::new("abcdefgh").tail(), "gh");
        assert_eq!(ApiKey::new("abc").tail(), "");
    }

    #[test]
    fn same_material_compares_values() {
        assert!(ApiKey::new("k-1234567890").same_material(&ApiKey::new("k-1234567890")));
        assert!(!ApiKey::new("k-1234567890").same_material(&ApiKey::new("k-1234567891")));
        assert!(!ApiKey::new("k-1").same_material(&ApiKey::new("k-12")));
    }
}
