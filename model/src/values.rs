//! Small value types that are valid by construction.

use std::fmt;

use isocountry::CountryCode;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::Invalid;
use crate::fields::string;

/// An ISO 3166-1 alpha-2 country, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country(CountryCode);

impl Country {
    /// Accepts upper-case alpha-2 codes, plus `UK` and `JPN`, which clients of the original
    /// system send and which mean `GB` and `JP`.
    pub fn parse(code: &str) -> Result<Self, String> {
        let canonical = match code {
            "UK" => "GB",
            "JPN" => "JP",
            other => other,
        };
        let is_upper_alpha2 =
            canonical.len() == 2 && canonical.bytes().all(|b| b.is_ascii_uppercase());
        match CountryCode::for_alpha2(canonical) {
            Ok(country) if is_upper_alpha2 => Ok(Self(country)),
            _ => Err(format!(
                "`{code}` is not an ISO 3166-1 alpha-2 country code in upper case (GR, GB, JP)"
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.0.alpha2()
    }

    pub(crate) fn from_json(value: &Value) -> Result<Self, Invalid> {
        Ok(Self::parse(string(value)?)?)
    }
}

/// An active ISO 4217 alphabetic currency code: superseded codes, and special ones such as
/// `XXX` (no currency) or `XTS` (testing), are not money a user bets with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        match iso_currency::Currency::from_code(code) {
            Some(c) if c.is_superseded().is_none() && !c.is_special() => Ok(Self(c)),
            _ => Err(format!(
                "`{code}` is not an active ISO 4217 currency code (EUR, USD, …)"
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.0.code()
    }

    pub(crate) fn from_json(value: &Value) -> Result<Self, Invalid> {
        Ok(Self::parse(string(value)?)?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    Male,
    Female,
    /// Neither, or not said.
    Other,
}

impl Gender {
    pub fn parse(code: &str) -> Result<Self, String> {
        match code {
            "M" => Ok(Self::Male),
            "F" => Ok(Self::Female),
            "X" => Ok(Self::Other),
            _ => Err(format!("`{code}` is not one of M, F, X")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
            Self::Other => "X",
        }
    }

    pub(crate) fn from_json(value: &Value) -> Result<Self, Invalid> {
        Ok(Self::parse(string(value)?)?)
    }
}

macro_rules! display_and_serialize_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}

display_and_serialize_as_str!(Country, Currency, Gender);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_upper_case_alpha2() {
        for (input, stored) in [("GR", "GR"), ("GB", "GB"), ("JP", "JP"), ("US", "US")] {
            assert_eq!(Country::parse(input).map(|c| c.as_str()), Ok(stored));
        }
        for bad in ["gr", "Gr", "GRC", "XX", "ZZ", "", "G", "EU", "U K"] {
            assert!(Country::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn original_system_aliases_are_stored_canonically() {
        assert_eq!(Country::parse("UK").map(|c| c.as_str()), Ok("GB"));
        assert_eq!(Country::parse("JPN").map(|c| c.as_str()), Ok("JP"));
        assert!(Country::parse("GBR").is_err());
    }

    #[test]
    fn currencies_are_active_iso_4217_codes() {
        for good in ["EUR", "USD", "GBP", "JPY", "SLE", "ZWG"] {
            assert_eq!(Currency::parse(good).map(|c| c.as_str()), Ok(good));
        }
        for bad in ["eur", "EURO", "HRK", "SLL", "XXX", "XTS", "ABC", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn genders_are_m_f_or_x() {
        for good in ["M", "F", "X"] {
            assert_eq!(Gender::parse(good).map(|g| g.as_str()), Ok(good));
        }
        for bad in ["m", "male", "", "Y"] {
            assert!(Gender::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn values_serialize_as_their_codes() {
        let json = serde_json::to_string(&(Country::parse("UK").ok(), Gender::Other)).ok();
        assert_eq!(json.as_deref(), Some(r#"["GB","X"]"#));
    }
}
