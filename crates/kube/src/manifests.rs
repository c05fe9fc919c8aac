//! GlobalReport, GlobalReportType and GlobalReportWaiver manifests read from YAML files
//! (COMPLIANCE_RESOURCES).
//!
//! Local runs and CI have no Kubernetes API; they point the reporter at the same
//! manifests they would `kubectl apply`, waivers included. A waiver that cannot be read
//! or is invalid is kept aside with its reasons rather than failing the load: a bad
//! waiver must not stop reports (docs/waivers.md), and `compliancectl validate` lists it.

// Errors here are built once per run on the way out; their size is irrelevant, and
// keeping the fields inline keeps the messages' construction simple.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use compliance_core::model::global_report::{API_VERSION, CIS_BENCHMARK_TYPE};
use compliance_core::model::{
    GlobalReport, GlobalReportType, GlobalReportWaiver, ValidationError, WAIVER_KIND,
};

use crate::nodes::ClusterNodes;
use crate::resources::{Origin, ReportSource, ResourceError, checked};
use crate::waivers::ClusterWaivers;

/// The resources found in a file or directory.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    pub location: String,
    pub reports: BTreeMap<String, (GlobalReport, Origin)>,
    pub types: BTreeMap<String, (GlobalReportType, Origin)>,
    /// The GlobalReportWaiver documents in file order: each decoded, or the field that
    /// could not be (a wrong apiVersion, a second document of the same name).
    pub waivers: Vec<FileWaiver>,
    /// Documents of other kinds that were skipped, e.g. Namespaces in a manifest folder.
    pub skipped: Vec<(Origin, String)>,
}

/// One GlobalReportWaiver document.
#[derive(Debug, Clone)]
pub struct FileWaiver {
    pub name: String,
    pub origin: Origin,
    pub decoded: Result<GlobalReportWaiver, ValidationError>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<HeadMeta>,
}

#[derive(Deserialize)]
struct HeadMeta {
    #[serde(default)]
    name: Option<String>,
}

impl Resources {
    /// Reads every `.yaml`, `.yml` and `.json` file of `path` (a file, or a directory read
    /// in name order, not recursively).
    pub fn load(path: &Path) -> Result<Resources, ResourceError> {
        let read_err = |source| ResourceError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let files = if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                })
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut res = Resources {
            location: path.display().to_string(),
            ..Default::default()
        };
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| ResourceError::Read {
                path: file.clone(),
                source,
            })?;
            res.add_text(&file, &text)?;
        }
        Ok(res)
    }

    /// Adds the manifests of one YAML stream (documents separated by `---` lines).
    pub fn add_text(&mut self, path: &Path, text: &str) -> Result<(), ResourceError> {
        for (i, chunk) in split_documents(text).into_iter().enumerate() {
            let origin = Origin {
                path: path.to_path_buf(),
                document: i + 1,
            };
            if chunk.lines().all(|l| {
                let l = l.trim();
                l.is_empty() || l.starts_with('#')
            }) {
                continue;
            }
            let head: Head = serde_saphyr::from_str(chunk).map_err(|e| ResourceError::Yaml {
                origin: origin.clone(),
                message: yaml_message(&e),
            })?;
            let kind = head.kind.unwrap_or_default();
            let name = head.metadata.and_then(|m| m.name).unwrap_or_default();
            let api = head.api_version.unwrap_or_default();
            if kind == WAIVER_KIND {
                self.add_waiver(chunk, origin, name, &api);
                continue;
            }
            if kind != "GlobalReport" && kind != "GlobalReportType" {
                self.skipped.push((origin, kind));
                continue;
            }
            if api != API_VERSION {
                return Err(ResourceError::ApiVersion {
                    origin,
                    kind,
                    found: api,
                });
            }
            if kind == "GlobalReport" {
                let r: GlobalReport = typed(chunk, &origin, &kind, &name)?;
                insert(&mut self.reports, &kind, r.metadata.name.clone(), r, origin)?;
            } else {
                let t: GlobalReportType = typed(chunk, &origin, &kind, &name)?;
                insert(&mut self.types, &kind, t.metadata.name.clone(), t, origin)?;
            }
        }
        Ok(())
    }

    /// Keeps one waiver document, decoded or with the field that failed.
    fn add_waiver(&mut self, chunk: &str, origin: Origin, name: String, api: &str) {
        let decoded = if api != API_VERSION {
            Err(ValidationError {
                field: "apiVersion".into(),
                message: format!("{api:?} is not {API_VERSION}"),
            })
        } else if let Some(first) = self
            .waivers
            .iter()
            .find(|w| w.name == name && !name.is_empty())
        {
            Err(ValidationError {
                field: "metadata.name".into(),
                message: format!("{name:?} is already defined in {}", first.origin),
            })
        } else {
            typed::<GlobalReportWaiver>(chunk, &origin, WAIVER_KIND, &name).map_err(|e| match e {
                ResourceError::Field { field, message, .. } => ValidationError { field, message },
                other => ValidationError {
                    field: "(document)".into(),
                    message: other.to_string(),
                },
            })
        };
        self.waivers.push(FileWaiver {
            name,
            origin,
            decoded,
        });
    }

    /// The named type, falling back to the built-in `cis-benchmark`.
    pub fn report_type(&self, name: &str) -> Option<GlobalReportType> {
        match self.types.get(name) {
            Some((t, _)) => Some(t.clone()),
            None if name == CIS_BENCHMARK_TYPE => Some(GlobalReportType::builtin_cis_benchmark()),
            None => None,
        }
    }

    fn known_types(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.keys().cloned().collect();
        if !self.types.contains_key(CIS_BENCHMARK_TYPE) {
            names.insert(0, CIS_BENCHMARK_TYPE.to_string());
        }
        names
    }

    /// Validates every resource; returns one message per problem, each naming the object.
    pub fn validate_all(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, (t, origin)) in &self.types {
            for e in t.validate() {
                problems.push(format!("{origin}: GlobalReportType {name:?}: {e}"));
            }
        }
        let exists = |n: &str| self.report_type(n).is_some();
        for (name, (r, origin)) in &self.reports {
            for e in r.validate(&exists) {
                problems.push(format!("{origin}: GlobalReport {name:?}: {e}"));
            }
        }
        if let ClusterWaivers::Listed { invalid, .. } = self.cluster_waivers() {
            for w in invalid {
                for e in w.errors {
                    problems.push(format!("{}: {WAIVER_KIND} {:?}: {e}", w.origin, w.name));
                }
            }
        }
        problems
    }
}

impl ReportSource for Resources {
    fn load_report(&self, name: &str) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
        let (report, _) = self
            .reports
            .get(name)
            .ok_or_else(|| ResourceError::UnknownReport {
                name: name.to_string(),
                where_: self.location.clone(),
                known: self.reports.keys().cloned().collect(),
            })?;
        let report_type = self.report_type(&report.spec.report_type).ok_or_else(|| {
            ResourceError::UnknownReportType {
                report: name.to_string(),
                report_type: report.spec.report_type.clone(),
                known: self.known_types(),
            }
        })?;
        checked(report.clone(), report_type)
    }

    /// YAML files describe reports, not a cluster: no nodes to expect from them.
    fn cluster_nodes(&self) -> Result<ClusterNodes, ResourceError> {
        Ok(ClusterNodes::Unknown)
    }

    /// The waivers of the files, each checked (an invalid one is listed, not an error).
    fn waivers(&self) -> Result<ClusterWaivers, ResourceError> {
        Ok(self.cluster_waivers())
    }
}

impl Resources {
    /// The waiver documents, checked.
    pub fn cluster_waivers(&self) -> ClusterWaivers {
        ClusterWaivers::check(
            self.waivers
                .iter()
                .map(|w| (w.name.clone(), w.origin.to_string(), w.decoded.clone())),
        )
    }
}

fn insert<T>(
    map: &mut BTreeMap<String, (T, Origin)>,
    kind: &str,
    name: String,
    value: T,
    origin: Origin,
) -> Result<(), ResourceError> {
    if let Some((_, first)) = map.get(&name) {
        return Err(ResourceError::Duplicate {
            kind: kind.to_string(),
            name,
            first: first.clone(),
            second: origin,
        });
    }
    map.insert(name, (value, origin));
    Ok(())
}

/// Deserialises one document, reporting the dotted path of the field that failed.
fn typed<T: DeserializeOwned>(
    chunk: &str,
    origin: &Origin,
    kind: &str,
    name: &str,
) -> Result<T, ResourceError> {
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str(chunk, |de| {
        let mut track = serde_path_to_error::Track::new();
        let value = T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if value.is_err() {
            path = track.path().to_string();
        }
        value
    });
    result.map_err(|e| ResourceError::Field {
        origin: origin.clone(),
        kind: kind.to_string(),
        name: name.to_string(),
        field: if path.is_empty() || path == "." {
            "(document)".to_string()
        } else {
            path.clone()
        },
        message: yaml_message(&e),
    })
}

/// Splits a YAML stream at `---` document markers.
///
/// Done by hand so each document can be deserialised on its own with field-path
/// tracking; manifests never put `---` inside block scalars at column 0.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs
}

/// The reader's words for a YAML error; a breached limit in words a user acts on.
///
/// serde-saphyr guards every document with limits against runaway input (250,000 values,
/// aliases, nesting) and reports a breach as `budget breached: Nodes { nodes: 250001 }`,
/// which names neither the limit nor the place.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach;
    let mut inner = e;
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = inner
    {
        inner = error;
    }
    let serde_saphyr::Error::Budget { breach, location } = inner else {
        return e.to_string();
    };
    let limits = serde_saphyr::Budget::default();
    let what = match breach {
        BudgetBreach::Nodes { .. } => format!(
            "the document is too large: it has more than {} values (scalars, lists and \
             maps), the YAML reader's limit",
            thousands(limits.max_nodes)
        ),
        BudgetBreach::Depth { .. } => format!(
            "the document nests lists and maps more than {} levels deep, the YAML reader's limit",
            limits.max_depth
        ),
        BudgetBreach::ScalarBytes { .. } => format!(
            "the document's text values add up to more than {} bytes, the YAML reader's limit",
            thousands(limits.max_total_scalar_bytes)
        ),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::MergeKeys { .. } => {
            "the document uses more aliases (*name) or merge keys than the YAML reader allows"
                .to_string()
        }
        other => format!("the document breaks a limit of the YAML reader ({other:?})"),
    };
    if location.line() > 0 {
        format!(
            "{what}; reached at line {} column {}",
            location.line(),
            location.column()
        )
    } else {
        what
    }
}

/// `250000` as `250,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
apiVersion: projectcalico.org/v3
kind: GlobalReport
metadata:
  name: daily-cis-results
  labels:
    deployment: production
spec:
  reportType: cis-benchmark
  schedule: 0 0 * * *
  cis:
    highThreshold: 100
    medThreshold: 50
    includeUnscoredTests: true
    numFailedTests: 5
    resultsFilters:
    - benchmarkSelection: { kubernetesVersion: "1.13" }
      exclude: ["1.1.4", "1.2.5"]
"#;

    fn load(text: &str) -> Result<Resources, ResourceError> {
        let mut r = Resources::default();
        r.add_text(Path::new("reports.yaml"), text)?;
        Ok(r)
    }

    /// The message with which loading the seed report from `text` is refused.
    fn refusal(text: &str) -> String {
        load(text)
            .unwrap()
            .load_report("daily-cis-results")
            .unwrap_err()
            .to_string()
    }

    /// Found by the hostile-input runs: a GlobalReport with 100,001 resultsFilters entries
    /// was refused with the YAML reader's `budget breached: Nodes { nodes: 250001 }`.
    #[test]
    fn a_document_past_the_yaml_readers_limits_is_refused_in_words_with_its_line() {
        let mut text = SEED.to_string();
        for i in 0..130_000 {
            text.push_str(&format!("    - exclude: [\"9.{i}\"]\n"));
        }
        let e = load(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("reports.yaml (document 1): not valid YAML: "),
            "{e}"
        );
        assert!(e.contains("more than 250,000 values"), "{e}");
        assert!(e.contains("; reached at line "), "{e}");
        assert!(!e.contains("budget breached"), "{e}");

        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = load(&format!("kind: GlobalReport\nspec: {deep}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 64 levels deep"), "{e}");

        let mut bombs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, prev) in ('b'..='k').zip('a'..='j') {
            let row = vec![format!("*{prev}"); 10].join(", ");
            bombs.push_str(&format!("{i}: &{i} [{row}]\n"));
        }
        let e = load(&bombs).unwrap_err().to_string();
        assert!(e.contains("not valid YAML: the document"), "{e}");

        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(67_108_864), "67,108,864");
    }

    #[test]
    fn seed_report_loads_with_builtin_type() {
        let res = load(SEED).unwrap();
        let (r, t) = res.load_report("daily-cis-results").unwrap();
        assert_eq!(r.metadata.labels["deployment"], "production");
        let cis = r.spec.cis.unwrap();
        assert_eq!(cis.results_filters[0].exclude, ["1.1.4", "1.2.5"]);
        assert_eq!(t.metadata.name, "cis-benchmark");
        assert!(res.validate_all().is_empty());
    }

    #[test]
    fn singular_results_filter_is_an_alias() {
        let text = SEED.replace("resultsFilters:", "resultsFilter:");
        let (r, _) = load(&text)
            .unwrap()
            .load_report("daily-cis-results")
            .unwrap();
        assert_eq!(r.spec.cis.unwrap().results_filters.len(), 1);
    }

    #[test]
    fn unquoted_version_stays_text() {
        let text = SEED.replace("\"1.13\"", "1.20");
        let (r, _) = load(&text)
            .unwrap()
            .load_report("daily-cis-results")
            .unwrap();
        let sel = r.spec.cis.unwrap().results_filters[0]
            .benchmark_selection
            .clone();
        assert_eq!(sel.unwrap().kubernetes_version.as_deref(), Some("1.20"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let text = SEED.replace("highThreshold: 100", "highThreshold: lots");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("spec.cis.highThreshold"), "{err}");
    }

    #[test]
    fn filter_entry_that_is_not_an_object_names_the_entry() {
        let text = SEED.replace(
            "    - benchmarkSelection: { kubernetesVersion: \"1.13\" }\n      exclude: [\"1.1.4\", \"1.2.5\"]",
            "    - \"1.1.4\"",
        );
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("spec.cis.resultsFilters[0]"), "{err}");
    }

    #[test]
    fn invalid_thresholds_are_refused_with_the_field() {
        let text = SEED.replace("medThreshold: 50", "medThreshold: 100");
        let err = refusal(&text);
        assert!(err.contains("spec.cis.medThreshold"), "{err}");
        let text = SEED.replace("numFailedTests: 5", "numFailedTests: 0");
        let err = refusal(&text);
        assert!(err.contains("spec.cis.numFailedTests: 0"), "{err}");
        let text = SEED.replace("highThreshold: 100", "highThreshold: 101");
        let err = refusal(&text);
        assert!(
            err.contains("spec.cis.highThreshold: 101 is outside 0..100"),
            "{err}"
        );
    }

    #[test]
    fn bad_schedule_is_refused() {
        let text = SEED.replace("0 0 * * *", "\"every five minutes\"");
        let err = refusal(&text);
        assert!(err.contains("spec.schedule"), "{err}");
    }

    /// docs/spec.md §2: the twice-an-hour limit bounds scheduling, so `validate` refuses
    /// it, while a run loads the report and decides by its window.
    #[test]
    fn a_too_frequent_schedule_is_invalid_but_loads_for_a_run() {
        let res = load(&SEED.replace("0 0 * * *", "\"*/5 * * * *\"")).unwrap();
        let problems = res.validate_all();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("spec.schedule"), "{problems:?}");
        assert!(res.load_report("daily-cis-results").is_ok());
    }

    #[test]
    fn unknown_report_and_type_are_named() {
        let res = load(SEED).unwrap();
        let err = res.load_report("weekly").unwrap_err().to_string();
        assert!(
            err.contains("\"weekly\"") && err.contains("daily-cis-results"),
            "{err}"
        );
        let text = SEED.replace("reportType: cis-benchmark", "reportType: inventory");
        let err = refusal(&text);
        assert!(err.contains("unknown report type \"inventory\""), "{err}");
    }

    #[test]
    fn several_documents_and_other_kinds() {
        let text = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: x}}\n---\n{SEED}\n---\n# only a comment\n"
        );
        let res = load(&text).unwrap();
        assert_eq!(res.reports.len(), 1);
        assert_eq!(res.skipped.len(), 1);
        let err = load(&format!("{SEED}\n---\n{SEED}")).unwrap_err();
        assert!(matches!(err, ResourceError::Duplicate { .. }), "{err}");
    }

    #[test]
    fn custom_type_must_ask_for_known_downloads() {
        let text = format!(
            "{SEED}---\napiVersion: projectcalico.org/v3\nkind: GlobalReportType\nmetadata: {{name: cis-benchmark}}\nspec:\n  includeCISBenchmarkData: true\n  downloadTemplates:\n  - name: pods.csv\n    template: x\n"
        );
        let res = load(&text).unwrap();
        let err = res
            .load_report("daily-cis-results")
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.downloadTemplates[0].name"), "{err}");
    }

    const WAIVER: &str = "apiVersion: projectcalico.org/v3\nkind: GlobalReportWaiver\nmetadata: {name: etcd}\nspec:\n  tests: ['1.1.12']\n  reason: etcd runs as root here\n  owner: security\n  expires: '2027-03-31'\n";

    fn listed(res: &Resources) -> (Vec<String>, Vec<crate::InvalidWaiver>) {
        match res.waivers().unwrap() {
            ClusterWaivers::Listed { waivers, invalid } => {
                (waivers.into_iter().map(|w| w.name).collect(), invalid)
            }
            other => panic!("files are listed: {other:?}"),
        }
    }

    #[test]
    fn waivers_come_from_the_same_files_as_reports() {
        let res = load(&format!("{SEED}---\n{WAIVER}")).unwrap();
        let (valid, invalid) = listed(&res);
        assert_eq!(valid, ["etcd"]);
        assert!(invalid.is_empty());
        assert!(res.validate_all().is_empty());
        assert!(res.skipped.is_empty());
    }

    #[test]
    fn a_bad_waiver_is_kept_aside_naming_the_field_and_never_fails_the_load() {
        let text = format!(
            "{SEED}---\n{}---\n{}---\n{}---\n{WAIVER}---\n{WAIVER}",
            WAIVER
                .replace("'2027-03-31'", "next week")
                .replace("etcd", "late"),
            WAIVER.replace("['1.1.12']", "12").replace("etcd", "typed"),
            WAIVER
                .replace("projectcalico.org/v3", "v1")
                .replace("etcd", "old"),
        );
        let res = load(&text).unwrap();
        assert!(res.load_report("daily-cis-results").is_ok());
        let (valid, invalid) = listed(&res);
        assert_eq!(valid, ["etcd"]);
        let fields: Vec<(&str, &str)> = invalid
            .iter()
            .map(|w| (w.name.as_str(), w.errors[0].field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("late", "spec.expires"),
                ("typed", "spec.tests"),
                ("old", "apiVersion"),
                ("etcd", "metadata.name"),
            ]
        );
        assert!(invalid[0].errors[0].message.contains("\"next week\""));
        assert!(
            invalid[3].errors[0]
                .message
                .contains("reports.yaml (document 5)")
        );
        let problems = res.validate_all();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "reports.yaml (document 2): GlobalReportWaiver \"late\": spec.expires: \"next week\""
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn wrong_api_version_is_refused() {
        let text = SEED.replace("projectcalico.org/v3", "projectcalico.org/v1");
        assert!(matches!(load(&text), Err(ResourceError::ApiVersion { .. })));
    }
}
