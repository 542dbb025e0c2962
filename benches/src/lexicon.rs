//! The word lists the generators draw from: names, places, mobile prefixes, departments,
//! diagnoses and the sentences notes are made of.
//!
//! Data only, no logic: `person.rs` and `appointment.rs` decide how the words combine. The
//! lists are small on purpose; realism comes from combining them, and the benches need
//! variety of shape (lengths, scripts, punctuation), not a census.

// People (person.rs).

/// Single-character surnames and their pinyin.
pub(crate) const SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
];

/// Compound surnames, rarer in the data as in life.
pub(crate) const COMPOUND_SURNAMES: &[(&str, &str)] = &[
    ("欧阳", "ouyang"),
    ("司马", "sima"),
    ("诸葛", "zhuge"),
    ("上官", "shangguan"),
    ("慕容", "murong"),
    ("东方", "dongfang"),
];

pub(crate) const GIVEN_MALE: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("浩", "hao"),
    ("鹏", "peng"),
    ("华", "hua"),
    ("建", "jian"),
    ("国", "guo"),
    ("宇", "yu"),
    ("俊", "jun"),
    ("志", "zhi"),
    ("博", "bo"),
    ("文", "wen"),
];

pub(crate) const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("艳", "yan"),
    ("娟", "juan"),
    ("霞", "xia"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("慧", "hui"),
    ("玲", "ling"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("佳", "jia"),
    ("琳", "lin"),
    ("颖", "ying"),
    ("梅", "mei"),
    ("晶", "jing"),
    ("璐", "lu"),
];

pub(crate) const FIRST_MALE: &[&str] = &[
    "John", "James", "Michael", "David", "Robert", "William", "Thomas", "Daniel", "Mark", "Paul",
    "Andrew", "Peter", "Oliver", "Lucas",
];

pub(crate) const FIRST_FEMALE: &[&str] = &[
    "Mary", "Emma", "Sarah", "Anna", "Laura", "Emily", "Sophie", "Olivia", "Grace", "Chloe",
    "Hannah", "Julia", "Claire", "Lisa",
];

pub(crate) const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Miller",
    "Clarke",
    "Walker",
    "O'Brien",
    "Müller",
    "García",
    "Nguyen",
    "Anderson",
    "Thompson",
    "Lee",
    "Martin",
    "Moore",
    "van der Berg",
];

/// Mobile prefixes in use on the mainland (all match `1[3-9]`).
pub(crate) const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "170", "173", "175", "176", "177",
    "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "193", "195",
    "198", "199",
];

/// Administrative division codes with the district they name.
pub(crate) const AREAS: &[(&str, &str)] = &[
    ("110101", "北京市东城区"),
    ("110105", "北京市朝阳区"),
    ("110108", "北京市海淀区"),
    ("310101", "上海市黄浦区"),
    ("310104", "上海市徐汇区"),
    ("310115", "上海市浦东新区"),
    ("440106", "广东省广州市天河区"),
    ("440305", "广东省深圳市南山区"),
    ("330106", "浙江省杭州市西湖区"),
    ("320102", "江苏省南京市玄武区"),
    ("510107", "四川省成都市武侯区"),
    ("420106", "湖北省武汉市武昌区"),
    ("370202", "山东省青岛市市南区"),
    ("610113", "陕西省西安市雁塔区"),
];

pub(crate) const CN_ROADS: &[&str] = &[
    "建国路",
    "中山路",
    "人民路",
    "解放大道",
    "长安街",
    "南京西路",
    "淮海中路",
    "科技园南路",
    "天府大道",
    "文三路",
    "珞喻路",
    "香港中路",
    "世纪大道",
    "学院路",
];

pub(crate) const CN_COMPOUNDS: &[&str] = &[
    "阳光花园",
    "锦绣家园",
    "翠湖苑",
    "华府小区",
    "幸福里",
    "金色家园",
];

pub(crate) const EN_STREETS: &[&str] = &[
    "Queen's Road Central",
    "Nathan Road",
    "Lujiazui Ring Road",
    "Huaihai Middle Road",
    "Sanlitun Road",
    "Baker Street",
    "Elm Street",
    "Maple Avenue",
    "Harbour Road",
    "Century Avenue",
];

pub(crate) const EN_CITIES: &[&str] = &[
    "Hong Kong",
    "Shanghai 200120",
    "Beijing 100027",
    "Shenzhen 518057",
    "London NW1 6XE",
    "Springfield, IL 62704",
    "Singapore 238859",
];

pub(crate) const MAIL_DOMAINS_CN: &[&str] =
    &["163.com", "126.com", "sina.com", "foxmail.com", "139.com"];

pub(crate) const MAIL_DOMAINS_EN: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
];

// Appointments (appointment.rs).

pub(crate) const STATUSES: &[&str] = &[
    "booked",
    "booked",
    "checked_in",
    "completed",
    "completed",
    "cancelled",
    "no_show",
];

pub(crate) const CANCEL_REASONS: &[&str] = &[
    "patient_request",
    "doctor_unavailable",
    "duplicate",
    "患者临时有事",
];

pub(crate) const DEPARTMENTS_CN: &[&str] = &[
    "心内科",
    "内分泌科",
    "呼吸内科",
    "消化内科",
    "骨科",
    "皮肤科",
    "儿科",
    "妇产科",
    "眼科",
    "口腔科",
    "全科",
    "神经内科",
];

pub(crate) const DEPARTMENTS_EN: &[&str] = &[
    "Cardiology",
    "Endocrinology",
    "Respiratory Medicine",
    "Gastroenterology",
    "Orthopaedics",
    "Dermatology",
    "Paediatrics",
    "Obstetrics & Gynaecology",
    "Ophthalmology",
    "Dental",
    "General Practice",
    "Neurology",
];

pub(crate) const TITLES_CN: &[&str] = &["主任医师", "副主任医师", "主治医师", "住院医师"];

pub(crate) const TITLES_EN: &[&str] = &[
    "Consultant",
    "Attending Physician",
    "Resident",
    "Specialist",
];

pub(crate) const DIAGNOSES_CN: &[&str] = &[
    "2型糖尿病",
    "原发性高血压",
    "急性上呼吸道感染",
    "腰椎间盘突出症",
    "慢性胃炎",
    "过敏性鼻炎",
    "偏头痛",
    "高脂血症",
    "湿疹",
    "龋齿",
    "近视",
    "健康体检",
];

pub(crate) const DIAGNOSES_EN: &[&str] = &[
    "Type 2 diabetes mellitus",
    "Essential hypertension",
    "Acute upper respiratory infection",
    "Lumbar disc herniation",
    "Chronic gastritis",
    "Allergic rhinitis",
    "Migraine without aura",
    "Hyperlipidaemia",
    "Eczema",
    "Dental caries",
    "Myopia",
    "Routine check-up",
];

pub(crate) const TAGS: &[&str] = &[
    "vip",
    "first_visit",
    "follow_up",
    "insured",
    "wheelchair",
    "interpreter",
    "diabetes",
    "hypertension",
    "allergy",
    "pediatric",
    "online_booking",
    "walk_in",
];

pub(crate) const RELATIONS: &[&str] =
    &["spouse", "parent", "child", "sibling", "friend", "guardian"];

pub(crate) const NOTES_CN: &[&str] = &[
    "患者自述头痛三天，伴有轻微发热。",
    "复诊，血压控制良好，继续原方案用药。",
    "对青霉素过敏，请勿使用。",
    "需空腹抽血，请于早上8点前到达。",
    "医保卡未带，本次自费，后续报销。",
    "家属陪同就诊，行动不便，需要轮椅。",
    "上次检查结果正常，建议半年后复查。",
    "患者要求女医生接诊。",
    "建议低盐低脂饮食，适量运动。",
    "药物：二甲双胍 0.5g，每日两次。",
];

pub(crate) const NOTES_EN: &[&str] = &[
    "Patient reports mild headache, no fever.",
    "Follow-up in 2 weeks; continue current medication.",
    "Allergic to penicillin, latex and \"most plasters\".",
    "Prefers morning slots, ideally before 10:00.",
    "Needs an interpreter (Cantonese).",
    "Arrives by taxi, may be 10 min late.",
    "Previous results normal, recheck in 6 months.",
    "Metformin 500 mg, twice daily.",
    "Fasting blood test, nothing after midnight.",
    "Requested a female doctor.",
];

/// Sentences that mention a phone number (`{}`) in each script.
pub(crate) const PHONE_NOTES_CN: &[&str] = &[
    "请回电 {}",
    "联系电话{}，工作日下午方便。",
    "如需改期请拨打{}。",
    "家属电话：{}",
];

pub(crate) const PHONE_NOTES_EN: &[&str] = &[
    "call me at {} after 5pm",
    "Best number: {}, text first please.",
    "If late, ring {}.",
    "Daughter's mobile {} (speaks English)",
];

pub(crate) const MAIL_NOTES_CN: &[&str] = &["检查报告请发送至 {}，谢谢。", "电子发票发到{}"];

pub(crate) const MAIL_NOTES_EN: &[&str] = &[
    "Please send the report to {}, thanks",
    "email results to {}",
];
