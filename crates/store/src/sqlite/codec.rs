//! The compact binary forms of a benchmark document's tests and a report node's sections.
//!
//! Ten thousand nodes run the same ~130 checks, so the texts live once in the
//! `test_texts` catalogue and a blob only says, per test, which catalogue row it is and
//! how it came out: about two bytes per test instead of ~300 bytes of JSON.
//!
//! Both formats start with a format-version byte so that a later layout can be told apart
//! from this one; a reader refuses any version it does not know rather than guessing.
//!
//! Building blocks:
//! - *varint*: unsigned LEB128 (7 bits per byte, least significant group first, high bit
//!   set on every byte but the last), at most 10 bytes.
//! - *string*: varint byte length, then that many bytes of UTF-8.
//! - *test*: the catalogue id as a zigzag varint of its difference to the previous test's
//!   id in the same blob (the first is relative to 0), then one flags byte, then — only
//!   when the status is not one of the four kube-bench prints — the status as a string.
//!   Ids are deltas because documents list their tests in catalogue order, so nearly
//!   every delta is +1 and fits one byte however large the catalogue grows.
//!
//! Flags byte of a test: bits 0–2 the status (0 PASS, 1 FAIL, 2 WARN, 3 INFO,
//! 4 NOT_OBSERVED, 7 any other status, whose text follows), bit 3 `scored`, bit 4 (report
//! node blobs of format 2 only) the test is waived, bits 5–7 zero. Code 4 came after the
//! first release; that release reads it as invalid flags. A waived test's flags (and its
//! status text) are followed by its waiver: a varint `k`, the waiver's name as a string
//! when `k` is 0 (the blob's first test with that waiver), else the `k`-th distinct name
//! given earlier in the same blob. Most tests have no waiver and cost nothing more; a
//! waiver met again costs one byte.
//!
//! Benchmark tests blob ([`TESTS_FORMAT`]): version byte, varint test count, the tests.
//!
//! Report node blob ([`NODE_FORMAT`]): version byte, varint section count, then per
//! section a header byte (bits 0–1 the rating: 0 HIGH, 1 MED, 2 LOW; bit 2 set when the
//! section name and description follow as two strings, clear when they equal the section
//! and section_desc of the section's first test and are taken from there; bit 3 (format
//! 2) set when the section has waived failures; bits 4–7 zero), the optional two strings,
//! varints pass, fail, info, then (bit 3 only) the varint `waived`, then the test count
//! and the tests. The id delta runs on across sections.
//!
//! Format 2 (schema version 3) is format 1 with the waiver bits: every format-1 blob reads
//! as it did, and a format-1 blob with a waiver bit set is refused as invalid flags.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use compliance_core::model::{Rating, SectionResult, TestResult, TestStatus, TestText};

/// Format version of a benchmark document's tests blob.
pub const TESTS_FORMAT: u8 = 1;
/// Format version of a report node's sections blob that [`encode_sections`] writes.
pub const NODE_FORMAT: u8 = 2;
/// The report node format of schema versions 1 and 2: no waivers. Still read.
const NODE_FORMAT_1: u8 = 1;

const STATUS_MASK: u8 = 0b0111;
const STATUS_NOT_OBSERVED: u8 = 4;
const STATUS_OTHER: u8 = 7;
const SCORED: u8 = 0b1000;
const WAIVED: u8 = 0b1_0000;

const RATING_MASK: u8 = 0b011;
const EXPLICIT_SECTION: u8 = 0b100;
const SECTION_WAIVED: u8 = 0b1000;

/// The provenance of a benchmark document or report node, as its `provenance` column
/// holds it (schema version 2): `''` when every string is empty, else a JSON object of
/// the non-empty ones under their document keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    #[serde(
        rename = "kubeBenchVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub kube_bench_version: String,
    #[serde(
        rename = "benchmarkerVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub benchmarker_version: String,
    #[serde(
        rename = "benchmarkChoice",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub benchmark_choice: String,
}

/// [`Origin`] borrowed, for writing without copying the strings.
#[derive(Serialize)]
struct OriginRef<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    platform: &'a str,
    #[serde(rename = "kubeBenchVersion", skip_serializing_if = "str::is_empty")]
    kube_bench_version: &'a str,
    #[serde(rename = "benchmarkerVersion", skip_serializing_if = "str::is_empty")]
    benchmarker_version: &'a str,
    #[serde(rename = "benchmarkChoice", skip_serializing_if = "str::is_empty")]
    benchmark_choice: &'a str,
}

/// The column's text of the four provenance strings, in [`Origin`]'s order.
pub fn encode_origin(
    platform: &str,
    kube_bench_version: &str,
    benchmarker_version: &str,
    benchmark_choice: &str,
) -> String {
    let o = OriginRef {
        platform,
        kube_bench_version,
        benchmarker_version,
        benchmark_choice,
    };
    if [
        platform,
        kube_bench_version,
        benchmarker_version,
        benchmark_choice,
    ]
    .iter()
    .all(|s| s.is_empty())
    {
        return String::new();
    }
    serde_json::to_string(&o).expect("four strings always serialize")
}

impl Origin {
    /// The column's text ([`encode_origin`] of its strings).
    #[cfg(test)]
    pub fn encode(&self) -> String {
        encode_origin(
            &self.platform,
            &self.kube_bench_version,
            &self.benchmarker_version,
            &self.benchmark_choice,
        )
    }

    /// Reads the column's text; `''` (every version-1 row) is no provenance.
    pub fn decode(text: &str) -> Result<Origin, String> {
        if text.is_empty() {
            return Ok(Origin::default());
        }
        serde_json::from_str(text).map_err(|e| format!("provenance {text:?}: {e}"))
    }
}

/// Why a blob could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty blob")]
    Empty,
    #[error("unknown blob format version {0}")]
    Format(u8),
    #[error("blob ends early at byte {0}")]
    Truncated(usize),
    #[error("varint at byte {0} is longer than 64 bits")]
    Overlong(usize),
    #[error("invalid flags byte {value:#04x} at byte {at}")]
    Flags { at: usize, value: u8 },
    #[error("string at byte {0} is not UTF-8")]
    Utf8(usize),
    #[error("test text id {0} is not in the catalogue")]
    UnknownText(i64),
    #[error("section at byte {0} takes its name from its first test but has none")]
    SectionWithoutTests(usize),
    #[error("waiver {index} at byte {at} refers to a name not given before it")]
    UnknownWaiver { at: usize, index: u64 },
    #[error("{0} unexpected bytes after the last entry")]
    Trailing(usize),
}

/// Shares the `Arc<str>` of unusual statuses, and of waiver names, between the documents
/// of one read.
///
/// A cluster with a kube-bench build that prints, say, `SKIP` would otherwise allocate the
/// same string once per test per node; a waiver covering a test on every node, likewise.
#[derive(Debug, Default)]
pub struct StatusInterner {
    seen: HashMap<Box<str>, Arc<str>>,
}

impl StatusInterner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.seen.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.seen.insert(Box::from(s), a.clone());
        a
    }
}

/// Resolves catalogue ids to the shared texts while decoding.
pub trait TextLookup {
    fn text(&self, id: i64) -> Option<Arc<TestText>>;
}

impl TextLookup for HashMap<i64, Arc<TestText>> {
    fn text(&self, id: i64) -> Option<Arc<TestText>> {
        self.get(&id).cloned()
    }
}

/// Appends the tests blob of one benchmark document to `out`.
///
/// `tests` yields, per test, its catalogue id, status and scored flag.
pub fn encode_tests<'a>(
    out: &mut Vec<u8>,
    count: usize,
    tests: impl IntoIterator<Item = (i64, &'a TestStatus, bool)>,
) {
    out.push(TESTS_FORMAT);
    put_varint(out, count as u64);
    let mut prev = 0;
    for (id, status, scored) in tests {
        put_test(out, &mut prev, id, status, scored, false);
    }
}

/// A decoded test: the parts of [`compliance_core::model::BenchmarkTest`] and [`TestResult`].
pub type Test = (Arc<TestText>, TestStatus, bool);

/// Reads a tests blob written by [`encode_tests`].
pub fn decode_tests(
    blob: &[u8],
    texts: &impl TextLookup,
    statuses: &mut StatusInterner,
) -> Result<Vec<Test>, DecodeError> {
    let mut r = Reader::new(blob);
    r.version(TESTS_FORMAT)?;
    let count = r.count(2)?;
    let mut tests = Vec::with_capacity(count);
    let mut prev = 0;
    for _ in 0..count {
        let (test, _) = r.test(&mut prev, texts, statuses, None)?;
        tests.push(test);
    }
    r.finish()?;
    Ok(tests)
}

/// Appends the sections blob of one report node to `out`; `id_of` gives each test's
/// catalogue id, in the order the tests appear.
pub fn encode_sections<E>(
    out: &mut Vec<u8>,
    sections: &[SectionResult],
    mut id_of: impl FnMut(&Arc<TestText>) -> Result<i64, E>,
) -> Result<(), E> {
    out.push(NODE_FORMAT);
    put_varint(out, sections.len() as u64);
    let mut prev = 0;
    // The distinct waiver names given so far, in order: a later test refers to one by
    // its position.
    let mut names: Vec<&str> = Vec::new();
    for s in sections {
        let implied = s
            .results
            .first()
            .is_some_and(|t| t.text.section == s.section && t.text.section_desc == s.desc);
        let mut header = rating_code(s.status);
        if !implied {
            header |= EXPLICIT_SECTION;
        }
        if s.waived > 0 {
            header |= SECTION_WAIVED;
        }
        out.push(header);
        if !implied {
            put_str(out, &s.section);
            put_str(out, &s.desc);
        }
        put_varint(out, s.pass);
        put_varint(out, s.fail);
        put_varint(out, s.info);
        if s.waived > 0 {
            put_varint(out, s.waived);
        }
        put_varint(out, s.results.len() as u64);
        for t in &s.results {
            let id = id_of(&t.text)?;
            put_test(out, &mut prev, id, &t.status, t.scored, t.waiver.is_some());
            if let Some(w) = &t.waiver {
                match names.iter().position(|n| *n == &**w) {
                    Some(k) => put_varint(out, k as u64 + 1),
                    None => {
                        put_varint(out, 0);
                        put_str(out, w);
                        names.push(w);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads a sections blob written by [`encode_sections`].
pub fn decode_sections(
    blob: &[u8],
    texts: &impl TextLookup,
    statuses: &mut StatusInterner,
) -> Result<Vec<SectionResult>, DecodeError> {
    let mut r = Reader::new(blob);
    let format = r.version_of(&[NODE_FORMAT_1, NODE_FORMAT])?;
    let section_bits = if format == NODE_FORMAT_1 {
        RATING_MASK | EXPLICIT_SECTION
    } else {
        RATING_MASK | EXPLICIT_SECTION | SECTION_WAIVED
    };
    // The blob's waiver names so far; `None` in a format-1 blob, which has none.
    let mut waivers: Option<Vec<Arc<str>>> = (format == NODE_FORMAT).then(Vec::new);
    // A section takes at least five bytes: header and four varints.
    let count = r.count(5)?;
    let mut sections = Vec::with_capacity(count);
    let mut prev = 0;
    for _ in 0..count {
        let at = r.pos;
        let header = r.byte()?;
        if header & !section_bits != 0 {
            return Err(DecodeError::Flags { at, value: header });
        }
        let status = match header & RATING_MASK {
            0 => Rating::High,
            1 => Rating::Med,
            2 => Rating::Low,
            _ => return Err(DecodeError::Flags { at, value: header }),
        };
        let names = if header & EXPLICIT_SECTION != 0 {
            Some((r.string()?.to_owned(), r.string()?.to_owned()))
        } else {
            None
        };
        let pass = r.varint()?;
        let fail = r.varint()?;
        let info = r.varint()?;
        let waived = if header & SECTION_WAIVED != 0 {
            r.varint()?
        } else {
            0
        };
        let n = r.count(2)?;
        let mut results = Vec::with_capacity(n);
        for _ in 0..n {
            let ((text, status, scored), waiver) =
                r.test(&mut prev, texts, statuses, waivers.as_mut())?;
            results.push(TestResult {
                text,
                status,
                scored,
                waiver,
            });
        }
        let (section, desc) = match names {
            Some(names) => names,
            None => {
                let first = results
                    .first()
                    .ok_or(DecodeError::SectionWithoutTests(at))?;
                (first.text.section.clone(), first.text.section_desc.clone())
            }
        };
        sections.push(SectionResult {
            status,
            section,
            desc,
            pass,
            fail,
            info,
            results,
            waived,
        });
    }
    r.finish()?;
    Ok(sections)
}

fn rating_code(r: Rating) -> u8 {
    match r {
        Rating::High => 0,
        Rating::Med => 1,
        Rating::Low => 2,
    }
}

fn put_test(
    out: &mut Vec<u8>,
    prev: &mut i64,
    id: i64,
    status: &TestStatus,
    scored: bool,
    waived: bool,
) {
    let delta = id.wrapping_sub(*prev);
    *prev = id;
    put_varint(out, ((delta << 1) ^ (delta >> 63)) as u64);
    let code = match status {
        TestStatus::Pass => 0,
        TestStatus::Fail => 1,
        TestStatus::Warn => 2,
        TestStatus::Info => 3,
        TestStatus::NotObserved => STATUS_NOT_OBSERVED,
        TestStatus::Other(_) => STATUS_OTHER,
    };
    out.push(code | if scored { SCORED } else { 0 } | if waived { WAIVED } else { 0 });
    if let TestStatus::Other(s) = status {
        put_str(out, s);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over a blob; every read checks the bounds, so no input can make it panic.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn version(&mut self, expected: u8) -> Result<(), DecodeError> {
        self.version_of(&[expected]).map(|_| ())
    }

    /// The format version byte, one of `known`.
    fn version_of(&mut self, known: &[u8]) -> Result<u8, DecodeError> {
        match self.buf.first() {
            None => Err(DecodeError::Empty),
            Some(&v) if known.contains(&v) => {
                self.pos = 1;
                Ok(v)
            }
            Some(&v) => Err(DecodeError::Format(v)),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            // The tenth byte may only carry the one bit left of a u64.
            if shift == 63 && b > 1 {
                return Err(DecodeError::Overlong(start));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Overlong(start))
    }

    /// A count of entries that each take at least `min_size` bytes; checked against the
    /// bytes left, so that a corrupt count cannot make the reader reserve gigabytes.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_size as u64) > left {
            return Err(DecodeError::Truncated(at));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::Truncated(at))?;
        let s = std::str::from_utf8(&self.buf[self.pos..end]).map_err(|_| DecodeError::Utf8(at))?;
        self.pos = end;
        Ok(s)
    }

    /// One test and its waiver. `names` holds the waiver names of the blob so far, `None`
    /// where a test cannot be waived (a benchmark document, a format-1 node blob).
    fn test(
        &mut self,
        prev: &mut i64,
        texts: &impl TextLookup,
        statuses: &mut StatusInterner,
        names: Option<&mut Vec<Arc<str>>>,
    ) -> Result<(Test, Option<Arc<str>>), DecodeError> {
        let z = self.varint()?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let id = prev.wrapping_add(delta);
        *prev = id;
        let at = self.pos;
        let flags = self.byte()?;
        let known = if names.is_some() {
            STATUS_MASK | SCORED | WAIVED
        } else {
            STATUS_MASK | SCORED
        };
        if flags & !known != 0 {
            return Err(DecodeError::Flags { at, value: flags });
        }
        let status = match flags & STATUS_MASK {
            0 => TestStatus::Pass,
            1 => TestStatus::Fail,
            2 => TestStatus::Warn,
            3 => TestStatus::Info,
            STATUS_NOT_OBSERVED => TestStatus::NotObserved,
            STATUS_OTHER => TestStatus::Other(statuses.get(self.string()?)),
            _ => return Err(DecodeError::Flags { at, value: flags }),
        };
        let waiver = match names {
            Some(names) if flags & WAIVED != 0 => {
                let at = self.pos;
                let k = self.varint()?;
                if k == 0 {
                    let name = statuses.get(self.string()?);
                    names.push(name.clone());
                    Some(name)
                } else {
                    let name = usize::try_from(k - 1).ok().and_then(|i| names.get(i));
                    Some(
                        name.ok_or(DecodeError::UnknownWaiver { at, index: k })?
                            .clone(),
                    )
                }
            }
            _ => None,
        };
        let text = texts.text(id).ok_or(DecodeError::UnknownText(id))?;
        Ok(((text, status, flags & SCORED != 0), waiver))
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(i: i64) -> Arc<TestText> {
        Arc::new(TestText {
            section: format!("{}", i / 10),
            section_desc: format!("Section {}", i / 10),
            test_number: format!("{}.{}", i / 10, i % 10),
            test_desc: format!("Ensure that check {i} holds (Automated)"),
            test_info: format!("Run `fix {i}` on every node — ünïcode too"),
        })
    }

    fn catalogue(ids: impl IntoIterator<Item = i64>) -> HashMap<i64, Arc<TestText>> {
        ids.into_iter().map(|i| (i, text(i))).collect()
    }

    fn status() -> impl Strategy<Value = TestStatus> {
        prop_oneof![
            Just(TestStatus::Pass),
            Just(TestStatus::Fail),
            Just(TestStatus::Warn),
            Just(TestStatus::Info),
            Just(TestStatus::NotObserved),
            // Any string at all, including the four known words: an `Other("PASS")` must
            // come back as `Other`, not as `Pass`.
            any::<String>().prop_map(|s| TestStatus::Other(Arc::from(s))),
        ]
    }

    /// No waiver mostly; else one of a few names (so that names repeat within a blob),
    /// the empty name, or any string.
    fn waiver() -> impl Strategy<Value = Option<Arc<str>>> {
        prop_oneof![
            4 => Just(None),
            2 => prop::sample::select(vec!["etcd-perms", "gpu-pool", "kubelet ✓ ünï"])
                .prop_map(|n| Some(Arc::from(n))),
            1 => Just(Some(Arc::from(""))),
            1 => any::<String>().prop_map(|n| Some(Arc::from(n))),
        ]
    }

    fn waived_count() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0), 1u64..10, any::<u64>()]
    }

    /// The node blob of `sections`, whose texts are rows of `cat`.
    fn encode_node(cat: &HashMap<i64, Arc<TestText>>, sections: &[SectionResult]) -> Vec<u8> {
        let mut blob = Vec::new();
        encode_sections(&mut blob, sections, |t| {
            Ok::<_, ()>(
                cat.iter()
                    .find(|(_, c)| Arc::ptr_eq(c, t))
                    .map(|(i, _)| *i)
                    .unwrap(),
            )
        })
        .unwrap();
        blob
    }

    fn encode(tests: &[(i64, TestStatus, bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_tests(
            &mut out,
            tests.len(),
            tests.iter().map(|(i, s, b)| (*i, s, *b)),
        );
        out
    }

    proptest! {
        #[test]
        fn tests_blob_round_trips(
            tests in prop::collection::vec((0i64..100_000, status(), any::<bool>()), 0..300)
        ) {
            let cat = catalogue(tests.iter().map(|t| t.0));
            let blob = encode(&tests);
            let back = decode_tests(&blob, &cat, &mut StatusInterner::default()).unwrap();
            let want: Vec<_> = tests.iter().map(|(i, s, b)| (cat[i].clone(), s.clone(), *b)).collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn extreme_ids_round_trip(ids in prop::collection::vec(any::<i64>(), 0..20)) {
            let tests: Vec<_> = ids.iter().map(|&i| (i, TestStatus::Pass, true)).collect();
            let cat: HashMap<i64, Arc<TestText>> = ids.iter().map(|&i| (i, text(1))).collect();
            let back = decode_tests(&encode(&tests), &cat, &mut StatusInterner::default()).unwrap();
            prop_assert_eq!(back.len(), ids.len());
        }

        #[test]
        fn sections_blob_round_trips(
            sections in prop::collection::vec(
                (
                    0u8..3,
                    any::<bool>(),
                    any::<String>(),
                    any::<(u64, u64, u64)>(),
                    waived_count(),
                    prop::collection::vec((0i64..500, status(), any::<bool>(), waiver()), 0..20),
                ),
                0..8,
            )
        ) {
            let cat = catalogue(0..500);
            let sections: Vec<SectionResult> = sections
                .into_iter()
                .map(|(rating, from_test, name, (pass, fail, info), waived, tests)| {
                    let results: Vec<TestResult> = tests
                        .into_iter()
                        .map(|(i, status, scored, waiver)| TestResult {
                            text: cat[&i].clone(),
                            status,
                            scored,
                            waiver,
                        })
                        .collect();
                    let (section, desc) = match results.first() {
                        Some(t) if from_test => (t.text.section.clone(), t.text.section_desc.clone()),
                        _ => (name.clone(), name),
                    };
                    let status = [Rating::High, Rating::Med, Rating::Low][rating as usize];
                    SectionResult { status, section, desc, pass, fail, info, results, waived }
                })
                .collect();
            let blob = encode_node(&cat, &sections);
            let back = decode_sections(&blob, &cat, &mut StatusInterner::default()).unwrap();
            prop_assert_eq!(back, sections);
        }

        #[test]
        fn origin_round_trips(
            platform in any::<String>(),
            kube_bench_version in any::<String>(),
            benchmarker_version in any::<String>(),
            benchmark_choice in any::<String>(),
        ) {
            let o = Origin { platform, kube_bench_version, benchmarker_version, benchmark_choice };
            let text = o.encode();
            prop_assert_eq!(text.is_empty(), o == Origin::default());
            prop_assert_eq!(Origin::decode(&text).unwrap(), o);
        }

        /// Whatever the bytes, decoding returns; it never panics or over-allocates.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let cat = catalogue(0..50);
            let _ = decode_tests(&bytes, &cat, &mut StatusInterner::default());
            let _ = decode_sections(&bytes, &cat, &mut StatusInterner::default());
        }
    }

    #[test]
    fn consecutive_ids_cost_two_bytes_per_test() {
        let tests: Vec<_> = (1000..1130).map(|i| (i, TestStatus::Fail, true)).collect();
        let blob = encode(&tests);
        // Version, a two-byte count, the first id's two-byte delta and its flags, then
        // two bytes for each further test.
        assert_eq!(blob.len(), 1 + 2 + 2 + 1 + 129 * 2);
    }

    #[test]
    fn rejects_what_it_did_not_write() {
        let cat = catalogue(0..5);
        let st = &mut StatusInterner::default();
        let good = encode(&[(1, TestStatus::Pass, true), (2, TestStatus::Info, false)]);
        assert!(decode_tests(&good, &cat, st).is_ok());
        assert_eq!(decode_tests(&[], &cat, st), Err(DecodeError::Empty));
        assert_eq!(decode_tests(&[9, 0], &cat, st), Err(DecodeError::Format(9)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            decode_tests(&trailing, &cat, st),
            Err(DecodeError::Trailing(1))
        );
        assert!(matches!(
            decode_tests(&good[..good.len() - 1], &cat, st),
            Err(DecodeError::Truncated(_))
        ));
        let unknown = encode(&[(42, TestStatus::Pass, true)]);
        assert_eq!(
            decode_tests(&unknown, &cat, st),
            Err(DecodeError::UnknownText(42))
        );
        let mut bad_flags = good.clone();
        bad_flags[3] = 0x15;
        assert!(matches!(
            decode_tests(&bad_flags, &cat, st),
            Err(DecodeError::Flags { .. })
        ));
        // A count of a billion tests in a ten-byte blob is refused before allocating.
        let mut huge = vec![TESTS_FORMAT];
        put_varint(&mut huge, 1 << 30);
        assert!(matches!(
            decode_tests(&huge, &cat, st),
            Err(DecodeError::Truncated(1))
        ));
        let overlong = [
            TESTS_FORMAT,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x7f,
        ];
        assert_eq!(
            decode_tests(&overlong, &cat, st),
            Err(DecodeError::Overlong(1))
        );
    }

    fn section_of(cat: &HashMap<i64, Arc<TestText>>, waivers: &[Option<&str>]) -> SectionResult {
        SectionResult {
            status: Rating::Med,
            section: cat[&0].section.clone(),
            desc: cat[&0].section_desc.clone(),
            pass: 0,
            fail: waivers.iter().filter(|w| w.is_none()).count() as u64,
            info: 0,
            waived: waivers.iter().filter(|w| w.is_some()).count() as u64,
            results: waivers
                .iter()
                .enumerate()
                .map(|(i, w)| TestResult {
                    text: cat[&(i as i64)].clone(),
                    status: TestStatus::Fail,
                    scored: true,
                    waiver: w.map(Arc::from),
                })
                .collect(),
        }
    }

    #[test]
    fn tests_without_waivers_cost_no_more_than_in_format_1() {
        let cat = catalogue(0..130);
        let none = vec![None; 130];
        let blob = encode_node(&cat, &[section_of(&cat, &none)]);
        // Version, section count, header, pass, fail (one byte), info, waived absent, a
        // two-byte test count, then two bytes a test (the first id delta is 0).
        assert_eq!(blob.len(), 1 + 1 + 1 + 1 + 2 + 1 + 2 + 130 * 2);
        assert_eq!(blob[0], NODE_FORMAT);
    }

    #[test]
    fn a_waiver_met_again_in_a_blob_costs_one_byte() {
        let cat = catalogue(0..10);
        let once = encode_node(&cat, &[section_of(&cat, &[Some("etcd-perms"), None])]);
        let twice = encode_node(
            &cat,
            &[section_of(&cat, &[Some("etcd-perms"), Some("etcd-perms")])],
        );
        // The second test gains its reference (one byte); fail and waived stay one byte.
        assert_eq!(twice.len(), once.len() + 1);
        assert_eq!(once.windows(10).filter(|w| w == b"etcd-perms").count(), 1);
        assert_eq!(twice.windows(10).filter(|w| w == b"etcd-perms").count(), 1);
        let st = &mut StatusInterner::default();
        let back = decode_sections(&twice, &cat, st).unwrap();
        let (a, b) = (&back[0].results[0].waiver, &back[0].results[1].waiver);
        assert!(Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap()));
        // Another node's blob of the same read shares the name too.
        let other = decode_sections(&once, &cat, st).unwrap();
        assert!(Arc::ptr_eq(
            a.as_ref().unwrap(),
            other[0].results[0].waiver.as_ref().unwrap()
        ));
    }

    #[test]
    fn a_format_1_node_blob_reads_as_before_and_cannot_carry_waivers() {
        let cat = catalogue(0..5);
        let st = &mut StatusInterner::default();
        // What schema versions 1 and 2 wrote: format 1, one section (HIGH, named by its
        // first test), pass 1, fail 0, info 0, one test: id delta +1, PASS and scored.
        let v1: &[u8] = &[1, 1, 0, 1, 0, 0, 1, 2, 0x08];
        let back = decode_sections(v1, &cat, st).unwrap();
        assert_eq!(back[0].waived, 0);
        assert_eq!(back[0].results[0].waiver, None);
        assert_eq!(back[0].results[0].status, TestStatus::Pass);
        let waived_test: &[u8] = &[1, 1, 0, 1, 0, 0, 1, 2, 0x18, 0, 1, b'w'];
        assert_eq!(
            decode_sections(waived_test, &cat, st),
            Err(DecodeError::Flags { at: 8, value: 0x18 })
        );
        let waived_section: &[u8] = &[1, 1, 0x08, 1, 0, 0, 1, 1, 2, 0x08];
        assert_eq!(
            decode_sections(waived_section, &cat, st),
            Err(DecodeError::Flags { at: 2, value: 0x08 })
        );
        // The same bytes in format 2 are a waived test and a section with one waived.
        let mut v2 = waived_test.to_vec();
        v2[0] = NODE_FORMAT;
        assert_eq!(
            decode_sections(&v2, &cat, st).unwrap()[0].results[0]
                .waiver
                .as_deref(),
            Some("w")
        );
        // A benchmark document's test is never waived.
        assert!(matches!(
            decode_tests(&[TESTS_FORMAT, 1, 2, 0x18], &cat, st),
            Err(DecodeError::Flags { .. })
        ));
    }

    #[test]
    fn a_waiver_reference_beyond_the_names_given_is_refused() {
        let cat = catalogue(0..5);
        // Format 2, one section, one FAIL test waived by name 2 of none given.
        let blob: &[u8] = &[NODE_FORMAT, 1, 0, 0, 1, 0, 1, 2, 0x19, 3];
        assert_eq!(
            decode_sections(blob, &cat, &mut StatusInterner::default()),
            Err(DecodeError::UnknownWaiver { at: 9, index: 3 })
        );
    }

    #[test]
    fn odd_statuses_share_one_allocation() {
        let cat = catalogue(0..3);
        let skip = TestStatus::Other(Arc::from("SKIP"));
        let blob = encode(&[(0, skip.clone(), false), (1, skip, true)]);
        let st = &mut StatusInterner::default();
        let a = decode_tests(&blob, &cat, st).unwrap();
        let b = decode_tests(&blob, &cat, st).unwrap();
        let (TestStatus::Other(x), TestStatus::Other(y)) = (&a[0].1, &b[1].1) else {
            panic!("statuses decoded as {:?} and {:?}", a[0].1, b[1].1);
        };
        assert!(Arc::ptr_eq(x, y));
    }
}
