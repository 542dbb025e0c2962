//! The kinds of personal data the engine knows, shared by operators, detectors and stats.
//!
//! A [`PiiType`] says what a value *is* (a mainland mobile number, a resident ID number…),
//! which decides how `partial` masks it and how detections are counted. It is not a
//! classification level: levels belong to the policy crate.

use std::fmt;
use std::str::FromStr;

/// What kind of personal data a value holds.
///
/// The snake_case name (see [`PiiType::as_str`]) is the word used in policies, stats and
/// metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    /// A person's name, Chinese (`张三`) or Latin-script (`John Smith`).
    PersonName,
    /// A mainland China mobile number: 11 digits starting `1[3-9]`.
    CnMobile,
    /// A mainland resident identity card number (GB 11643, 18 characters, check digit).
    CnIdCard,
    /// A unified social credit code of an organisation (GB 32100, 18 characters).
    CnUscc,
    /// A payment card number (13–19 digits, Luhn).
    BankCard,
    /// An e-mail address.
    Email,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A mainland passport number (`E12345678`, `G12345678`, …).
    CnPassport,
    /// An international phone number in E.164 form (`+447700900123`).
    E164Phone,
    /// A postal address.
    Address,
    /// A date that identifies a person (birth date, visit date).
    Date,
    /// Free text that may mention anything (notes, diagnoses, comments).
    FreeText,
    /// Anything else personal; masked generically.
    Generic,
}

impl PiiType {
    /// Every type, in a fixed order (the order of the stats arrays).
    pub const ALL: [PiiType; 14] = [
        PiiType::PersonName,
        PiiType::CnMobile,
        PiiType::CnIdCard,
        PiiType::CnUscc,
        PiiType::BankCard,
        PiiType::Email,
        PiiType::Ipv4,
        PiiType::Ipv6,
        PiiType::CnPassport,
        PiiType::E164Phone,
        PiiType::Address,
        PiiType::Date,
        PiiType::FreeText,
        PiiType::Generic,
    ];

    /// Number of types; the length of per-type arrays.
    pub const COUNT: usize = Self::ALL.len();

    /// The type's name as written in policies and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            PiiType::PersonName => "person_name",
            PiiType::CnMobile => "cn_mobile",
            PiiType::CnIdCard => "cn_id_card",
            PiiType::CnUscc => "cn_uscc",
            PiiType::BankCard => "bank_card",
            PiiType::Email => "email",
            PiiType::Ipv4 => "ipv4",
            PiiType::Ipv6 => "ipv6",
            PiiType::CnPassport => "cn_passport",
            PiiType::E164Phone => "e164_phone",
            PiiType::Address => "address",
            PiiType::Date => "date",
            PiiType::FreeText => "free_text",
            PiiType::Generic => "generic",
        }
    }

    /// Position of the type in [`PiiType::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether a detector exists for this type (the types `unknown_fields` can name).
    pub const fn is_detectable(self) -> bool {
        matches!(
            self,
            PiiType::CnMobile
                | PiiType::CnIdCard
                | PiiType::CnUscc
                | PiiType::BankCard
                | PiiType::Email
                | PiiType::Ipv4
                | PiiType::Ipv6
                | PiiType::CnPassport
                | PiiType::E164Phone
        )
    }
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown PII type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PII type `{0}`")]
pub struct UnknownPiiType(pub String);

impl FromStr for PiiType {
    type Err = UnknownPiiType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PiiType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownPiiType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_position() {
        for (i, t) in PiiType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(t.as_str().parse::<PiiType>(), Ok(*t));
        }
        assert!("phone".parse::<PiiType>().is_err());
    }
}
