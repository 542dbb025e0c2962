//! Fake personal data for a clinic: names (Chinese and English), resident ID numbers with
//! valid GB 11643 check characters, mainland mobile numbers, e-mails on reserved example
//! domains, addresses, birth dates, insurance card numbers with valid Luhn digits, and the
//! free text staff type into notes. Every value comes from the caller's seeded RNG, so the
//! same seed gives the same people. This module knows nothing of the database: `seed.rs`
//! puts what it makes into SQLite, and `db.rs` reads it back.

use rand::Rng;

const SURNAMES: &[&str] = &[
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "欧阳", "司马", "诸葛",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "建国", "子涵", "浩然", "雨桐",
    "欣怡", "梓轩", "一诺", "思远", "晓东", "海燕", "文博",
];
const EN_FIRST: &[&str] = &[
    "John", "Mary", "James", "Emma", "Michael", "Olivia", "David", "Sophia", "Daniel", "Grace",
    "Peter", "Anna", "Thomas", "Lucy", "Robert", "Chloe",
];
const EN_LAST: &[&str] = &[
    "Smith", "Brown", "Wilson", "Taylor", "Clark", "Walker", "Wright", "Green", "Hall", "Young",
    "Miller", "Davis", "O'Brien",
];
/// Romanised syllables for the local part of Chinese patients' e-mail addresses.
const SYLLABLES: &[&str] = &[
    "zhang", "wang", "li", "zhao", "liu", "chen", "yang", "huang", "wei", "fang", "na", "min",
    "jing", "qiang", "lei", "jun", "yan", "jie", "tao", "ming", "chao", "xia", "hua", "guo",
];
/// Domains reserved for documentation (RFC 2606 and alike), so no real mailbox is named.
const MAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.cn",
    "mail.example.net",
];
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "176", "177", "178", "180", "181", "182", "183", "185", "186",
    "187", "188", "189", "198", "199",
];
/// Administrative division codes (the first six ID digits) and the district they name.
const REGIONS: &[(&str, &str)] = &[
    ("110101", "北京市东城区"),
    ("110105", "北京市朝阳区"),
    ("310104", "上海市徐汇区"),
    ("310115", "上海市浦东新区"),
    ("440305", "深圳市南山区"),
    ("440106", "广州市天河区"),
    ("330106", "杭州市西湖区"),
    ("510107", "成都市武侯区"),
    ("420106", "武汉市武昌区"),
    ("320102", "南京市玄武区"),
    ("610113", "西安市雁塔区"),
    ("120101", "天津市和平区"),
];
const STREETS: &[&str] = &[
    "建国路",
    "人民路",
    "解放路",
    "中山路",
    "科技园南路",
    "漕溪北路",
    "长安街",
    "文三路",
    "天府大道",
    "珞喻路",
    "学院路",
    "滨江大道",
];
const RELATIONS: &[&str] = &["父亲", "母亲", "配偶", "子女", "朋友"];
const CARD_PREFIXES: &[&str] = &["6222", "6217", "6228", "6214"];

/// GB 11643 weights of the first 17 characters of a resident ID number.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// GB 11643 check characters, indexed by the weighted sum modulo 11.
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// One fake patient, as the reception desk would have typed it in.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub phone: String,
    pub id_card: String,
    pub birth_date: String,
    pub email: String,
    pub address: String,
    pub insurance_card: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub contact_relation: String,
}

fn pick<'a>(rng: &mut impl Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

/// A person: 85% Chinese names, 15% English names.
pub fn person(rng: &mut impl Rng) -> Person {
    let english = rng.gen_bool(0.15);
    let (name, surname, mail_local) = if english {
        let (first, last) = (pick(rng, EN_FIRST), pick(rng, EN_LAST));
        let local = format!(
            "{}.{}",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', "")
        );
        (format!("{first} {last}"), last.to_owned(), local)
    } else {
        let (surname, given) = (pick(rng, SURNAMES), pick(rng, GIVEN));
        let local = format!("{}{}", pick(rng, SYLLABLES), pick(rng, SYLLABLES));
        (format!("{surname}{given}"), surname.to_owned(), local)
    };
    let (year, month, day) = birth_date(rng);
    let (region, district) = REGIONS[rng.gen_range(0..REGIONS.len())];
    let id_card = id_card(region, year, month, day, rng.gen_range(0..1000));
    let email = format!(
        "{mail_local}{}@{}",
        rng.gen_range(1..1000),
        pick(rng, MAIL_DOMAINS)
    );
    let relation = pick(rng, RELATIONS);
    let contact_name = if english {
        format!("{} {surname}", pick(rng, EN_FIRST))
    } else if matches!(relation, "父亲" | "子女") {
        format!("{surname}{}", pick(rng, GIVEN))
    } else {
        format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN))
    };
    Person {
        name,
        phone: mobile(rng),
        id_card,
        birth_date: format!("{year:04}-{month:02}-{day:02}"),
        email,
        address: address(rng, district),
        insurance_card: insurance_card(rng),
        contact_name,
        contact_phone: mobile(rng),
        contact_relation: relation.to_owned(),
    }
}

/// A mainland mobile number: a real carrier prefix and eight more digits.
pub fn mobile(rng: &mut impl Rng) -> String {
    format!(
        "{}{:08}",
        pick(rng, MOBILE_PREFIXES),
        rng.gen_range(0..100_000_000u32)
    )
}

fn birth_date(rng: &mut impl Rng) -> (i32, u32, u32) {
    let year = rng.gen_range(1938..=2021);
    let month = rng.gen_range(1..=12);
    let day = rng.gen_range(1..=days_in_month(year, month));
    (year, month, day)
}

fn address(rng: &mut impl Rng, district: &str) -> String {
    let street = pick(rng, STREETS);
    let number = rng.gen_range(1..400);
    if rng.gen_bool(0.6) {
        let (building, room) = (rng.gen_range(1..30), rng.gen_range(101..2400));
        format!("{district}{street}{number}号{building}栋{room}室")
    } else {
        format!("{district}{street}{number}号")
    }
}

/// An 18-character resident ID number: region, birth date, sequence (odd for men, even
/// for women) and the GB 11643 check character.
pub fn id_card(region: &str, year: i32, month: u32, day: u32, sequence: u32) -> String {
    let mut id = format!("{region}{year:04}{month:02}{day:02}{:03}", sequence % 1000);
    id.push(id_check_char(&id));
    id
}

/// The GB 11643 check character of the first 17 digits of `id`.
pub fn id_check_char(id: &str) -> char {
    let sum: u32 = id
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    char::from(ID_CHECK[(sum % 11) as usize])
}

/// A medical insurance card, which is a UnionPay bank card: 16 or 19 digits ending in a
/// Luhn check digit, printed with spaces every four digits about half of the time.
pub fn insurance_card(rng: &mut impl Rng) -> String {
    let length = if rng.gen_bool(0.5) { 16 } else { 19 };
    let mut digits = pick(rng, CARD_PREFIXES).to_owned();
    while digits.len() < length - 1 {
        digits.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    digits.push(luhn_check_digit(&digits));
    if rng.gen_bool(0.5) {
        let groups: Vec<&str> = digits
            .as_bytes()
            .chunks(4)
            .map(|group| std::str::from_utf8(group).unwrap_or_default())
            .collect();
        groups.join(" ")
    } else {
        digits
    }
}

/// The Luhn digit that makes `digits` followed by it a valid card number.
pub fn luhn_check_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, byte)| {
            let digit = u32::from(byte - b'0');
            if i % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Free text as staff type it: often clinical, sometimes with a relative's phone number,
/// an e-mail address, an ID number, or commas and quotes that CSV has to escape.
pub fn notes(rng: &mut impl Rng) -> Option<String> {
    const CLINICAL: &[&str] = &[
        "复诊，血压偏高。",
        "初诊。",
        "患者要求上午就诊。",
        "过敏史：青霉素。",
        "需空腹抽血。",
        "术后复查，伤口愈合良好。",
        "Follow-up in two weeks.",
        "Patient prefers an English-speaking doctor.",
    ];
    let roll = rng.gen_range(0..100);
    let base = pick(rng, CLINICAL);
    Some(match roll {
        0..=19 => return None,
        20..=34 => format!("{base}家属电话{}", mobile(rng)),
        35..=44 => format!("{base}检查报告发送至{}", person_email(rng)),
        45..=49 => {
            let (year, month, day) = birth_date(rng);
            let id = id_card(REGIONS[0].0, year, month, day, rng.gen_range(0..1000));
            format!("代办人身份证{id}，{base}")
        }
        50..=54 => format!("{base} notes, with \"quotes\", and commas"),
        _ => base.to_owned(),
    })
}

/// A short remark field the old front desk used for invoices and SMS: mostly empty.
pub fn remark(rng: &mut impl Rng) -> String {
    match rng.gen_range(0..10) {
        0 => format!("发票寄 {}", person_email(rng)),
        1 => format!("短信通知 {}", mobile(rng)),
        _ => String::new(),
    }
}

fn person_email(rng: &mut impl Rng) -> String {
    format!(
        "{}{}@{}",
        pick(rng, SYLLABLES),
        rng.gen_range(1..100),
        pick(rng, MAIL_DOMAINS)
    )
}

/// Days in `month` of `year` in the Gregorian calendar.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The civil date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn id_check_char_matches_known_numbers() {
        assert_eq!(id_check_char("11010119900307123"), '3');
        assert_eq!(id_check_char("44030519781125789"), 'X');
        assert_eq!(id_check_char("31010419850612456"), '2');
    }

    #[test]
    fn luhn_digit_matches_a_known_card() {
        assert_eq!(luhn_check_digit("622202020000123"), '5');
        assert_eq!(luhn_check_digit("7992739871"), '3');
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_875), (2024, 6, 1));
    }

    #[test]
    fn people_are_deterministic_and_well_formed() {
        let a = person(&mut StdRng::seed_from_u64(7));
        let b = person(&mut StdRng::seed_from_u64(7));
        assert_eq!(a.id_card, b.id_card);
        assert_eq!(a.id_card.len(), 18);
        assert_eq!(a.id_card[6..14], a.birth_date.replace('-', ""));
        assert_eq!(a.phone.len(), 11);
        let card: String = a.insurance_card.chars().filter(|c| *c != ' ').collect();
        let (body, check) = card.split_at(card.len() - 1);
        assert_eq!(luhn_check_digit(body).to_string(), check);
    }
}
