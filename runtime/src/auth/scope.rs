//! The scopes of SPEC §9: what a key may do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One permission a key can hold. `admin` grants every other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The producer's `POST /users`, `/events`, `/coupons`.
    Ingest,
    /// The api's `POST /users`, `/events`, `/coupons`: the consumers' key.
    Write,
    /// The api's record reads (personal data).
    Read,
    /// The api's `GET /recommendation/{user_id}`: what a front end holds, no personal data.
    Recommend,
    /// `POST /recommendation/generate`, key management, and everything else.
    Admin,
    /// `GET /metrics` on every service.
    Metrics,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Ingest,
        Scope::Write,
        Scope::Read,
        Scope::Recommend,
        Scope::Admin,
        Scope::Metrics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Write => "write",
            Scope::Read => "read",
            Scope::Recommend => "recommend",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| {
                format!("`{name}` is not a scope (ingest, write, read, recommend, admin, metrics)")
            })
    }
}

/// The scopes one key holds, as a bit set: checking one is a mask on the request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Whether a request needing `scope` may go on: the key holds it, or holds `admin`.
    pub fn grants(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.0 & scope.bit() != 0)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        Self(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_granted_its_own_scopes_only() {
        let scopes: Scopes = [Scope::Read, Scope::Metrics].into_iter().collect();
        assert!(scopes.grants(Scope::Read));
        assert!(scopes.grants(Scope::Metrics));
        for other in [Scope::Ingest, Scope::Write, Scope::Recommend, Scope::Admin] {
            assert!(!scopes.grants(other), "{other} granted");
        }
    }

    #[test]
    fn admin_grants_every_scope() {
        let admin: Scopes = [Scope::Admin].into_iter().collect();
        assert!(Scope::ALL.into_iter().all(|scope| admin.grants(scope)));
    }

    #[test]
    fn scopes_parse_from_their_names() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("Admin".parse::<Scope>().is_err());
        assert!("".parse::<Scope>().is_err());
    }
}
