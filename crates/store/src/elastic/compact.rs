//! The compact layout of a split report's parts: each distinct test text once per part,
//! not once per node (docs/elasticsearch.md, "Large reports").
//!
//! Every node of a cluster runs the same ~125 checks, so nearly all the bytes of a
//! report's §5 JSON are the same descriptions and remediations, repeated per node: a
//! 10,000-node report is about 500 MB. A compact part keeps in tables what its nodes
//! share, and per node only what is its own. Its payload, the value of the part
//! document's `cisBenchmark` (an array of whole nodes in the full layout), is one JSON
//! object:
//!
//! - `texts`: each distinct test text of the part's nodes, once, as
//!   `{"section", "sectionDesc", "testNumber", "testDesc", "testInfo"}`;
//! - `sections`: each distinct `[section, desc]` of the part's node sections;
//! - `shapes`: each distinct list of sections a node has, as
//!   `[{"section": <index in sections>, "tests": [[<index in texts>, <scored>], ..]}, ..]`;
//! - `nodes`: per node `{"nodeName", "kubernetesVersion", "benchmarksVersion", "summary",
//!   "error" (only when not empty), "shape": <index in shapes>, "results": [[status, pass,
//!   fail, info, statuses] or, for a section with failures a waiver accepted, [status,
//!   pass, fail, info, statuses, waived], ..] (one per section of its shape),
//!   "otherStatuses" (only when not empty), and only when set: "noResults" (true),
//!   "lastResultTime" (a report time), "platform", "kubeBenchVersion",
//!   "benchmarkerVersion", "benchmarkChoice", "waivers"}`. `statuses` has one character
//!   per test of the section: `P`, `F`, `W`, `I` and `N` for PASS, FAIL, WARN, INFO and
//!   NOT_OBSERVED, `?` for any other status, which is the next string of `otherStatuses`
//!   (verbatim, even when it reads "PASS"). The node's `summary` is the §5 object, its
//!   `waived` and `statusWithoutWaivers` included when set;
//! - `waiverNames` (only when a node of the part has a waived test): each distinct name
//!   of a waiver that accepted a test, once. A node's `waivers` lists its waived tests as
//!   `[section position, test position, index in waiverNames]`, in test order.
//!
//! A part of a report without waivers is exactly what it was before waivers existed.
//!
//! A part's tables cover its own nodes only, so any one part decodes without the others
//! (the store reads the part holding a node without those before it).
//!
//! Pure: nodes in, JSON out, and back; the store does the IO (`reports.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use compliance_core::model::time;
use compliance_core::model::{
    CisBenchmarkNode, NodeSummary, Rating, SectionResult, TestResult, TestStatus, TestText,
    TextInterner,
};

/// The value of a split head's `cisBenchmarkLayout` whose parts are in this layout.
pub const LAYOUT: &str = "compact";

/// The payload of a part without anything in it; the arrays' contents go between the
/// brackets.
const FRAME: &str = r#"{"texts":[],"sections":[],"shapes":[],"nodes":[]}"#;

/// The character of a status other than the four kube-bench prints: the next string
/// of the node's `otherStatuses`.
const OTHER: char = '?';

#[derive(Serialize, Deserialize)]
struct WireText<'a> {
    section: Cow<'a, str>,
    #[serde(rename = "sectionDesc")]
    section_desc: Cow<'a, str>,
    #[serde(rename = "testNumber")]
    test_number: Cow<'a, str>,
    #[serde(rename = "testDesc")]
    test_desc: Cow<'a, str>,
    #[serde(rename = "testInfo")]
    test_info: Cow<'a, str>,
}

/// One section of a shape: which section it is and its tests, `(text, scored)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct ShapeSection {
    section: usize,
    tests: Vec<(usize, bool)>,
}

/// A node's own part of one section: `[status, pass, fail, info, statuses]`, and
/// `waived` as a sixth element when not zero.
struct WireSection(Rating, u64, u64, u64, String, u64);

impl Serialize for WireSection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let waived = self.5 > 0;
        let mut t = s.serialize_tuple(5 + usize::from(waived))?;
        t.serialize_element(&self.0)?;
        t.serialize_element(&self.1)?;
        t.serialize_element(&self.2)?;
        t.serialize_element(&self.3)?;
        t.serialize_element(&self.4)?;
        if waived {
            t.serialize_element(&self.5)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for WireSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = WireSection;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[status, pass, fail, info, statuses] with an optional waived")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<WireSection, A::Error> {
                use serde::de::Error;
                let missing = |i| A::Error::invalid_length(i, &self);
                let status = seq.next_element()?.ok_or_else(|| missing(0))?;
                let pass = seq.next_element()?.ok_or_else(|| missing(1))?;
                let fail = seq.next_element()?.ok_or_else(|| missing(2))?;
                let info = seq.next_element()?.ok_or_else(|| missing(3))?;
                let statuses = seq.next_element()?.ok_or_else(|| missing(4))?;
                let waived = seq.next_element()?.unwrap_or(0);
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(7, &self));
                }
                Ok(WireSection(status, pass, fail, info, statuses, waived))
            }
        }
        d.deserialize_seq(Visit)
    }
}

#[derive(Serialize, Deserialize)]
struct WireNode<'a> {
    #[serde(rename = "nodeName")]
    node_name: Cow<'a, str>,
    #[serde(rename = "kubernetesVersion")]
    kubernetes_version: Cow<'a, str>,
    #[serde(rename = "benchmarksVersion")]
    benchmarks_version: Cow<'a, str>,
    summary: Cow<'a, NodeSummary>,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    error: Cow<'a, str>,
    shape: usize,
    results: Vec<WireSection>,
    #[serde(
        rename = "otherStatuses",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    other_statuses: Vec<Cow<'a, str>>,
    #[serde(rename = "noResults", default, skip_serializing_if = "is_false")]
    no_results: bool,
    #[serde(
        rename = "lastResultTime",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::optional_seconds"
    )]
    last_result_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    platform: Cow<'a, str>,
    #[serde(
        rename = "kubeBenchVersion",
        default,
        skip_serializing_if = "str::is_empty"
    )]
    kube_bench_version: Cow<'a, str>,
    #[serde(
        rename = "benchmarkerVersion",
        default,
        skip_serializing_if = "str::is_empty"
    )]
    benchmarker_version: Cow<'a, str>,
    #[serde(
        rename = "benchmarkChoice",
        default,
        skip_serializing_if = "str::is_empty"
    )]
    benchmark_choice: Cow<'a, str>,
    /// The node's waived tests: `(section position, test position, waiver name index)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    waivers: Vec<(usize, usize, usize)>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Deserialize)]
struct Payload<'a> {
    texts: Vec<WireText<'a>>,
    sections: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    shapes: Vec<Vec<ShapeSection>>,
    nodes: Vec<WireNode<'a>>,
    #[serde(rename = "waiverNames", default)]
    waiver_names: Vec<Cow<'a, str>>,
}

/// The key of a part's waiver names, written after the nodes when there are any.
const WAIVER_NAMES_KEY: &[u8] = br#","waiverNames":[]"#;

/// About the memory `node` takes once decoded: its structs and strings, not the test
/// texts (shared by every node). What bounds a part besides its bytes: a compact part
/// of 8 MiB would otherwise decode into some 20,000 nodes, 100 MB, held at once by a
/// reader of the part.
pub fn decoded_bytes(node: &CisBenchmarkNode) -> usize {
    let sections: usize = node
        .results
        .iter()
        .map(|s| {
            let others: usize = s
                .results
                .iter()
                .map(|t| match &t.status {
                    TestStatus::Other(o) => o.len(),
                    _ => 0,
                })
                .sum();
            size_of::<SectionResult>()
                + s.section.len()
                + s.desc.len()
                + s.results.len() * size_of::<TestResult>()
                + others
        })
        .sum();
    size_of::<CisBenchmarkNode>()
        + node.node_name.len()
        + node.kubernetes_version.len()
        + node.benchmarks_version.len()
        + node.error.len()
        + node.platform.len()
        + node.kube_bench_version.len()
        + node.benchmarker_version.len()
        + node.benchmark_choice.len()
        + sections
}

/// One compact part, built node by node until the next node would take it over its
/// limit, in bytes of payload or in [`decoded_bytes`] of its nodes.
///
/// The tables are filled as nodes come; a node that does not fit is taken back out
/// (with the table entries only it added), so the part is ready to be finished.
pub struct PartBuilder<'a> {
    limit: usize,
    /// Index of each text met so far, by address first (the texts of a computed report
    /// are shared, so this is nearly always enough), then by content.
    texts_at: HashMap<usize, usize>,
    texts: HashMap<&'a TestText, usize>,
    sections: HashMap<(&'a str, &'a str), usize>,
    shapes: HashMap<Vec<ShapeSection>, usize>,
    waiver_names: HashMap<&'a str, usize>,
    /// The JSON of each array's elements, comma-separated.
    texts_json: Vec<u8>,
    sections_json: Vec<u8>,
    shapes_json: Vec<u8>,
    nodes_json: Vec<u8>,
    waiver_names_json: Vec<u8>,
    nodes: usize,
    decoded: usize,
}

/// Where a [`PartBuilder`] was before a node: what taking the node back restores.
struct Mark {
    texts: usize,
    sections: usize,
    shapes: usize,
    waiver_names: usize,
    json: [usize; 5],
    decoded: usize,
}

impl<'a> PartBuilder<'a> {
    /// An empty part that takes nodes up to `limit` bytes of payload and `limit`
    /// [`decoded_bytes`], and always at least one node.
    pub fn new(limit: usize) -> PartBuilder<'a> {
        PartBuilder {
            limit,
            texts_at: HashMap::new(),
            texts: HashMap::new(),
            sections: HashMap::new(),
            shapes: HashMap::new(),
            waiver_names: HashMap::new(),
            texts_json: Vec::new(),
            sections_json: Vec::new(),
            shapes_json: Vec::new(),
            nodes_json: Vec::new(),
            waiver_names_json: Vec::new(),
            nodes: 0,
            decoded: 0,
        }
    }

    /// Nodes in the part.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Bytes of the payload [`PartBuilder::finish`] gives.
    pub fn len(&self) -> usize {
        FRAME.len()
            + self.texts_json.len()
            + self.sections_json.len()
            + self.shapes_json.len()
            + self.nodes_json.len()
            + self.waiver_names_len()
    }

    /// Bytes of the `waiverNames` key and array: none when no test is waived.
    fn waiver_names_len(&self) -> usize {
        if self.waiver_names_json.is_empty() {
            0
        } else {
            WAIVER_NAMES_KEY.len() + self.waiver_names_json.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes == 0
    }

    /// Adds `node` when the part stays within its limit or is empty; `false` (the part
    /// unchanged) when it is full.
    pub fn try_add(&mut self, node: &'a CisBenchmarkNode) -> Result<bool, serde_json::Error> {
        let mark = self.mark();
        match self.add(node) {
            Ok(())
                if self.nodes == 0 || (self.len() <= self.limit && self.decoded <= self.limit) =>
            {
                self.nodes += 1;
                Ok(true)
            }
            Ok(()) => {
                self.take_back(mark);
                Ok(false)
            }
            Err(e) => {
                self.take_back(mark);
                Err(e)
            }
        }
    }

    /// Adds `node` to the tables and the nodes, whatever the limit.
    fn add(&mut self, node: &'a CisBenchmarkNode) -> Result<(), serde_json::Error> {
        let mut shape = Vec::with_capacity(node.results.len());
        let mut results = Vec::with_capacity(node.results.len());
        let mut other_statuses = Vec::new();
        let mut waivers = Vec::new();
        for (k, s) in node.results.iter().enumerate() {
            let section = self.section_index(s)?;
            let mut tests = Vec::with_capacity(s.results.len());
            let mut statuses = String::with_capacity(s.results.len());
            for (j, t) in s.results.iter().enumerate() {
                tests.push((self.text_index(&t.text)?, t.scored));
                if let Some(w) = &t.waiver {
                    waivers.push((k, j, self.waiver_name_index(w)?));
                }
                statuses.push(match &t.status {
                    TestStatus::Pass => 'P',
                    TestStatus::Fail => 'F',
                    TestStatus::Warn => 'W',
                    TestStatus::Info => 'I',
                    TestStatus::NotObserved => 'N',
                    TestStatus::Other(o) => {
                        other_statuses.push(Cow::Borrowed(&**o));
                        OTHER
                    }
                });
            }
            shape.push(ShapeSection { section, tests });
            results.push(WireSection(
                s.status, s.pass, s.fail, s.info, statuses, s.waived,
            ));
        }
        let shape = self.shape_index(shape)?;
        let wire = WireNode {
            node_name: Cow::Borrowed(&node.node_name),
            kubernetes_version: Cow::Borrowed(&node.kubernetes_version),
            benchmarks_version: Cow::Borrowed(&node.benchmarks_version),
            summary: Cow::Borrowed(&node.summary),
            error: Cow::Borrowed(&node.error),
            shape,
            results,
            other_statuses,
            no_results: node.no_results,
            last_result_time: node.last_result_time,
            platform: Cow::Borrowed(&node.platform),
            kube_bench_version: Cow::Borrowed(&node.kube_bench_version),
            benchmarker_version: Cow::Borrowed(&node.benchmarker_version),
            benchmark_choice: Cow::Borrowed(&node.benchmark_choice),
            waivers,
        };
        push_json(&mut self.nodes_json, &wire)?;
        self.decoded += decoded_bytes(node);
        Ok(())
    }

    /// The payload: the JSON object described in the module documentation.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let pieces = [
            (&br#"{"texts":["#[..], &self.texts_json),
            (&br#"],"sections":["#[..], &self.sections_json),
            (&br#"],"shapes":["#[..], &self.shapes_json),
            (&br#"],"nodes":["#[..], &self.nodes_json),
        ];
        for (key, json) in pieces {
            out.extend_from_slice(key);
            out.extend_from_slice(json);
        }
        if !self.waiver_names_json.is_empty() {
            let (open, close) = WAIVER_NAMES_KEY.split_at(WAIVER_NAMES_KEY.len() - 1);
            out.extend_from_slice(b"]");
            out.extend_from_slice(open);
            out.extend_from_slice(&self.waiver_names_json);
            out.extend_from_slice(close);
            out.extend_from_slice(b"}");
        } else {
            out.extend_from_slice(b"]}");
        }
        debug_assert_eq!(out.len(), self.len());
        out
    }

    fn text_index(&mut self, text: &'a Arc<TestText>) -> Result<usize, serde_json::Error> {
        if let Some(&i) = self.texts_at.get(&address(text)) {
            return Ok(i);
        }
        let i = match self.texts.get(&**text) {
            Some(&i) => i,
            None => {
                let i = self.texts.len();
                push_json(
                    &mut self.texts_json,
                    &WireText {
                        section: Cow::Borrowed(&text.section),
                        section_desc: Cow::Borrowed(&text.section_desc),
                        test_number: Cow::Borrowed(&text.test_number),
                        test_desc: Cow::Borrowed(&text.test_desc),
                        test_info: Cow::Borrowed(&text.test_info),
                    },
                )?;
                self.texts.insert(&**text, i);
                i
            }
        };
        self.texts_at.insert(address(text), i);
        Ok(i)
    }

    fn section_index(&mut self, s: &'a SectionResult) -> Result<usize, serde_json::Error> {
        let key = (s.section.as_str(), s.desc.as_str());
        if let Some(&i) = self.sections.get(&key) {
            return Ok(i);
        }
        let i = self.sections.len();
        push_json(&mut self.sections_json, &key)?;
        self.sections.insert(key, i);
        Ok(i)
    }

    fn waiver_name_index(&mut self, name: &'a str) -> Result<usize, serde_json::Error> {
        if let Some(&i) = self.waiver_names.get(name) {
            return Ok(i);
        }
        let i = self.waiver_names.len();
        push_json(&mut self.waiver_names_json, name)?;
        self.waiver_names.insert(name, i);
        Ok(i)
    }

    fn shape_index(&mut self, shape: Vec<ShapeSection>) -> Result<usize, serde_json::Error> {
        if let Some(&i) = self.shapes.get(&shape) {
            return Ok(i);
        }
        let i = self.shapes.len();
        push_json(&mut self.shapes_json, &shape)?;
        self.shapes.insert(shape, i);
        Ok(i)
    }

    fn mark(&self) -> Mark {
        Mark {
            texts: self.texts.len(),
            sections: self.sections.len(),
            shapes: self.shapes.len(),
            waiver_names: self.waiver_names.len(),
            json: [
                self.texts_json.len(),
                self.sections_json.len(),
                self.shapes_json.len(),
                self.nodes_json.len(),
                self.waiver_names_json.len(),
            ],
            decoded: self.decoded,
        }
    }

    fn take_back(&mut self, mark: Mark) {
        self.texts.retain(|_, i| *i < mark.texts);
        self.texts_at.retain(|_, i| *i < mark.texts);
        self.sections.retain(|_, i| *i < mark.sections);
        self.shapes.retain(|_, i| *i < mark.shapes);
        self.waiver_names.retain(|_, i| *i < mark.waiver_names);
        self.texts_json.truncate(mark.json[0]);
        self.sections_json.truncate(mark.json[1]);
        self.shapes_json.truncate(mark.json[2]);
        self.nodes_json.truncate(mark.json[3]);
        self.waiver_names_json.truncate(mark.json[4]);
        self.decoded = mark.decoded;
    }
}

/// Where `text` is in memory: a key that keeps the builder `Send`, unlike a pointer.
/// Valid as long as the builder borrows the text.
fn address(text: &Arc<TestText>) -> usize {
    Arc::as_ptr(text) as usize
}

/// Appends `value` to the comma-separated elements of an array.
fn push_json<T: Serialize + ?Sized>(array: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    if !array.is_empty() {
        array.push(b',');
    }
    serde_json::to_writer(array, value)
}

/// The nodes of a part's payload, in order, their texts shared through `interner`
/// (with those of the other parts read); an error names what is wrong with it.
pub fn decode(payload: &str, interner: &mut TextInterner) -> Result<Vec<CisBenchmarkNode>, String> {
    let p: Payload =
        serde_json::from_str(payload).map_err(|e| format!("it does not parse: {e}"))?;
    let texts: Vec<Arc<TestText>> = p
        .texts
        .into_iter()
        .map(|t| {
            interner.intern(Arc::new(TestText {
                section: t.section.into_owned(),
                section_desc: t.section_desc.into_owned(),
                test_number: t.test_number.into_owned(),
                test_desc: t.test_desc.into_owned(),
                test_info: t.test_info.into_owned(),
            }))
        })
        .collect();
    let waiver_names: Vec<Arc<str>> = p.waiver_names.iter().map(|n| Arc::from(&**n)).collect();
    let mut others: HashMap<String, Arc<str>> = HashMap::new();
    let mut nodes = Vec::with_capacity(p.nodes.len());
    for (n, node) in p.nodes.into_iter().enumerate() {
        let what = || format!("node {n} ({:?})", node.node_name);
        let shape = p.shapes.get(node.shape).ok_or_else(|| {
            format!(
                "{} has shape {}, of {} shapes",
                what(),
                node.shape,
                p.shapes.len()
            )
        })?;
        if shape.len() != node.results.len() {
            return Err(format!(
                "{} has {} sections, its shape {}",
                what(),
                node.results.len(),
                shape.len()
            ));
        }
        let mut other_statuses = node.other_statuses.iter();
        let mut results = Vec::with_capacity(shape.len());
        for (k, (form, own)) in shape.iter().zip(&node.results).enumerate() {
            let (section, desc) = p.sections.get(form.section).ok_or_else(|| {
                format!(
                    "{} section {k} is section {}, of {} sections",
                    what(),
                    form.section,
                    p.sections.len()
                )
            })?;
            let WireSection(status, pass, fail, info, statuses, waived) = own;
            if statuses.chars().count() != form.tests.len() {
                return Err(format!(
                    "{} section {k} has {} statuses for {} tests",
                    what(),
                    statuses.chars().count(),
                    form.tests.len()
                ));
            }
            let mut tests = Vec::with_capacity(form.tests.len());
            for (&(t, scored), c) in form.tests.iter().zip(statuses.chars()) {
                let text = texts.get(t).ok_or_else(|| {
                    format!(
                        "{} section {k} has text {t}, of {} texts",
                        what(),
                        texts.len()
                    )
                })?;
                let status = match c {
                    'P' => TestStatus::Pass,
                    'F' => TestStatus::Fail,
                    'W' => TestStatus::Warn,
                    'I' => TestStatus::Info,
                    'N' => TestStatus::NotObserved,
                    OTHER => {
                        let o = other_statuses.next().ok_or_else(|| {
                            format!("{} has fewer otherStatuses than `?` statuses", what())
                        })?;
                        let shared = others
                            .entry(o.to_string())
                            .or_insert_with(|| Arc::from(&**o));
                        TestStatus::Other(shared.clone())
                    }
                    c => return Err(format!("{} section {k} has status {c:?}", what())),
                };
                tests.push(TestResult {
                    text: text.clone(),
                    status,
                    scored,
                    waiver: None,
                });
            }
            results.push(SectionResult {
                status: *status,
                section: section.to_string(),
                desc: desc.to_string(),
                pass: *pass,
                fail: *fail,
                info: *info,
                results: tests,
                waived: *waived,
            });
        }
        if other_statuses.next().is_some() {
            return Err(format!(
                "{} has more otherStatuses than `?` statuses",
                what()
            ));
        }
        for &(k, j, w) in &node.waivers {
            let name = waiver_names.get(w).ok_or_else(|| {
                format!(
                    "{} waiver of section {k} test {j} is name {w}, of {} waiverNames",
                    what(),
                    waiver_names.len()
                )
            })?;
            let test = results
                .get_mut(k)
                .and_then(|s: &mut SectionResult| s.results.get_mut(j))
                .ok_or_else(|| {
                    format!(
                        "{} has a waiver for section {k} test {j}, which it has not",
                        what()
                    )
                })?;
            if test.waiver.replace(name.clone()).is_some() {
                return Err(format!(
                    "{} has two waivers for section {k} test {j}",
                    what()
                ));
            }
        }
        nodes.push(CisBenchmarkNode {
            node_name: node.node_name.into_owned(),
            kubernetes_version: node.kubernetes_version.into_owned(),
            benchmarks_version: node.benchmarks_version.into_owned(),
            summary: node.summary.into_owned(),
            results,
            error: node.error.into_owned(),
            no_results: node.no_results,
            last_result_time: node.last_result_time,
            platform: node.platform.into_owned(),
            kube_bench_version: node.kube_bench_version.into_owned(),
            benchmarker_version: node.benchmarker_version.into_owned(),
            benchmark_choice: node.benchmark_choice.into_owned(),
        });
    }
    Ok(nodes)
}

/// `nodes` cut into the payloads of parts of at most `limit` (see [`PartBuilder`]).
#[cfg(test)]
pub fn encode_parts(
    nodes: &[CisBenchmarkNode],
    limit: usize,
) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    let mut out = Vec::new();
    let mut part = PartBuilder::new(limit);
    for node in nodes {
        if !part.try_add(node)? {
            out.push(std::mem::replace(&mut part, PartBuilder::new(limit)).finish());
            assert!(part.try_add(node)?, "an empty part takes any node");
        }
    }
    out.push(part.finish());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn text(section: &str, number: &str, desc: &str, info: &str) -> Arc<TestText> {
        Arc::new(TestText {
            section: section.into(),
            section_desc: format!("Section {section}"),
            test_number: number.into(),
            test_desc: desc.into(),
            test_info: info.into(),
        })
    }

    fn texts() -> Vec<Arc<TestText>> {
        (1..=4)
            .map(|i| {
                text(
                    "1.1",
                    &format!("1.1.{i}"),
                    &format!("Ensure that check 1.1.{i} holds (Automated)"),
                    &format!("Run the remediation for 1.1.{i}: chmod 600 /etc/kubernetes/{i}"),
                )
            })
            .collect()
    }

    fn section(name: &str, tests: &[(&Arc<TestText>, TestStatus, bool)]) -> SectionResult {
        SectionResult {
            status: Rating::Med,
            section: name.into(),
            desc: format!("Section {name}"),
            pass: tests.iter().filter(|t| t.1 == TestStatus::Pass).count() as u64,
            fail: tests.iter().filter(|t| t.1 == TestStatus::Fail).count() as u64,
            info: 7,
            results: tests
                .iter()
                .map(|(text, status, scored)| TestResult {
                    text: (*text).clone(),
                    status: status.clone(),
                    scored: *scored,
                    waiver: None,
                })
                .collect(),
            waived: 0,
        }
    }

    fn node(name: &str, results: Vec<SectionResult>) -> CisBenchmarkNode {
        CisBenchmarkNode {
            node_name: name.into(),
            kubernetes_version: "1.29.3".into(),
            benchmarks_version: "cis-1.9".into(),
            summary: NodeSummary {
                status: Rating::High,
                total_pass: 3,
                total_fail: 1,
                total_info: 0,
                total: u64::from(u32::MAX) + 9,
                waived: 0,
                status_without_waivers: None,
            },
            results,
            error: String::new(),
            no_results: false,
            last_result_time: None,
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        }
    }

    /// `count` nodes with the four tests of [`texts`], statuses varying by node.
    fn nodes(count: usize) -> Vec<CisBenchmarkNode> {
        let texts = texts();
        (0..count)
            .map(|i| {
                let status = if i % 3 == 0 {
                    TestStatus::Fail
                } else {
                    TestStatus::Pass
                };
                node(
                    &format!("node-{i:05}"),
                    vec![section(
                        "1.1",
                        &[
                            (&texts[0], status, true),
                            (&texts[1], TestStatus::Pass, true),
                            (&texts[2], TestStatus::Warn, false),
                            (&texts[3], TestStatus::Info, true),
                        ],
                    )],
                )
            })
            .collect()
    }

    fn round_trip(nodes: &[CisBenchmarkNode], limit: usize) -> Vec<CisBenchmarkNode> {
        let mut interner = TextInterner::new();
        encode_parts(nodes, limit)
            .unwrap()
            .iter()
            .flat_map(|p| decode(std::str::from_utf8(p).unwrap(), &mut interner).unwrap())
            .collect()
    }

    fn payload(nodes: &[CisBenchmarkNode]) -> Value {
        let parts = encode_parts(nodes, usize::MAX).unwrap();
        assert_eq!(parts.len(), 1);
        serde_json::from_slice(&parts[0]).unwrap()
    }

    #[test]
    fn each_distinct_text_is_stored_once_a_part() {
        let nodes = nodes(50);
        let p = payload(&nodes);
        assert_eq!(p["texts"].as_array().unwrap().len(), 4);
        assert_eq!(p["sections"], serde_json::json!([["1.1", "Section 1.1"]]));
        let json = p.to_string();
        assert_eq!(json.matches("chmod 600 /etc/kubernetes/2").count(), 1);
        assert_eq!(round_trip(&nodes, usize::MAX), nodes);
    }

    #[test]
    fn equal_texts_in_different_allocations_are_one_text() {
        let mut nodes = nodes(2);
        for t in &mut nodes[1].results[0].results {
            t.text = Arc::new((*t.text).clone());
        }
        assert_eq!(payload(&nodes)["texts"].as_array().unwrap().len(), 4);
        assert_eq!(round_trip(&nodes, usize::MAX), nodes);
    }

    #[test]
    fn nodes_with_the_same_tests_share_one_shape() {
        let mut nodes = nodes(10);
        let p = payload(&nodes);
        assert_eq!(
            p["shapes"],
            serde_json::json!([[{"section": 0, "tests": [[0, true], [1, true], [2, false], [3, true]]}]])
        );
        assert_eq!(
            p["nodes"][0]["results"],
            serde_json::json!([["MED", 1, 1, 7, "FPWI"]])
        );
        assert_eq!(
            p["nodes"][1]["results"],
            serde_json::json!([["MED", 2, 0, 7, "PPWI"]])
        );
        // A test scored differently is another shape.
        nodes[4].results[0].results[1].scored = false;
        assert_eq!(payload(&nodes)["shapes"].as_array().unwrap().len(), 2);
        assert_eq!(round_trip(&nodes, usize::MAX), nodes);
    }

    #[test]
    fn statuses_beyond_the_four_round_trip_verbatim() {
        let t = texts();
        let others = ["SKIP", "PASS", "", "?", "P", "ÉCHEC ✗", "SKIP"];
        let tests: Vec<_> = others
            .iter()
            .map(|o| (&t[0], TestStatus::Other(Arc::from(*o)), true))
            .collect();
        let n = vec![node(
            "odd",
            vec![section("1.1", &tests[..4]), section("1.2", &tests[4..])],
        )];
        let p = payload(&n);
        assert_eq!(p["nodes"][0]["otherStatuses"], serde_json::json!(others));
        let back = round_trip(&n, usize::MAX);
        assert_eq!(back, n);
        assert_eq!(
            back[0].results[0].results[1].status,
            TestStatus::Other(Arc::from("PASS")),
            "an Other that reads PASS stays Other"
        );
    }

    /// `nodes(count)` with 1.1.1 failing on every third node accepted by `etcd-perms`
    /// and, on every ninth, 1.1.3 (a WARN, kept as given) by `gpu-pool`.
    fn waived_nodes(count: usize) -> Vec<CisBenchmarkNode> {
        let mut nodes = nodes(count);
        for (i, n) in nodes.iter_mut().enumerate() {
            if i % 3 == 0 {
                n.results[0].results[0].waiver = Some(Arc::from("etcd-perms"));
                n.results[0].fail -= 1;
                n.results[0].waived = 1;
                n.summary.waived = 1;
                n.summary.status_without_waivers = Some(Rating::Low);
            }
            if i % 9 == 0 {
                n.results[0].results[2].waiver = Some(Arc::from("gpu-pool"));
            }
        }
        nodes
    }

    #[test]
    fn waived_tests_name_their_waiver_once_a_part() {
        let nodes = waived_nodes(30);
        let p = payload(&nodes);
        assert_eq!(
            p["waiverNames"],
            serde_json::json!(["etcd-perms", "gpu-pool"])
        );
        assert_eq!(
            p["nodes"][0]["waivers"],
            serde_json::json!([[0, 0, 0], [0, 2, 1]])
        );
        assert_eq!(p["nodes"][3]["waivers"], serde_json::json!([[0, 0, 0]]));
        assert!(p["nodes"][1].get("waivers").is_none());
        assert_eq!(
            p["nodes"][0]["results"],
            serde_json::json!([["MED", 1, 0, 7, "FPWI", 1]])
        );
        assert_eq!(p["nodes"][0]["summary"]["waived"], 1);
        assert_eq!(p["nodes"][0]["summary"]["statusWithoutWaivers"], "LOW");
        let back = round_trip(&nodes, usize::MAX);
        assert_eq!(back, nodes);
        assert!(Arc::ptr_eq(
            back[0].results[0].results[0].waiver.as_ref().unwrap(),
            back[3].results[0].results[0].waiver.as_ref().unwrap()
        ));
        // Parts cut anywhere each carry the names their own nodes use.
        let limit = 4 * decoded_bytes(&nodes[0]);
        assert!(encode_parts(&nodes, limit).unwrap().len() > 2);
        assert_eq!(round_trip(&nodes, limit), nodes);
    }

    #[test]
    fn a_part_without_waivers_is_as_before() {
        let p = payload(&nodes(5));
        assert!(p.get("waiverNames").is_none());
        assert!(
            p["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n.get("waivers").is_none())
        );
        assert_eq!(
            p["nodes"][0]["results"],
            serde_json::json!([["MED", 1, 1, 7, "FPWI"]])
        );
        assert!(
            !p["nodes"][0]["summary"]
                .as_object()
                .unwrap()
                .contains_key("waived")
        );
    }

    #[test]
    fn a_damaged_waiver_is_an_error_naming_it() {
        let good = payload(&waived_nodes(1));
        let damaged = |path: &str, value: Value| {
            let mut p = good.clone();
            *p.pointer_mut(path).unwrap() = value;
            decode(&p.to_string(), &mut TextInterner::new()).unwrap_err()
        };
        let e = damaged("/nodes/0/waivers/0/2", 5.into());
        assert!(e.contains("is name 5, of 2 waiverNames"), "{e}");
        let e = damaged("/nodes/0/waivers/0/1", 9.into());
        assert!(e.contains("waiver for section 0 test 9"), "{e}");
        let e = damaged("/nodes/0/waivers/1", serde_json::json!([0, 0, 1]));
        assert!(e.contains("two waivers for section 0 test 0"), "{e}");
        let e = damaged(
            "/nodes/0/results/0",
            serde_json::json!(["MED", 1, 0, 7, "FPWI", 1, 2]),
        );
        assert!(e.starts_with("it does not parse"), "{e}");
    }

    #[test]
    fn hostile_texts_round_trip() {
        let hostile = "</script><script>alert(\"x\")</script> & 'q' \\ \u{0} \u{2028} 完了 ✓";
        let t = [
            Arc::new(TestText {
                section: hostile.into(),
                section_desc: String::new(),
                test_number: String::new(),
                test_desc: hostile.into(),
                test_info: "\"\n\t".into(),
            }),
            Arc::new(TestText {
                section: String::new(),
                section_desc: String::new(),
                test_number: String::new(),
                test_desc: String::new(),
                test_info: String::new(),
            }),
        ];
        let mut n = node(
            hostile,
            vec![section("", &[(&t[0], TestStatus::Pass, true)])],
        );
        n.results.push(section(
            hostile,
            &[(&t[1], TestStatus::Other(Arc::from(hostile)), false)],
        ));
        n.results[0].desc = String::new();
        n.kubernetes_version = String::new();
        n.benchmarks_version = "\u{feff}".into();
        n.error = hostile.into();
        let nodes = vec![n];
        assert_eq!(round_trip(&nodes, usize::MAX), nodes);
    }

    #[test]
    fn an_errored_node_and_empty_sections_round_trip() {
        let mut errored = node("down", Vec::new());
        errored.error = "kubelet not found: exec: \"kubelet\"".into();
        let empty = node("empty", vec![section("5.9", &[]), section("5.9", &[])]);
        let nodes = vec![errored, empty, node("bare", Vec::new())];
        let p = payload(&nodes);
        assert_eq!(
            p["nodes"][0]["error"],
            "kubelet not found: exec: \"kubelet\""
        );
        assert!(
            p["nodes"][1].get("error").is_none(),
            "an empty error is left out"
        );
        assert_eq!(p["nodes"][0]["shape"], p["nodes"][2]["shape"]);
        assert_eq!(round_trip(&nodes, usize::MAX), nodes);
    }

    #[test]
    fn the_payload_is_as_long_as_counted() {
        for nodes in [nodes(20), waived_nodes(20)] {
            let mut part = PartBuilder::new(usize::MAX);
            assert_eq!(part.len(), PartBuilder::new(1).finish().len());
            for n in &nodes {
                assert!(part.try_add(n).unwrap());
            }
            let len = part.len();
            assert_eq!(part.finish().len(), len);
        }
        // A node taken back takes its waiver names with it.
        let nodes = waived_nodes(2);
        let mut part = PartBuilder::new(1);
        assert!(part.try_add(&nodes[1]).unwrap());
        let before = part.len();
        assert!(!part.try_add(&nodes[0]).unwrap());
        assert_eq!(part.len(), before);
        let p: Value = serde_json::from_slice(&part.finish()).unwrap();
        assert!(p.get("waiverNames").is_none(), "{p}");
    }

    #[test]
    fn a_part_closes_before_the_node_that_would_take_it_over_its_limit() {
        let mut nodes = nodes(30);
        // Names of control characters: six bytes of JSON each, one in memory, so the
        // bytes are the limit that binds.
        for n in &mut nodes {
            n.node_name.push_str(&"\u{1}".repeat(500));
        }
        let mut first_ten = PartBuilder::new(usize::MAX);
        for n in &nodes[..10] {
            assert!(first_ten.try_add(n).unwrap());
        }
        let limit = first_ten.len();
        assert!(nodes[..10].iter().map(decoded_bytes).sum::<usize>() < limit);
        let parts = encode_parts(&nodes, limit).unwrap();
        assert!(parts.len() >= 3, "{} parts", parts.len());
        assert!(parts[0] == first_ten.finish(), "exactly the first ten fit");
        assert!(parts.iter().all(|p| p.len() <= limit));
        assert_eq!(round_trip(&nodes, limit), nodes);
    }

    #[test]
    fn a_node_over_the_limit_gets_a_part_of_its_own() {
        let nodes = nodes(3);
        let parts = encode_parts(&nodes, 1).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(round_trip(&nodes, 1), nodes);
        assert!(
            encode_parts(&[], 1).unwrap() == [FRAME.as_bytes()],
            "one empty part"
        );
        assert_eq!(round_trip(&[], 1), Vec::new());
    }

    #[test]
    fn a_part_closes_when_its_nodes_would_take_more_memory_than_its_limit() {
        let nodes = nodes(100);
        let each = decoded_bytes(&nodes[0]);
        assert!(nodes.iter().all(|n| decoded_bytes(n) == each));
        // Ten nodes' memory is far more than their compact bytes.
        let parts = encode_parts(&nodes, 10 * each).unwrap();
        let counts: Vec<usize> = parts
            .iter()
            .map(|p| {
                decode(std::str::from_utf8(p).unwrap(), &mut TextInterner::new())
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(counts, [10; 10]);
    }

    #[test]
    fn each_part_decodes_alone_and_texts_are_shared_across_parts() {
        let nodes = nodes(30);
        let parts = encode_parts(&nodes, 10 * decoded_bytes(&nodes[0])).unwrap();
        assert_eq!(parts.len(), 3);
        let alone = decode(
            std::str::from_utf8(&parts[2]).unwrap(),
            &mut TextInterner::new(),
        )
        .unwrap();
        assert_eq!(alone, nodes[20..]);
        let mut interner = TextInterner::new();
        let first = decode(std::str::from_utf8(&parts[0]).unwrap(), &mut interner).unwrap();
        let last = decode(std::str::from_utf8(&parts[2]).unwrap(), &mut interner).unwrap();
        assert!(Arc::ptr_eq(
            &first[0].results[0].results[3].text,
            &last[9].results[0].results[3].text
        ));
        assert_eq!(interner.len(), 4);
    }

    #[test]
    fn a_damaged_payload_is_an_error_naming_what_is_wrong() {
        let good = payload(&nodes(1));
        let damaged = |path: &str, value: Value| {
            let mut p = good.clone();
            *p.pointer_mut(path).unwrap() = value;
            decode(&p.to_string(), &mut TextInterner::new()).unwrap_err()
        };
        let e = damaged("/nodes/0/shape", 3.into());
        assert!(
            e.contains("node 0 (\"node-00000\") has shape 3, of 1 shapes"),
            "{e}"
        );
        let e = damaged("/shapes/0/0/tests/2/0", 9.into());
        assert!(e.contains("has text 9, of 4 texts"), "{e}");
        let e = damaged("/shapes/0/0/section", 2.into());
        assert!(e.contains("section 0 is section 2, of 1 sections"), "{e}");
        let e = damaged("/nodes/0/results/0/4", "FPW".into());
        assert!(e.contains("has 3 statuses for 4 tests"), "{e}");
        let e = damaged("/nodes/0/results/0/4", "FPWX".into());
        assert!(e.contains("has status 'X'"), "{e}");
        let e = damaged("/nodes/0/results/0/4", "FPW?".into());
        assert!(e.contains("fewer otherStatuses"), "{e}");
        let mut extra = good.clone();
        extra["nodes"][0]["otherStatuses"] = serde_json::json!(["SKIP"]);
        let e = decode(&extra.to_string(), &mut TextInterner::new()).unwrap_err();
        assert!(e.contains("more otherStatuses"), "{e}");
        let e = damaged("/nodes/0/results", serde_json::json!([]));
        assert!(e.contains("has 0 sections, its shape 1"), "{e}");
        let e = decode("{\"texts\":[]}", &mut TextInterner::new()).unwrap_err();
        assert!(e.starts_with("it does not parse"), "{e}");
    }

    #[test]
    fn real_checks_take_well_under_2500_bytes_a_node() {
        // 2,500 bytes a node is the 25 MB the issue allows a 10,000-node report.
        let report = compliance_testkit::reports::synthetic_report(
            1000,
            compliance_testkit::fixtures::t("2026-11-26T00:00:00Z"),
            42,
        );
        let full = serde_json::to_vec(&report.cis_benchmark).unwrap().len();
        let parts =
            encode_parts(&report.cis_benchmark, crate::elastic::request::PART_BYTES).unwrap();
        let compact: usize = parts.iter().map(Vec::len).sum();
        assert!(
            compact <= 1000 * 1000,
            "{compact} bytes for 1,000 nodes ({full} as §5 JSON)"
        );
        assert_eq!(
            round_trip(&report.cis_benchmark, crate::elastic::request::PART_BYTES),
            report.cis_benchmark
        );
    }

    fn rating() -> impl Strategy<Value = Rating> {
        prop_oneof![Just(Rating::High), Just(Rating::Med), Just(Rating::Low)]
    }

    fn status() -> impl Strategy<Value = TestStatus> {
        prop_oneof![
            Just(TestStatus::Pass),
            Just(TestStatus::Fail),
            Just(TestStatus::Warn),
            Just(TestStatus::Info),
            Just(TestStatus::NotObserved),
            // Any string, the four words and `?` included: it must come back as Other.
            any::<String>().prop_map(|s| TestStatus::Other(Arc::from(s))),
            Just(TestStatus::Other(Arc::from("FAIL"))),
        ]
    }

    fn some_string() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-z0-9.]{1,8}", any::<String>()]
    }

    fn pool() -> impl Strategy<Value = Vec<Arc<TestText>>> {
        prop::collection::vec(
            (
                some_string(),
                some_string(),
                some_string(),
                some_string(),
                some_string(),
            )
                .prop_map(
                    |(section, section_desc, test_number, test_desc, test_info)| {
                        Arc::new(TestText {
                            section,
                            section_desc,
                            test_number,
                            test_desc,
                            test_info,
                        })
                    },
                ),
            1..6,
        )
    }

    /// A test: which text of the pool, a copy of it in its own allocation or not, its
    /// status, scored and waiver.
    type WireTest = (usize, bool, TestStatus, bool, Option<String>);
    type AnySection = (Rating, String, String, (u64, u64, u64, u64), Vec<WireTest>);
    type AnyNode = (
        String,
        String,
        String,
        (Rating, u64, u64, u64, u64, (u64, Option<Rating>)),
        String,
        Vec<AnySection>,
        AnyExtras,
    );

    /// No waiver mostly; else one of a few names (repeating across tests and nodes), the
    /// empty name, or any string.
    fn waiver() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            4 => Just(None),
            2 => prop::sample::select(vec!["etcd-perms", "gpu-pool", "kubelet ✓ ünï"])
                .prop_map(|n| Some(n.to_string())),
            1 => Just(Some(String::new())),
            1 => any::<String>().prop_map(Some),
        ]
    }

    fn waived_count() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0), 1u64..10, any::<u64>()]
    }
    /// noResults, lastResultTime (whole seconds, as report times are written) and the
    /// four provenance strings.
    type AnyExtras = (bool, Option<i64>, (String, String, String, String));

    fn any_extras() -> impl Strategy<Value = AnyExtras> {
        let maybe = || prop_oneof![Just(String::new()), any::<String>()];
        (
            any::<bool>(),
            prop::option::of(0i64..8_000_000_000),
            (maybe(), maybe(), maybe(), maybe()),
        )
    }

    fn any_node() -> impl Strategy<Value = AnyNode> {
        let test = (0usize..6, any::<bool>(), status(), any::<bool>(), waiver());
        let section = (
            rating(),
            some_string(),
            some_string(),
            (any::<u64>(), any::<u64>(), any::<u64>(), waived_count()),
            prop::collection::vec(test, 0..5),
        );
        (
            some_string(),
            some_string(),
            some_string(),
            (
                rating(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                (waived_count(), prop::option::of(rating())),
            ),
            prop_oneof![Just(String::new()), any::<String>()],
            prop::collection::vec(section, 0..4),
            any_extras(),
        )
    }

    fn build(pool: &[Arc<TestText>], nodes: Vec<AnyNode>) -> Vec<CisBenchmarkNode> {
        nodes
            .into_iter()
            .map(
                |(
                    node_name,
                    kubernetes_version,
                    benchmarks_version,
                    s,
                    error,
                    sections,
                    extras,
                )| {
                    let (no_results, last, (platform, kube_bench, benchmarker, choice)) = extras;
                    CisBenchmarkNode {
                        node_name,
                        kubernetes_version,
                        benchmarks_version,
                        summary: NodeSummary {
                            status: s.0,
                            total_pass: s.1,
                            total_fail: s.2,
                            total_info: s.3,
                            total: s.4,
                            waived: s.5.0,
                            status_without_waivers: s.5.1,
                        },
                        results: sections
                            .into_iter()
                            .map(
                                |(status, section, desc, (pass, fail, info, waived), tests)| {
                                    SectionResult {
                                        status,
                                        section,
                                        desc,
                                        pass,
                                        fail,
                                        info,
                                        results: tests
                                            .into_iter()
                                            .map(|(i, copy, status, scored, waiver)| {
                                                let text = &pool[i % pool.len()];
                                                TestResult {
                                                    text: if copy {
                                                        Arc::new((**text).clone())
                                                    } else {
                                                        text.clone()
                                                    },
                                                    status,
                                                    scored,
                                                    waiver: waiver.map(Arc::from),
                                                }
                                            })
                                            .collect(),
                                        waived,
                                    }
                                },
                            )
                            .collect(),
                        error,
                        no_results,
                        last_result_time: last.and_then(|s| chrono::DateTime::from_timestamp(s, 0)),
                        platform,
                        kube_bench_version: kube_bench,
                        benchmarker_version: benchmarker,
                        benchmark_choice: choice,
                    }
                },
            )
            .collect()
    }

    proptest! {
        #[test]
        fn nodes_round_trip_through_parts_of_any_limit(
            pool in pool(),
            nodes in prop::collection::vec(any_node(), 0..12),
            limit in prop_oneof![1usize..3000, Just(usize::MAX)],
        ) {
            let nodes = build(&pool, nodes);
            let parts = encode_parts(&nodes, limit).unwrap();
            let mut interner = TextInterner::new();
            let mut back = Vec::new();
            for p in &parts {
                let decoded = decode(std::str::from_utf8(p).unwrap(), &mut interner).unwrap();
                let memory: usize = decoded.iter().map(decoded_bytes).sum();
                prop_assert!(
                    decoded.len() <= 1 || (p.len() <= limit && memory <= limit),
                    "a part of {} nodes, {} bytes, {} decoded, over {}",
                    decoded.len(), p.len(), memory, limit
                );
                back.extend(decoded);
            }
            prop_assert_eq!(back, nodes);
        }
    }
}
