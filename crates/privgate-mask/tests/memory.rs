//! Bounded memory: the engine's heap use while streaming does not grow with the body.
//!
//! This file is its own test binary because it installs a counting global allocator. The
//! allocator counts only the thread that is measuring (a thread-local switch), and the
//! tests take turns (a mutex), so the test harness's own allocations and other tests do
//! not disturb the numbers. Bodies are generated on the fly, 64 KiB at a time, and never
//! held whole; output goes to a sink that only counts bytes. What is measured is the peak
//! heap growth from just before the [`Masker`] is built to the end of `finish`: a small
//! body and a body ten (or five) times larger must peak at the same level, within a small
//! slack, and under an absolute bound. Not a speed test: the elapsed times printed are
//! for the record only. Neighbours: `properties.rs` (chunk invariance, agreement with the
//! reference), `json.rs` and `csv.rs` (behaviour).

#![allow(
    unsafe_code,
    reason = "a global allocator must implement the unsafe `GlobalAlloc` trait"
)]
#![allow(
    clippy::print_stderr,
    reason = "the measured peaks are printed so they can be quoted"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use privgate_mask::operator::{Generalize, Partial, Redact};
use privgate_mask::{
    DetectRule, FieldRule, Format, MaskError, Masker, Operator, Output, PiiType, Plan, PlanSpec,
    Secrets,
};

// ----- the counting allocator -------------------------------------------------------------

/// Forwards to the system allocator and counts the measuring thread's live bytes.
struct Counting;

/// Live bytes allocated by the measuring thread since the measurement began (it can go
/// below zero when memory from before is freed).
static CURRENT: AtomicIsize = AtomicIsize::new(0);
/// Highest value of [`CURRENT`] since the measurement began.
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted. `const` and without a destructor,
    /// so reading it never allocates and works at any point of a thread's life.
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

fn count(delta: isize) {
    if MEASURED.try_with(Cell::get).unwrap_or(false) {
        let now = CURRENT.fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract; the
// counting only reads sizes and touches atomics and a const thread-local (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees about `layout` are passed on as they are.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller vouches for `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Measurements take turns, so the counters belong to one thread at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` on this thread and returns its result and the peak heap growth during it.
fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let _turn = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    CURRENT.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    MEASURED.set(true);
    let r = f();
    MEASURED.set(false);
    (r, PEAK.load(Ordering::Relaxed).max(0) as usize)
}

// ----- generated bookings -------------------------------------------------------------------

const CHUNK: usize = 64 * 1024;
const MB: u64 = 1_000_000;

const SURNAMES: &[&str] = &["张", "王", "李", "赵", "陈", "刘", "杨", "黄"];
const GIVEN: &[&str] = &["伟", "芳", "秀英", "敏", "静", "强", "磊", "洋"];
const LATIN: &[&str] = &["John Smith", "Mary O'Neil", "Wei Zhang", "Anna Müller"];
const STREETS: &[&str] = &[
    "北京市朝阳区建国路",
    "上海市浦东新区世纪大道",
    "广州市天河区体育西路",
];
const DEPARTMENTS: &[&str] = &["dermatology", "dental", "pediatrics", "ophthalmology"];
const STATUSES: &[&str] = &["confirmed", "checked_in", "completed", "cancelled"];
const DOCTORS: &[&str] = &["李医生", "Dr. Chen", "王主任", "Dr. Okafor"];
const TAGS: &[&str] = &["first-visit", "insured", "vip", "follow-up", "referral"];
const MOBILE_PREFIXES: &[&str] = &["138", "139", "150", "186", "177", "135"];
const AREAS: &[&str] = &["110101", "310115", "440106", "320102"];

/// How the bookings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"data":{"items":[…]}}`
    Json,
    /// One appointment per line.
    Ndjson,
    /// A header row and one appointment per row.
    Csv,
}

impl Shape {
    fn format(self) -> Format {
        match self {
            Shape::Json => Format::Json,
            Shape::Ndjson => Format::Ndjson,
            Shape::Csv => Format::Csv,
        }
    }
}

/// Streams a body of about `target` bytes of appointments, 64 KiB at a time. It holds
/// one chunk and the appointment being printed, never the body; its buffer is reserved
/// up front so it never grows while the engine is measured.
struct Bookings {
    shape: Shape,
    target: u64,
    /// Bytes handed out so far.
    produced: u64,
    /// Appointments printed so far.
    records: u64,
    started: bool,
    done: bool,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` handed out by the last call.
    handed: usize,
}

impl Bookings {
    fn new(shape: Shape, target: u64) -> Bookings {
        Bookings {
            shape,
            target,
            produced: 0,
            records: 0,
            started: false,
            done: false,
            buf: Vec::with_capacity(CHUNK + 16 * 1024),
            handed: 0,
        }
    }

    /// The next chunk of the body (64 KiB, the last one shorter), or `None` at its end.
    fn next_chunk(&mut self) -> Option<&[u8]> {
        self.buf.drain(..self.handed);
        while self.buf.len() < CHUNK && !self.done {
            self.print_more();
        }
        let n = self.buf.len().min(CHUNK);
        self.handed = n;
        self.produced += n as u64;
        (n > 0).then(|| &self.buf[..n])
    }

    fn print_more(&mut self) {
        let pending = self.produced + self.buf.len() as u64;
        let b = &mut self.buf;
        if !self.started {
            self.started = true;
            match self.shape {
                Shape::Json => b.extend_from_slice(br#"{"data":{"items":["#),
                Shape::Ndjson => {}
                Shape::Csv => b.extend_from_slice(
                    b"id,status,start,department,fee,patient_name,gender,birth_date,phone,id_card,email,address,notes,doctor,tags\r\n",
                ),
            }
            return;
        }
        if pending >= self.target {
            self.done = true;
            if self.shape == Shape::Json {
                write!(b, r#"],"total":{}}},"ok":true}}"#, self.records).unwrap();
                b.push(b'\n');
            }
            return;
        }
        if self.shape == Shape::Json && self.records > 0 {
            b.push(b',');
        }
        let a = Appointment::new(self.records);
        match self.shape {
            Shape::Json | Shape::Ndjson => a.json(b),
            Shape::Csv => a.csv(b),
        }
        if self.shape == Shape::Ndjson {
            b.push(b'\n');
        }
        self.records += 1;
    }
}

/// One appointment, derived from its index (no randomness, no allocation).
struct Appointment {
    i: u64,
}

impl Appointment {
    fn new(i: u64) -> Appointment {
        Appointment { i }
    }

    fn pick<'a>(&self, list: &[&'a str], salt: u64) -> &'a str {
        list[((self.i.wrapping_mul(2_654_435_761) >> 7).wrapping_add(salt) % list.len() as u64)
            as usize]
    }

    /// An 11-digit mainland mobile number.
    fn mobile(&self, salt: u64) -> ([u8; 11], u64) {
        let mut m = [b'0'; 11];
        m[..3].copy_from_slice(self.pick(MOBILE_PREFIXES, salt).as_bytes());
        let mut rest = (self.i.wrapping_mul(7919).wrapping_add(salt * 104_729)) % 100_000_000;
        for d in m[3..].iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let n = std::str::from_utf8(&m).unwrap().parse().unwrap();
        (m, n)
    }

    /// A resident ID number with a valid GB 11643 check character.
    fn id_card(&self) -> [u8; 18] {
        let mut id = [b'0'; 18];
        id[..6].copy_from_slice(self.pick(AREAS, 1).as_bytes());
        let (y, m, d) = self.birth();
        let seq = self.i % 1000;
        let digits = [
            y / 1000,
            y / 100 % 10,
            y / 10 % 10,
            y % 10,
            m / 10,
            m % 10,
            d / 10,
            d % 10,
            seq / 100,
            seq / 10 % 10,
            seq % 10,
        ];
        for (slot, v) in id[6..17].iter_mut().zip(digits) {
            *slot = b'0' + v as u8;
        }
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = id[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(c, w)| u32::from(c - b'0') * w)
            .sum();
        id[17] = b"10X98765432"[(sum % 11) as usize];
        id
    }

    fn birth(&self) -> (u64, u64, u64) {
        (1940 + self.i % 70, 1 + self.i / 7 % 12, 1 + self.i / 3 % 28)
    }

    fn name(&self, b: &mut Vec<u8>) {
        if self.i % 4 == 3 {
            b.extend_from_slice(self.pick(LATIN, 2).as_bytes());
        } else {
            b.extend_from_slice(self.pick(SURNAMES, 3).as_bytes());
            b.extend_from_slice(self.pick(GIVEN, 5).as_bytes());
        }
    }

    /// Free text; about a third mention a phone number or an e-mail address.
    fn notes(&self, b: &mut Vec<u8>, csv: bool) {
        match self.i % 9 {
            0 => {
                let (m, _) = self.mobile(11);
                b.extend_from_slice("请在下午5点后致电 ".as_bytes());
                b.extend_from_slice(&m);
                b.extend_from_slice("，谢谢".as_bytes());
            }
            1 => {
                let (m, _) = self.mobile(13);
                b.extend_from_slice(b"call ");
                b.extend_from_slice(&m);
                b.extend_from_slice(if csv {
                    b" after 5pm, ask for \"\"Mum\"\""
                } else {
                    b" after 5pm, ask for \\\"Mum\\\""
                });
            }
            2 => write!(b, "results by mail to p{}@example.com please", self.i % 997).unwrap(),
            3 => b.extend_from_slice("青霉素过敏；复诊 2 周后".as_bytes()),
            4 => write!(b, "room {}, bring last year's X-ray", 100 + self.i % 400).unwrap(),
            _ => b.extend_from_slice(b"no notes"),
        }
    }

    fn json(&self, b: &mut Vec<u8>) {
        let i = self.i;
        let (y, mo, d) = self.birth();
        write!(b, r#"{{"id":"APT-{:08}","status":"{}","start":"2025-{:02}-{:02}T{:02}:30:00+08:00","department":"{}","fee":{},"#,
            i, self.pick(STATUSES, 7), 1 + i % 12, 1 + i % 28, 8 + i % 10, self.pick(DEPARTMENTS, 9), 5000 + i % 30000).unwrap();
        b.extend_from_slice(br#""patient":{"name":""#);
        self.name(b);
        write!(
            b,
            r#"","gender":"{}","birthDate":"{y}-{mo:02}-{d:02}","phone":"#,
            if i.is_multiple_of(2) { "F" } else { "M" }
        )
        .unwrap();
        // A legacy system stores some phone numbers as numbers.
        let (m, n) = self.mobile(0);
        if i.is_multiple_of(5) {
            write!(b, "{n}").unwrap();
        } else {
            b.push(b'"');
            b.extend_from_slice(&m);
            b.push(b'"');
        }
        b.extend_from_slice(br#","idCard":""#);
        b.extend_from_slice(&self.id_card());
        write!(
            b,
            r#"","email":"patient{}@example.com","address":"{}{}号{}单元","notes":""#,
            i % 10_007,
            self.pick(STREETS, 4),
            1 + i % 300,
            1 + i % 9
        )
        .unwrap();
        self.notes(b, false);
        write!(
            b,
            r#""}},"doctor":{{"id":{},"name":"{}"}},"tags":["{}","{}"]}}"#,
            300 + i % 40,
            self.pick(DOCTORS, 6),
            self.pick(TAGS, 8),
            self.pick(TAGS, 10)
        )
        .unwrap();
    }

    fn csv(&self, b: &mut Vec<u8>) {
        let i = self.i;
        let (y, mo, d) = self.birth();
        write!(
            b,
            "APT-{:08},{},2025-{:02}-{:02}T{:02}:30:00+08:00,{},{},",
            i,
            self.pick(STATUSES, 7),
            1 + i % 12,
            1 + i % 28,
            8 + i % 10,
            self.pick(DEPARTMENTS, 9),
            5000 + i % 30000
        )
        .unwrap();
        self.name(b);
        write!(
            b,
            ",{},{y}-{mo:02}-{d:02},",
            if i.is_multiple_of(2) { "F" } else { "M" }
        )
        .unwrap();
        b.extend_from_slice(&self.mobile(0).0);
        b.push(b',');
        b.extend_from_slice(&self.id_card());
        write!(
            b,
            ",patient{}@example.com,\"{}{}号, {}单元\",\"",
            i % 10_007,
            self.pick(STREETS, 4),
            1 + i % 300,
            1 + i % 9
        )
        .unwrap();
        self.notes(b, true);
        write!(
            b,
            "\",{},\"{};{}\"\r\n",
            self.pick(DOCTORS, 6),
            self.pick(TAGS, 8),
            self.pick(TAGS, 10)
        )
        .unwrap();
    }
}

// ----- the plan and the sink ------------------------------------------------------------------

fn field(name: &str, selectors: &[&str], pii: PiiType, operator: Operator) -> FieldRule {
    FieldRule {
        name: name.into(),
        selectors: selectors.iter().map(|s| (*s).to_owned()).collect(),
        pii,
        operator,
    }
}

/// What a clinic typically masks, in all three shapes, with detectors on everything else.
fn clinic_plan() -> Arc<Plan> {
    let partial = || Operator::Partial(Partial::default());
    let spec = PlanSpec {
        fields: vec![
            field(
                "patient_name",
                &["$..patient.name", "$..patient_name"],
                PiiType::PersonName,
                partial(),
            ),
            field("phone", &["$..phone"], PiiType::CnMobile, partial()),
            field(
                "id_card",
                &["$..idCard", "$..id_card"],
                PiiType::CnIdCard,
                partial(),
            ),
            field("email", &["$..email"], PiiType::Email, partial()),
            field(
                "address",
                &["$..address"],
                PiiType::Address,
                Operator::Redact(Redact::default()),
            ),
            field(
                "birth_date",
                &["$..birthDate", "$..birth_date"],
                PiiType::Date,
                Operator::Generalize(Generalize::default()),
            ),
            field(
                "doctor",
                &["$..doctor.name", "$..doctor"],
                PiiType::PersonName,
                Operator::Keep,
            ),
        ],
        detect: Some(DetectRule {
            types: vec![
                PiiType::CnMobile,
                PiiType::CnIdCard,
                PiiType::Email,
                PiiType::BankCard,
            ],
            operator: partial(),
        }),
        records: Some("$.data.items[*]".into()),
        ..Default::default()
    };
    let secrets = Secrets::new()
        .with_hash_key(&[1; 32])
        .with_token_key("k1", &[7; 32])
        .unwrap();
    Arc::new(Plan::compile(&spec, secrets).unwrap())
}

/// An output that only counts what it is given.
#[derive(Debug, Default)]
struct Tally {
    passed: u64,
    emitted: u64,
}

impl Output for Tally {
    fn pass(&mut self, _chunk: &[u8], range: Range<usize>) {
        self.passed += range.len() as u64;
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.emitted += bytes.len() as u64;
    }
}

// ----- the measurement ----------------------------------------------------------------------

/// What one streamed body did.
#[derive(Debug)]
struct Streamed {
    bytes_in: u64,
    records: u64,
    values: u64,
    tally: Tally,
    /// The largest [`Masker::buffered`] seen after any chunk.
    max_buffered: usize,
    /// Peak heap growth while streaming.
    peak: usize,
    elapsed: Duration,
}

fn stream(plan: &Arc<Plan>, shape: Shape, target: u64) -> Streamed {
    let mut body = Bookings::new(shape, target);
    let (result, peak) = measure(|| -> Result<_, MaskError> {
        let started = Instant::now();
        let mut masker = Masker::new(Arc::clone(plan), shape.format());
        let mut tally = Tally::default();
        let mut max_buffered = 0;
        while let Some(chunk) = body.next_chunk() {
            masker.feed(chunk, &mut tally)?;
            max_buffered = max_buffered.max(masker.buffered());
        }
        masker.finish(&mut tally)?;
        let stats = masker.stats();
        Ok((
            stats.bytes_in,
            stats.records,
            stats.values(),
            tally,
            max_buffered,
            started.elapsed(),
        ))
    });
    let (bytes_in, records, values, tally, max_buffered, elapsed) = result.unwrap();
    assert_eq!(
        bytes_in, body.produced,
        "{shape:?}: every generated byte was fed"
    );
    assert_eq!(
        records, body.records,
        "{shape:?}: every appointment is a record"
    );
    assert!(
        values > 5 * records,
        "{shape:?}: the plan masked the patients ({values} values)"
    );
    assert!(
        tally.emitted > 0 && tally.passed > 0,
        "{shape:?}: {tally:?}"
    );
    let s = Streamed {
        bytes_in,
        records,
        values,
        tally,
        max_buffered,
        peak,
        elapsed,
    };
    eprintln!(
        "{shape:?} {:>4} MB: peak heap growth {:>6} B, max buffered {:>5} B, {} records, {} values, {} B passed, {} B emitted, {:.1} s",
        s.bytes_in / MB,
        s.peak,
        s.max_buffered,
        s.records,
        s.values,
        s.tally.passed,
        s.tally.emitted,
        s.elapsed.as_secs_f64()
    );
    s
}

/// Slack between the small and the large body's peaks: a `Vec` that happens to grow once
/// more (a longer value straddling a chunk boundary) is fine; anything proportional to
/// the body is not.
const SLACK: usize = 64 * 1024;
/// Whatever the body, the engine stays below this.
const BOUND: usize = 4 * 1024 * 1024;
/// [`Masker::buffered`] stays below this: the values here are a few hundred bytes.
const BUFFERED: usize = 16 * 1024;

fn peak_does_not_grow(shape: Shape, small: u64, large: u64) {
    let plan = clinic_plan();
    let s = stream(&plan, shape, small * MB);
    let l = stream(&plan, shape, large * MB);
    assert!(
        l.peak <= s.peak + SLACK,
        "{shape:?}: peak grew with the body: {} B at {small} MB, {} B at {large} MB",
        s.peak,
        l.peak
    );
    assert!(
        l.peak < BOUND,
        "{shape:?}: peak {} B over the bound of {BOUND} B",
        l.peak
    );
    for r in [&s, &l] {
        assert!(
            r.max_buffered < BUFFERED,
            "{shape:?}: buffered {} B",
            r.max_buffered
        );
    }
}

#[test]
fn the_counter_sees_this_threads_allocations() {
    let (v, peak) = measure(|| vec![0u8; 1 << 20].len());
    assert_eq!(v, 1 << 20);
    assert!((1 << 20..(1 << 20) + 4096).contains(&peak), "{peak}");
}

#[test]
fn json_peak_does_not_grow_from_20_to_200_mb() {
    peak_does_not_grow(Shape::Json, 20, 200);
}

#[test]
fn ndjson_peak_does_not_grow_from_20_to_100_mb() {
    peak_does_not_grow(Shape::Ndjson, 20, 100);
}

#[test]
fn csv_peak_does_not_grow_from_20_to_100_mb() {
    peak_does_not_grow(Shape::Csv, 20, 100);
}
