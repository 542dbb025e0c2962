//! Generated people: patients, their contacts and doctors.
//!
//! Each [`Person`] is internally consistent — the resident ID number encodes the birth date
//! and gender and carries a valid GB 11643 check character, the e-mail is built from the
//! name — so detectors and `partial` see the shapes they would see in production. Names
//! are Chinese (including compound surnames such as 欧阳) or English. This module knows
//! nothing of appointments (`appointment.rs`) or output formats (`shape/`); its word lists
//! are in `lexicon.rs`.

use crate::calendar::Date;
use crate::dice::Dice;
use crate::lexicon::{
    AREAS, CN_COMPOUNDS, CN_ROADS, COMPOUND_SURNAMES, EN_CITIES, EN_STREETS, FIRST_FEMALE,
    FIRST_MALE, GIVEN_FEMALE, GIVEN_MALE, LAST, MAIL_DOMAINS_CN, MAIL_DOMAINS_EN, MOBILE_PREFIXES,
    SURNAMES,
};

/// Whether a person is recorded in Chinese or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    Chinese,
    English,
}

/// The gender recorded on the ID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gender {
    Female,
    Male,
}

impl Gender {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Gender::Female => "F",
            Gender::Male => "M",
        }
    }
}

/// One generated person with every identifying field a booking system keeps.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) script: Script,
    pub(crate) name: String,
    pub(crate) gender: Gender,
    pub(crate) birth: Date,
    pub(crate) id_card: String,
    pub(crate) phone: String,
    pub(crate) email: String,
    pub(crate) address: String,
}

/// GB 11643 weights of the first 17 characters.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// GB 11643 check characters, indexed by the weighted sum modulo 11.
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character of the first 17 digits of a resident ID number, or
/// `None` when `body` is not 17 ASCII digits.
pub fn id_card_check_char(body: &str) -> Option<char> {
    let bytes = body.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    ID_CHECK.get((sum % 11) as usize).map(|&c| char::from(c))
}

/// A mainland mobile number: a real `1[3-9]x` prefix and eight more digits.
pub(crate) fn mobile(dice: &mut Dice) -> String {
    let mut s = String::with_capacity(11);
    s.push_str(dice.pick(MOBILE_PREFIXES));
    dice.push_digits(8, &mut s);
    s
}

/// A name in the given script; also returns the parts an e-mail is built from.
fn name(dice: &mut Dice, script: Script, gender: Gender) -> (String, String, String) {
    match script {
        Script::Chinese => {
            let (sur, sur_py) = if dice.chance(0.05) {
                dice.pick(COMPOUND_SURNAMES)
            } else {
                dice.pick(SURNAMES)
            };
            let given = match gender {
                Gender::Male => GIVEN_MALE,
                Gender::Female => GIVEN_FEMALE,
            };
            let mut name = sur.to_owned();
            let mut given_py = String::new();
            // Given names have one or two characters; some repeat one (欧阳娜娜).
            let chars = if dice.chance(0.35) { 1 } else { 2 };
            let first = dice.pick(given);
            name.push_str(first.0);
            given_py.push_str(first.1);
            if chars == 2 {
                let second = if dice.chance(0.15) {
                    first
                } else {
                    dice.pick(given)
                };
                name.push_str(second.0);
                given_py.push_str(second.1);
            }
            (name, given_py, sur_py.to_owned())
        }
        Script::English => {
            let first = match gender {
                Gender::Male => dice.pick(FIRST_MALE),
                Gender::Female => dice.pick(FIRST_FEMALE),
            };
            let last = dice.pick(LAST);
            let mut name = format!("{first} {last}");
            if dice.chance(0.08) {
                name = format!("{first} {} {last}", dice.pick(&["A.", "J.", "M.", "R."]));
            }
            let local_last: String = last
                .chars()
                .filter(char::is_ascii_alphabetic)
                .collect::<String>()
                .to_lowercase();
            (name, first.to_lowercase(), local_last)
        }
    }
}

fn email(dice: &mut Dice, script: Script, given: &str, family: &str, birth: Date) -> String {
    let yy = birth.year % 100;
    match (script, dice.index(4)) {
        (Script::Chinese, 0) => {
            let mut s = String::new();
            dice.push_digits(1, &mut s);
            let len = dice.range(6, 9) as usize;
            dice.push_digits(len, &mut s);
            // QQ numbers never start with 0.
            if s.starts_with('0') {
                s.replace_range(0..1, "8");
            }
            s.push_str("@qq.com");
            s
        }
        (Script::Chinese, 1) => format!("{family}{given}{yy:02}@{}", dice.pick(MAIL_DOMAINS_CN)),
        (Script::Chinese, 2) => format!("{given}.{family}@{}", dice.pick(MAIL_DOMAINS_EN)),
        (Script::Chinese, _) => {
            format!(
                "{family}_{given}{}@{}",
                dice.range(1, 999),
                dice.pick(MAIL_DOMAINS_CN)
            )
        }
        (Script::English, 0) => format!("{given}.{family}@{}", dice.pick(MAIL_DOMAINS_EN)),
        (Script::English, 1) => {
            let initial = given.chars().next().unwrap_or('x');
            format!(
                "{initial}{family}{}@{}",
                birth.year,
                dice.pick(MAIL_DOMAINS_EN)
            )
        }
        (Script::English, 2) => format!("{given}{yy:02}@{}", dice.pick(MAIL_DOMAINS_EN)),
        (Script::English, _) => format!("{given}.{family}@clinic-partner.example"),
    }
}

fn address(dice: &mut Dice, script: Script) -> String {
    match script {
        Script::Chinese => {
            let district = dice.pick(AREAS).1;
            let road = dice.pick(CN_ROADS);
            let number = dice.range(1, 999);
            if dice.chance(0.6) {
                format!(
                    "{district}{road}{number}号{}{}栋{}单元{}室",
                    dice.pick(CN_COMPOUNDS),
                    dice.range(1, 30),
                    dice.range(1, 6),
                    dice.range(1, 33) * 100 + dice.range(1, 4)
                )
            } else {
                format!("{district}{road}{number}号")
            }
        }
        Script::English => {
            let street = dice.pick(EN_STREETS);
            let city = dice.pick(EN_CITIES);
            let number = dice.range(1, 1200);
            if dice.chance(0.5) {
                format!(
                    "Flat {}{}, {number} {street}, {city}",
                    dice.range(1, 40),
                    dice.pick(&["A", "B", "C", "D"])
                )
            } else {
                format!("{number} {street}, {city}")
            }
        }
    }
}

/// A resident ID number for a person born on `birth` with `gender`.
pub(crate) fn id_card(dice: &mut Dice, birth: Date, gender: Gender) -> String {
    let mut s = String::with_capacity(18);
    s.push_str(dice.pick(AREAS).0);
    birth.push_compact(&mut s);
    dice.push_digits(2, &mut s);
    // The last digit of the sequence is odd for men and even for women.
    let sex_digit = dice.range(0, 4) * 2 + u32::from(gender == Gender::Male);
    s.push(char::from_digit(sex_digit, 10).unwrap_or('0'));
    let check = id_card_check_char(&s).unwrap_or('0');
    s.push(check);
    s
}

impl Person {
    /// A new person; `chinese_share` is the probability of a Chinese name.
    pub(crate) fn random(dice: &mut Dice, chinese_share: f64) -> Person {
        let script = if dice.chance(chinese_share) {
            Script::Chinese
        } else {
            Script::English
        };
        let gender = if dice.chance(0.5) {
            Gender::Female
        } else {
            Gender::Male
        };
        let birth = Date::random(dice, 1940, 2019);
        let (name, given, family) = name(dice, script, gender);
        let id_card = id_card(dice, birth, gender);
        let phone = mobile(dice);
        let email = email(dice, script, &given, &family, birth);
        let address = address(dice, script);
        Person {
            script,
            name,
            gender,
            birth,
            id_card,
            phone,
            email,
            address,
        }
    }

    /// A doctor's name only (doctors carry no other personal data in the records).
    pub(crate) fn doctor_name(dice: &mut Dice, script: Script) -> String {
        let gender = if dice.chance(0.5) {
            Gender::Female
        } else {
            Gender::Male
        };
        name(dice, script, gender).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_char_matches_published_examples() {
        // The example number printed in GB 11643-1999.
        assert_eq!(id_card_check_char("11010519491231002"), Some('X'));
        assert_eq!(id_card_check_char("44030519900101125"), Some('6'));
        assert_eq!(id_card_check_char("31010419851212003"), Some('1'));
        assert_eq!(id_card_check_char("1101051949123100"), None);
        assert_eq!(id_card_check_char("1101051949123100a"), None);
    }

    #[test]
    fn generated_people_are_consistent() {
        let mut dice = Dice::new(42);
        let mut compound = false;
        for _ in 0..5_000 {
            let p = Person::random(&mut dice, 0.7);
            let id = p.id_card.as_bytes();
            assert_eq!(id.len(), 18, "{}", p.id_card);
            let body = &p.id_card[..17];
            assert_eq!(
                id_card_check_char(body).map(|c| c as u8),
                Some(id[17]),
                "{}",
                p.id_card
            );
            let mut birth = String::new();
            p.birth.push_compact(&mut birth);
            assert_eq!(&p.id_card[6..14], birth);
            assert_eq!((id[16] - b'0') % 2 == 1, p.gender == Gender::Male);

            let phone = p.phone.as_bytes();
            assert_eq!(phone.len(), 11);
            assert!(
                phone[0] == b'1' && (b'3'..=b'9').contains(&phone[1]),
                "{}",
                p.phone
            );
            assert!(phone.iter().all(u8::is_ascii_digit));

            assert_eq!(p.email.matches('@').count(), 1, "{}", p.email);
            assert!(!p.email.starts_with('@') && !p.email.contains(' '));
            compound |= p.name.starts_with("欧阳") || p.name.starts_with("司马");
        }
        assert!(compound, "compound surnames occur");
    }
}
