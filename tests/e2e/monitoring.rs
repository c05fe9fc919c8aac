//! The monitoring that ships in `manifests/monitoring/`: the Prometheus rules, their
//! PrometheusRule twin, the Grafana dashboard and its ConfigMap, and the scrape monitors.
//!
//! The rules run through Debian's `promtool` (`check rules`, and `test rules` on their unit
//! tests); the dashboard's queries run through it too, as recording rules. Every query of
//! either must name only metrics of `docs/metrics.md` or recording rules of the rules file,
//! so a renamed metric is a failing test rather than an empty graph or a silent alert.
//! Without promtool those checks print SKIPPED and pass; the rest runs anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use compliance_testkit::metrics::{all_documented, promtool};
use serde_json::Value;

/// The repository (this test's crate is the root one).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dir() -> PathBuf {
    root().join("manifests/monitoring")
}

const RULES: &str = "compliance.rules.yaml";
const RULES_TEST: &str = "compliance.rules.test.yaml";
const PROMETHEUS_RULE: &str = "prometheusrule.yaml";
const DASHBOARD: &str = "grafana-dashboard.json";
const DASHBOARD_CONFIGMAP: &str = "grafana-dashboard-configmap.yaml";
const RUNBOOK_PREFIX: &str = "docs/monitoring.md#";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(name: &str) -> Value {
    serde_saphyr::from_str(&read(&dir().join(name)))
        .unwrap_or_else(|e| panic!("manifests/monitoring/{name}: not valid YAML: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read(&dir().join(DASHBOARD)))
        .unwrap_or_else(|e| panic!("{DASHBOARD}: not valid JSON: {e}"))
}

/// The rules of every group of the plain rules file.
fn rules() -> Vec<Value> {
    yaml(RULES)["groups"]
        .as_array()
        .expect("groups:")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules:").clone())
        .collect()
}

fn alerts() -> Vec<Value> {
    rules()
        .into_iter()
        .filter(|r| r.get("alert").is_some())
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// The names of the recording rules of the rules file.
fn records() -> BTreeSet<String> {
    rules()
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_string))
        .collect()
}

/// What a query may select: every documented metric (a histogram by its `_bucket`, `_sum`
/// and `_count` series too) and every recording rule of the rules file.
fn selectable() -> BTreeSet<String> {
    let mut names = records();
    for m in all_documented() {
        if m.kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{}{suffix}", m.name));
            }
        }
        names.insert(m.name);
    }
    names
}

/// PromQL's functions and aggregations (Prometheus 2.42): an identifier followed by `(`
/// must be one of these.
const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg",
    "avg_over_time",
    "bottomk",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count",
    "count_over_time",
    "count_values",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "group",
    "histogram_quantile",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev",
    "stddev_over_time",
    "stdvar",
    "stdvar_over_time",
    "sum",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "topk",
    "vector",
    "year",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Keywords and literals that are neither metrics nor functions.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

/// The metric names a PromQL expression selects: every identifier that is not a function,
/// a keyword, a label name (inside `{}` or a `by (...)`-like list), a duration (inside `[]`
/// or after `offset`), a number or inside a string. Errors on an unknown function and on
/// unbalanced brackets.
fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // The index after the string starting at `j` (its quote).
    let skip_string = |j: usize| -> Result<usize, String> {
        let quote = chars[j];
        let mut k = j + 1;
        while k < chars.len() {
            match chars[k] {
                '\\' if quote != '`' => k += 2,
                c if c == quote => return Ok(k + 1),
                _ => k += 1,
            }
        }
        Err(format!("unterminated string in {expr:?}"))
    };
    // The index after the bracket closing the one at `j`, strings skipped.
    let skip_group = |j: usize, close: char| -> Result<usize, String> {
        let open = chars[j];
        let mut depth = 0;
        let mut k = j;
        while k < chars.len() {
            match chars[k] {
                '"' | '\'' | '`' => {
                    k = skip_string(k)?;
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(k + 1);
                    }
                }
                _ => {}
            }
            k += 1;
        }
        Err(format!("unbalanced {open:?} in {expr:?}"))
    };
    let is_ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(i)?;
        } else if c == '{' {
            i = skip_group(i, '}')?;
        } else if c == '[' {
            i = skip_group(i, ']')?;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A number (1e3, 0x1f, 0.5) or a duration (3h after offset).
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let next = skip_ws(i);
            // An aggregation may put its `by (...)` / `without (...)` before its argument.
            let next_word: String = chars[next..]
                .iter()
                .take_while(|c| is_ident(**c))
                .collect::<String>()
                .to_ascii_lowercase();
            let followed_by_paren =
                chars.get(next) == Some(&'(') || next_word == "by" || next_word == "without";
            if LABEL_LISTS.contains(&lower.as_str()) {
                if followed_by_paren {
                    i = skip_group(next, ')')?;
                }
            } else if KEYWORDS.contains(&lower.as_str()) {
            } else if followed_by_paren {
                if !FUNCTIONS.contains(&word.as_str()) {
                    return Err(format!("unknown function {word:?} in {expr:?}"));
                }
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    Ok(names)
}

/// The names of `expr` that are neither documented metrics nor recording rules.
fn undocumented(expr: &str, allowed: &BTreeSet<String>) -> Result<Vec<String>, String> {
    Ok(metric_names(expr)?
        .into_iter()
        .filter(|n| !allowed.contains(n))
        .collect())
}

/// Every `expr` of every panel's targets (rows' nested panels included), with its panel's
/// title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((title.clone(), expr.to_string()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The dashboard's query variables: name and query.
fn dashboard_variables(dashboard: &Value) -> BTreeMap<String, String> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let query = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .unwrap_or_else(|| panic!("variable {} has no query", v["name"]));
            (str_of(v, "name").to_string(), query.to_string())
        })
        .collect()
}

/// The series selector of a Grafana `label_values(selector, label)` query.
fn label_values_selector(query: &str) -> &str {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a label_values(selector, label) query: {query:?}"));
    let comma = inner
        .rfind(',')
        .unwrap_or_else(|| panic!("label_values without a label: {query:?}"));
    &inner[..comma]
}

/// A dashboard query as Prometheus would receive it: Grafana's variables replaced by
/// values of their kind.
fn substitute_grafana_variables(expr: &str) -> String {
    let mut out = expr.to_string();
    for (var, value) in [
        ("${__rate_interval}", "4m"),
        ("$__rate_interval", "4m"),
        ("${__range}", "7d"),
        ("$__range", "7d"),
        ("${__interval}", "1m"),
        ("$__interval", "1m"),
        ("${cluster}", "cluster"),
        ("$cluster", "cluster"),
        ("${report}", "daily-cis-results"),
        ("$report", "daily-cis-results"),
    ] {
        out = out.replace(var, value);
    }
    out
}

/// Runs promtool with `args` in `cwd`; panics with its output unless it succeeds.
fn run_promtool(promtool: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool)
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    text
}

/// Writes `groups` to a rules file in a new temporary directory and runs
/// `promtool check rules` on it.
fn check_groups(promtool: &Path, groups: &Value) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rules.yaml");
    // JSON is YAML: promtool reads it as written.
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&serde_json::json!({ "groups": groups })).unwrap(),
    )
    .unwrap();
    run_promtool(promtool, tmp.path(), &["check", "rules", "rules.yaml"])
}

/// GitHub's anchors of the headings of a Markdown text: lower case, spaces to `-`, and
/// every character but letters, digits, `-` and `_` dropped.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

// --- The rules ------------------------------------------------------------------------------

#[test]
fn plain_rules_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    let out = run_promtool(&promtool, &dir(), &["check", "rules", RULES]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn prometheusrule_groups_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    let rule = yaml(PROMETHEUS_RULE);
    check_groups(&promtool, &rule["spec"]["groups"]);
}

#[test]
fn rules_unit_tests_pass_promtool_test() {
    let Some(promtool) = promtool() else { return };
    let out = run_promtool(&promtool, &dir(), &["test", "rules", RULES_TEST]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn prometheusrule_carries_the_plain_files_groups() {
    let rule = yaml(PROMETHEUS_RULE);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["metadata"]["namespace"], "tigera-compliance");
    assert!(
        rule["spec"]["groups"].is_array(),
        "{PROMETHEUS_RULE}: no spec.groups"
    );
    assert_eq!(
        rule["spec"]["groups"],
        yaml(RULES)["groups"],
        "{PROMETHEUS_RULE} and {RULES} differ: change both together"
    );
}

#[test]
fn every_alert_and_recording_rule_has_a_unit_test() {
    let tests = yaml(RULES_TEST);
    let mut tested_alerts = BTreeSet::new();
    let mut tested_exprs = Vec::new();
    for t in tests["tests"].as_array().expect("tests:") {
        for a in t["alert_rule_test"].as_array().into_iter().flatten() {
            // A test that expects an alert, not only its absence.
            if a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty()) {
                tested_alerts.insert(str_of(a, "alertname").to_string());
            }
        }
        for e in t["promql_expr_test"].as_array().into_iter().flatten() {
            tested_exprs.push(str_of(e, "expr").to_string());
        }
    }
    let mut untested = Vec::new();
    for r in rules() {
        if let Some(alert) = r["alert"].as_str() {
            if !tested_alerts.contains(alert) {
                untested.push(format!("alert {alert}: no test expects it to fire"));
            }
        } else {
            let record = str_of(&r, "record");
            let named = tested_exprs.iter().any(|e| {
                metric_names(e)
                    .unwrap_or_else(|err| panic!("{RULES_TEST}: {err}"))
                    .contains(record)
            });
            if !named {
                untested.push(format!("record {record}: no promql_expr_test reads it"));
            }
        }
    }
    assert!(untested.is_empty(), "\n{}", untested.join("\n"));
}

#[test]
fn rule_expressions_name_only_documented_metrics_and_records() {
    let allowed = selectable();
    let mut problems = Vec::new();
    for r in rules() {
        let name = r["alert"].as_str().or(r["record"].as_str()).unwrap_or("?");
        match undocumented(str_of(&r, "expr"), &allowed) {
            Ok(bad) if bad.is_empty() => {}
            Ok(bad) => problems.push(format!("{name}: not in docs/metrics.md: {bad:?}")),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_alert_has_severity_summary_description_and_a_runbook_anchor() {
    let docs = anchors(&read(&root().join("docs/monitoring.md")));
    let alerts = alerts();
    assert!(!alerts.is_empty(), "{RULES}: no alerts");
    let mut problems = Vec::new();
    for a in &alerts {
        let name = str_of(a, "alert");
        match a["labels"]["severity"].as_str() {
            Some("critical" | "warning" | "info") => {}
            other => problems.push(format!("{name}: severity {other:?}")),
        }
        for key in ["summary", "description"] {
            if a["annotations"][key]
                .as_str()
                .is_none_or(|s| s.trim().is_empty())
            {
                problems.push(format!("{name}: no {key} annotation"));
            }
        }
        match a["annotations"]["runbook_url"]
            .as_str()
            .and_then(|u| u.strip_prefix(RUNBOOK_PREFIX))
        {
            Some(anchor) if docs.contains(anchor) => {}
            Some(anchor) => problems.push(format!(
                "{name}: runbook anchor #{anchor} is not a heading of docs/monitoring.md"
            )),
            None => problems.push(format!("{name}: runbook_url is not {RUNBOOK_PREFIX}...")),
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// --- The checker the two tests above rely on ------------------------------------------------

#[test]
fn metric_names_skip_functions_labels_strings_and_durations() {
    let names = metric_names(
        r#"histogram_quantile(0.9, sum by (le) (rate(a_bucket{job="x", le!="+Inf"}[5m] offset 1h)))
           / on (cluster) group_left (report) max without (node) (b:rec > bool 0) or absent(c == 1)
           + topk(5, label_replace(d, "dst", "$1 e", "src", "(.*)")) * 1e3 and f @ 100"#,
    )
    .unwrap();
    let expected: BTreeSet<String> = ["a_bucket", "b:rec", "c", "d", "f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn metric_names_reports_an_unknown_function_and_undocumented_names() {
    assert!(metric_names("sum(x) / nosuchfn(y)").is_err());
    assert!(metric_names("sum(x{a=\"b\"").is_err());
    let allowed = selectable();
    assert_eq!(
        undocumented(
            "compliance_report_nodes + compliance_report_nodez + compliance_benchmarker_run_duration_seconds_bucket",
            &allowed
        )
        .unwrap(),
        vec!["compliance_report_nodez".to_string()]
    );
}

#[test]
fn anchors_follow_githubs_rule() {
    let a = anchors("# Monitoring\n## Install: plain Prometheus\n### ComplianceReportOverdue\n");
    for expected in [
        "monitoring",
        "install-plain-prometheus",
        "compliancereportoverdue",
    ] {
        assert!(a.contains(expected), "{expected} not in {a:?}");
    }
}

// --- The dashboard --------------------------------------------------------------------------

#[test]
fn configmap_carries_the_dashboard_json() {
    let cm = yaml(DASHBOARD_CONFIGMAP);
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"], "1",
        "the Grafana sidecar loads ConfigMaps labelled grafana_dashboard: \"1\""
    );
    let data = cm["data"].as_object().expect("data:");
    assert_eq!(data.len(), 1, "{DASHBOARD_CONFIGMAP}: one dashboard");
    let (key, text) = data.iter().next().unwrap();
    assert!(
        key.ends_with(".json"),
        "{key}: the sidecar wants a .json key"
    );
    let embedded: Value = serde_json::from_str(text.as_str().expect("a string"))
        .unwrap_or_else(|e| panic!("{DASHBOARD_CONFIGMAP}: data.{key} is not JSON: {e}"));
    assert_eq!(
        embedded,
        dashboard(),
        "{DASHBOARD_CONFIGMAP} differs from {DASHBOARD}: regenerate it (docs/monitoring.md)"
    );
}

#[test]
fn dashboard_reads_the_datasource_variable_and_offers_cluster_and_report() {
    let d = dashboard();
    let list = d["templating"]["list"].as_array().expect("templating.list");
    let ds = list
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let vars = dashboard_variables(&d);
    for name in ["cluster", "report"] {
        let q = vars
            .get(name)
            .unwrap_or_else(|| panic!("no query variable {name}"));
        assert!(q.starts_with("label_values("), "{name}: {q}");
        assert!(q.trim_end().ends_with(&format!(", {name})")), "{name}: {q}");
    }
    fn walk(panels: &Value, problems: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("");
            let ds = |v: &Value| v["uid"] == "${datasource}" && v["type"] == "prometheus";
            if p["type"] != "row" && !ds(&p["datasource"]) {
                problems.push(format!(
                    "panel {title:?}: datasource is not ${{datasource}}"
                ));
            }
            for t in p["targets"].as_array().into_iter().flatten() {
                if !ds(&t["datasource"]) {
                    problems.push(format!(
                        "panel {title:?}: a target's datasource is not ${{datasource}}"
                    ));
                }
            }
            walk(&p["panels"], problems);
        }
    }
    let mut problems = Vec::new();
    walk(&d["panels"], &mut problems);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(!dashboard_queries(&d).is_empty(), "{DASHBOARD}: no queries");
}

#[test]
fn dashboard_queries_name_only_documented_metrics_and_records() {
    let d = dashboard();
    let allowed = selectable();
    let mut problems = Vec::new();
    let mut queries = dashboard_queries(&d);
    for (name, query) in dashboard_variables(&d) {
        queries.push((
            format!("variable {name}"),
            label_values_selector(&query).to_string(),
        ));
    }
    for (title, expr) in &queries {
        match undocumented(&substitute_grafana_variables(expr), &allowed) {
            Ok(bad) if bad.is_empty() => {}
            Ok(bad) => problems.push(format!("{title}: not in docs/metrics.md: {bad:?}")),
            Err(e) => problems.push(format!("{title}: {e}")),
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn dashboard_queries_parse_as_promql() {
    let Some(promtool) = promtool() else { return };
    let d = dashboard();
    let mut rules: Vec<Value> = Vec::new();
    let mut exprs: Vec<(String, String)> = dashboard_queries(&d);
    for (name, query) in dashboard_variables(&d) {
        exprs.push((
            format!("variable {name}"),
            label_values_selector(&query).to_string(),
        ));
    }
    for (i, (title, expr)) in exprs.iter().enumerate() {
        let promql = substitute_grafana_variables(expr);
        assert!(
            !promql.contains('$'),
            "{title}: a Grafana variable is left in {promql:?}"
        );
        rules.push(serde_json::json!({ "record": format!("dashboard_query_{i}"), "expr": promql }));
    }
    let out = check_groups(
        &promtool,
        &serde_json::json!([{ "name": "dashboard", "rules": rules }]),
    );
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}

// --- The scrape monitors --------------------------------------------------------------------

/// Every document of the top-level `manifests/*.yaml` (the install), as JSON.
fn install_docs() -> Vec<Value> {
    let manifests = root().join("manifests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            serde_saphyr::from_multiple::<Value>(&read(p))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

/// Whether `labels` satisfy a Kubernetes label selector (matchLabels, and matchExpressions
/// with In / NotIn / Exists / DoesNotExist).
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    let match_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let match_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = str_of(e, "key");
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match str_of(e, "operator") {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                op => panic!("unknown operator {op}"),
            }
        });
    match_labels && match_expressions
}

#[test]
fn podmonitor_selects_the_controller_and_benchmarkers_on_their_named_port() {
    let pm = yaml("podmonitor.yaml");
    assert_eq!(pm["kind"], "PodMonitor");
    let namespaces = &pm["spec"]["namespaceSelector"]["matchNames"];
    let endpoints = pm["spec"]["podMetricsEndpoints"]
        .as_array()
        .expect("podMetricsEndpoints");
    assert_eq!(endpoints.len(), 1);
    let port = str_of(&endpoints[0], "port");
    assert_eq!(str_of(&endpoints[0], "path"), "/metrics");
    let mut selected = BTreeSet::new();
    for doc in install_docs() {
        if !matches!(doc["kind"].as_str(), Some("Deployment" | "DaemonSet")) {
            continue;
        }
        let namespace = &doc["metadata"]["namespace"];
        let pod = &doc["spec"]["template"];
        if !namespaces.as_array().unwrap().contains(namespace)
            || !selects(&pm["spec"]["selector"], &pod["metadata"]["labels"])
        {
            continue;
        }
        let name = str_of(&doc["metadata"], "name").to_string();
        let has_port = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .any(|p| p["name"] == port);
        assert!(has_port, "{name}: no container port named {port:?}");
        selected.insert(name);
    }
    let expected: BTreeSet<String> = [
        "compliance-benchmarker",
        "compliance-benchmarker-cluster",
        "compliance-controller",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(selected, expected);
}

#[test]
fn servicemonitor_selects_the_servers_https_port() {
    let sm = yaml("servicemonitor.yaml");
    assert_eq!(sm["kind"], "ServiceMonitor");
    let namespaces = sm["spec"]["namespaceSelector"]["matchNames"]
        .as_array()
        .unwrap();
    let endpoints = sm["spec"]["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    let e = &endpoints[0];
    assert_eq!(str_of(e, "scheme"), "https");
    assert_eq!(str_of(e, "path"), "/metrics");
    let port = str_of(e, "port");
    let services: Vec<Value> = install_docs()
        .into_iter()
        .filter(|d| d["kind"] == "Service")
        .filter(|d| namespaces.contains(&d["metadata"]["namespace"]))
        .filter(|d| selects(&sm["spec"]["selector"], &d["metadata"]["labels"]))
        .collect();
    assert_eq!(services.len(), 1, "one Service selected");
    assert_eq!(services[0]["metadata"]["name"], "compliance-server");
    assert!(
        services[0]["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == port),
        "compliance-server has no port named {port:?}"
    );
}

#[test]
fn kustomization_applies_every_object_and_no_rules_file() {
    let kustomization = yaml("kustomization.yaml");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources:")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect();
    let mut objects = BTreeSet::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if !name.ends_with(".yaml") || name == "kustomization.yaml" {
            continue;
        }
        // Kubernetes objects have a kind; the rules file and its tests have none.
        if yaml(&name).get("kind").is_some() {
            objects.insert(name);
        }
    }
    assert_eq!(listed, objects);
    assert!(!listed.contains(RULES) && !listed.contains(RULES_TEST));
}

#[test]
fn dashboard_panels_have_unique_ids_and_fit_the_grid() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"].as_u64().map(|v| v >= 36), Some(true));
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().unwrap_or("");
        assert!(
            ids.insert(p["id"].as_u64().expect("an id")),
            "{title}: id used twice"
        );
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
        assert!(x + w <= 24 && w > 0, "{title}: outside the 24-column grid");
        assert!(
            !p["description"].as_str().unwrap_or("").is_empty() || p["type"] == "row",
            "{title}: no description"
        );
    }
}

#[test]
fn metrics_reader_binding_names_the_installed_role_that_grants_get_metrics() {
    let binding = yaml("metrics-reader-binding.yaml");
    let role_name = str_of(&binding["roleRef"], "name");
    let role = install_docs()
        .into_iter()
        .find(|d| str_of(d, "kind") == "ClusterRole" && str_of(&d["metadata"], "name") == role_name)
        .unwrap_or_else(|| panic!("no ClusterRole {role_name:?} in manifests/*.yaml"));
    let grants_metrics = role["rules"].as_array().into_iter().flatten().any(|r| {
        r["nonResourceURLs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u == "/metrics")
            && r["verbs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v == "get")
    });
    assert!(
        grants_metrics,
        "{role_name} does not grant get /metrics: {role}"
    );
}
