//! The fake Elasticsearch of `compliance_testkit::fake_es`, checked endpoint by endpoint with
//! the official client's transport, so tests built on it can trust its answers.

use compliance_testkit::fake_es;

use std::time::{Duration, Instant};

use elasticsearch::auth::Credentials;
use elasticsearch::http::Method;
use elasticsearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use elasticsearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use fake_es::{FakeEs, RequestMatcher, es_error};
use serde_json::{Value, json};

const BENCH: &str = "tigera_secure_ee_benchmark_results.cluster";
const BENCH_ROLLED: &str = "tigera_secure_ee_benchmark_results.cluster.000001";
const BENCH_READ: &str =
    "tigera_secure_ee_benchmark_results.cluster,tigera_secure_ee_benchmark_results.cluster.*";
const REPORTS: &str = "tigera_secure_ee_compliance_reports.cluster";
const REPORTS_READ: &str =
    "tigera_secure_ee_compliance_reports.cluster,tigera_secure_ee_compliance_reports.cluster.*";
const PARTS: &str = "tigera_secure_ee_compliance_report_parts.cluster";

/// The official transport on a runtime of its own, answering synchronously.
struct Client {
    runtime: tokio::runtime::Runtime,
    transport: Transport,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The first root cause's type, as a client would classify the error.
    fn root_cause(&self) -> String {
        self.json()["error"]["root_cause"][0]["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Client {
    fn new(fake: &FakeEs) -> Client {
        Client::build(fake, None)
    }

    fn with(fake: &FakeEs, credentials: Credentials) -> Client {
        Client::build(fake, Some(credentials))
    }

    fn build(fake: &FakeEs, credentials: Option<Credentials>) -> Client {
        let pool = SingleNodeConnectionPool::new(fake.url().parse().expect("url"));
        let mut builder = TransportBuilder::new(pool);
        if let Some(credentials) = credentials {
            builder = builder.auth(credentials);
        }
        Client {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            transport: builder.build().expect("transport"),
        }
    }

    fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_raw(method, path, None, body.map(|b| b.to_string()))
    }

    fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = content_type {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_str(content_type).expect("header"),
            );
        }
        self.runtime.block_on(async {
            let response = self
                .transport
                .send(
                    method,
                    path,
                    headers,
                    None::<&()>,
                    body,
                    Some(Duration::from_secs(10)),
                )
                .await
                .expect("request sent");
            let status = response.status_code().as_u16();
            let headers = response.headers().clone();
            let text = response.text().await.expect("body");
            Answer {
                status,
                headers,
                text,
            }
        })
    }

    fn bulk(&self, ndjson: String) -> Answer {
        self.send_raw(
            Method::Post,
            "/_bulk?refresh=wait_for",
            Some("application/x-ndjson"),
            Some(ndjson),
        )
    }

    fn open_pit(&self, patterns: &str) -> String {
        let answer = self.send(
            Method::Post,
            &format!("/{patterns}/_pit?keep_alive=5m&ignore_unavailable=true"),
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["id"].as_str().expect("pit id").to_owned()
    }
}

fn bench_doc(node: &str, timestamp: &str, error: &str) -> Value {
    json!({
        "version": "cis-1.9", "kubernetesVersion": "1.29.3", "type": "kube",
        "node_name": node, "timestamp": timestamp, "error": error,
        "tests": [{"section": "1.1", "section_desc": "Files", "test_number": "1.1.1",
                   "test_desc": "perms", "test_info": "chmod", "status": "PASS", "scored": true}],
        "cluster": "cluster",
    })
}

/// A page of the "latest document per node" read (docs/elasticsearch.md, step 3 or 4).
fn page_body(pit: &str, size: usize, errored: bool, after: Option<&str>) -> Value {
    let range = json!({"range": {"timestamp": {"gte": "2026-11-24T12:00:00Z",
        "lte": "2026-11-26T00:00:00Z", "format": "strict_date_optional_time"}}});
    let has_error = json!({"regexp": {"error": ".+"}});
    let query = if errored {
        json!({"bool": {"filter": [range, has_error]}})
    } else {
        json!({"bool": {"filter": [range], "must_not": [has_error]}})
    };
    let mut body = json!({
        "size": size, "track_total_hits": false, "_source": false, "query": query,
        "collapse": {"field": "node_name", "inner_hits": {"name": "latest", "size": 1,
            "_source": true, "sort": [{"timestamp": {"order": "desc"}}]}},
        "sort": [{"node_name": {"order": "asc"}}],
        "pit": {"id": pit, "keep_alive": "5m"},
    });
    if let Some(after) = after {
        body["search_after"] = json!([after]);
    }
    body
}

/// Reads every page; returns (node, latest document's timestamp, its `_id`) per hit, and the
/// number of pages.
fn read_latest(
    client: &Client,
    pit: &str,
    errored: bool,
) -> (Vec<(String, String, String)>, usize) {
    let mut pit = pit.to_owned();
    let mut after: Option<String> = None;
    let mut nodes = Vec::new();
    let mut pages = 0;
    loop {
        let answer = client.send(
            Method::Post,
            "/_search",
            Some(page_body(&pit, 2, errored, after.as_deref())),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        let page = answer.json();
        pages += 1;
        assert_eq!(page["_shards"]["failed"], 0);
        assert!(
            page["hits"].get("total").is_none(),
            "track_total_hits: false"
        );
        let new_pit = page["pit_id"].as_str().expect("pit_id").to_owned();
        assert_ne!(new_pit, pit, "the fake hands out a new id per page");
        pit = new_pit;
        let hits = page["hits"]["hits"].as_array().expect("hits").clone();
        for hit in &hits {
            let sort = hit["sort"].as_array().expect("sort");
            // The implicit `_shard_doc` tiebreaker only on the first page.
            assert_eq!(sort.len(), if after.is_none() { 2 } else { 1 }, "{hit}");
            assert!(hit.get("_source").is_none(), "top-level _source: false");
            let latest = &hit["inner_hits"]["latest"]["hits"]["hits"];
            assert_eq!(latest.as_array().expect("inner hits").len(), 1);
            let source = &latest[0]["_source"];
            assert_eq!(source["node_name"], sort[0]);
            nodes.push((
                source["node_name"].as_str().expect("node").to_owned(),
                source["timestamp"].as_str().expect("timestamp").to_owned(),
                latest[0]["_id"].as_str().expect("id").to_owned(),
            ));
        }
        if hits.len() < 2 {
            break;
        }
        after = Some(nodes.last().expect("a hit").0.clone());
    }
    (nodes, pages)
}

fn load_nodes(fake: &FakeEs) {
    let docs = [
        // node-a: the latest in the window wins; one after the window is ignored.
        ("node-a", "2026-11-25T01:00:00Z", ""),
        ("node-a", "2026-11-25T09:30:00.250Z", ""),
        ("node-a", "2026-11-24T13:00:00Z", ""),
        ("node-a", "2026-11-26T00:00:00.001Z", ""),
        // node-b: a newer errored document does not hide the good one.
        ("node-b", "2026-11-25T02:00:00Z", ""),
        ("node-b", "2026-11-25T05:00:00Z", "kube-bench crashed"),
        // node-c: only errored documents.
        ("node-c", "2026-11-25T03:00:00Z", "no config"),
        ("node-c", "2026-11-25T04:00:00Z", "no config again"),
        // node-d: inclusive bounds; an error of blanks and punctuation has no word.
        ("node-d", "2026-11-24T12:00:00Z", " - "),
        ("node-e", "2026-11-26T00:00:00Z", ""),
        // node-f: only before the window.
        ("node-f", "2026-11-24T11:59:59.999Z", ""),
        ("node-g", "2026-11-25T00:00:00+02:00", ""),
    ];
    for (node, timestamp, error) in docs {
        fake.insert(
            BENCH,
            &format!("{node}@{timestamp}"),
            bench_doc(node, timestamp, error),
        );
    }
    // A rolled-over backing index, read through the `.cluster.*` pattern.
    let newer = "2026-11-25T08:00:00Z";
    fake.insert(
        BENCH_ROLLED,
        &format!("node-b@{newer}"),
        bench_doc("node-b", newer, ""),
    );
}

#[test]
fn resolve_index_lists_matching_indices_and_aliases() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    let path = format!("/_resolve/index/{BENCH}*");

    let none = client.send(Method::Get, &path, None);
    assert_eq!(none.status, 200);
    assert_eq!(
        none.json(),
        json!({"indices": [], "aliases": [], "data_streams": []})
    );

    fake.create_index(BENCH);
    fake.add_alias(&format!("{BENCH}."), BENCH_ROLLED);
    fake.create_index("tigera_secure_ee_benchmark_results.prod");
    let some = client.send(Method::Get, &path, None);
    assert_eq!(
        some.json(),
        json!({
            "indices": [
                {"name": BENCH, "attributes": ["open"]},
                {"name": BENCH_ROLLED, "aliases": [format!("{BENCH}.")], "attributes": ["open"]},
            ],
            "aliases": [{"name": format!("{BENCH}."), "indices": [BENCH_ROLLED]}],
            "data_streams": [],
        })
    );
    let missing = client.send(Method::Get, "/_resolve/index/nothing-here", None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.root_cause(), "index_not_found_exception");
    fake.assert_no_violations();
}

#[test]
fn collapse_pages_give_the_latest_document_per_node() {
    let fake = FakeEs::start();
    load_nodes(&fake);
    let client = Client::new(&fake);
    let pit = client.open_pit(BENCH_READ);

    // Written after the PIT opened: invisible to it.
    fake.insert(
        BENCH,
        "node-a@late",
        bench_doc("node-a", "2026-11-25T23:00:00Z", ""),
    );
    fake.insert(
        BENCH,
        "node-h@late",
        bench_doc("node-h", "2026-11-25T23:00:00Z", ""),
    );

    let (good, pages) = read_latest(&client, &pit, false);
    assert_eq!(pages, 3);
    let expected = [
        ("node-a", "2026-11-25T09:30:00.250Z"),
        ("node-b", "2026-11-25T08:00:00Z"),
        ("node-d", "2026-11-24T12:00:00Z"),
        ("node-e", "2026-11-26T00:00:00Z"),
        ("node-g", "2026-11-25T00:00:00+02:00"),
    ];
    let got: Vec<(&str, &str)> = good
        .iter()
        .map(|(n, t, _)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(good[1].2, "node-b@2026-11-25T08:00:00Z");

    // Two nodes fill a page of two, so an empty page ends the read.
    let (errored, pages) = read_latest(&client, &pit, true);
    assert_eq!(pages, 2);
    let got: Vec<(&str, &str)> = errored
        .iter()
        .map(|(n, t, _)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("node-b", "2026-11-25T05:00:00Z"),
            ("node-c", "2026-11-25T04:00:00Z")
        ]
    );

    let close = client.send(Method::Delete, "/_pit", Some(json!({"id": pit})));
    assert_eq!(close.status, 200);
    assert_eq!(close.json(), json!({"succeeded": true, "num_freed": 1}));
    assert_eq!(fake.open_pits(), 0);
    let again = client.send(Method::Delete, "/_pit", Some(json!({"id": pit})));
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["num_freed"], 0);
    fake.assert_no_violations();
}

#[test]
fn expired_pit_answers_search_context_missing() {
    let fake = FakeEs::start();
    load_nodes(&fake);
    let client = Client::new(&fake);
    let pit = client.open_pit(BENCH_READ);
    fake.expire_pits();
    assert_eq!(fake.open_pits(), 0);

    let page = client.send(
        Method::Post,
        "/_search",
        Some(page_body(&pit, 2, false, None)),
    );
    assert_eq!(page.status, 404);
    assert_eq!(page.root_cause(), "search_context_missing_exception");
    assert_eq!(
        page.json()["error"]["caused_by"]["type"],
        "search_context_missing_exception"
    );

    // A new PIT resumes after the last node read.
    let pit = client.open_pit(BENCH_READ);
    let page = client.send(
        Method::Post,
        "/_search",
        Some(page_body(&pit, 2, false, Some("node-d"))),
    );
    assert_eq!(page.status, 200);
    let nodes: Vec<String> = page.json()["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["sort"][0].as_str().expect("node").to_owned())
        .collect();
    assert_eq!(nodes, ["node-e", "node-g"]);
    fake.assert_no_violations();
}

#[test]
fn bulk_stores_documents_and_reports_item_failures() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    fake.fail_bulk_items(
        &["n2@t"],
        400,
        "document_parsing_exception",
        "bad field",
        usize::MAX,
    );
    fake.fail_bulk_items(
        &["n3@t"],
        429,
        "es_rejected_execution_exception",
        "queue full",
        1,
    );
    let ndjson = |ids: &[&str]| -> String {
        ids.iter()
            .map(|id| {
                let action = json!({"index": {"_index": BENCH, "_id": id}});
                let doc = bench_doc(
                    id.split('@').next().expect("node"),
                    "2026-11-25T00:00:00Z",
                    "",
                );
                format!("{action}\n{doc}\n")
            })
            .collect()
    };

    let answer = client.bulk(ndjson(&["n1@t", "n2@t", "n3@t"]));
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["errors"], true);
    let items = body["items"].as_array().expect("items");
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[0]["index"]["result"], "created");
    assert_eq!(items[0]["index"]["_version"], 1);
    assert_eq!(items[1]["index"]["status"], 400);
    assert_eq!(
        items[1]["index"]["error"]["type"],
        "document_parsing_exception"
    );
    assert_eq!(items[2]["index"]["status"], 429);
    assert_eq!(items[2]["index"]["error"]["reason"], "queue full");
    assert_eq!(fake.count(BENCH), 1);

    // The 429 item goes through on retry; the 400 one keeps failing; n1 is replaced.
    let retry = client.bulk(ndjson(&["n1@t", "n2@t", "n3@t"])).json();
    let statuses: Vec<&Value> = retry["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["index"]["status"])
        .collect();
    assert_eq!(statuses, [&json!(200), &json!(400), &json!(201)]);
    assert_eq!(retry["items"][0]["index"]["result"], "updated");
    assert_eq!(retry["items"][0]["index"]["_version"], 2);
    let ids: Vec<String> = fake
        .documents(BENCH)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["n1@t", "n3@t"]);

    let unterminated = client.send_raw(
        Method::Post,
        "/_bulk?refresh=wait_for",
        Some("application/x-ndjson"),
        Some(ndjson(&["n4@t"]).trim_end().to_owned()),
    );
    assert_eq!(unterminated.status, 400);
    assert_eq!(fake.count(BENCH), 2);
    let violations = fake.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
}

#[test]
fn reports_are_put_and_found_by_id() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    let id = "daily cis:x";
    let report = json!({"id": id, "reportName": "daily", "endTime": "2026-11-26T00:00:00Z",
        "generated_time": "2026-11-26T00:30:00Z", "cisBenchmark": []});
    let path = format!("/{REPORTS}/_doc/daily%20cis%3Ax?refresh=wait_for");

    let first = client.send(Method::Put, &path, Some(report.clone()));
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json()["result"], "created");
    assert_eq!(first.json()["_id"], id);
    let second = client.send(Method::Put, &path, Some(report.clone()));
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["result"], "updated");
    assert_eq!(second.json()["_version"], 2);
    assert_eq!(fake.document(REPORTS, id), Some(report.clone()));

    let found = client.send(
        Method::Post,
        &format!("/{REPORTS_READ}/_search?ignore_unavailable=true"),
        Some(json!({"size": 10, "query": {"ids": {"values": [id]}}})),
    );
    assert_eq!(found.status, 200);
    let body = found.json();
    assert_eq!(body["hits"]["total"]["value"], 1);
    assert_eq!(body["hits"]["hits"][0]["_index"], REPORTS);
    assert_eq!(body["hits"]["hits"][0]["_source"], report);

    let nothing = client.send(
        Method::Post,
        "/tigera_secure_ee_compliance_reports.other,tigera_secure_ee_compliance_reports.other.*/_search?ignore_unavailable=true",
        Some(json!({"size": 10, "query": {"ids": {"values": [id]}}})),
    );
    assert_eq!(nothing.status, 200);
    assert_eq!(nothing.json()["hits"]["hits"], json!([]));
    fake.assert_no_violations();
}

#[test]
fn report_parts_are_paged_and_old_generations_deleted() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    for (generation, parts) in [("g0", 2), ("g1", 5)] {
        for part in 0..parts {
            fake.insert(
                PARTS,
                &format!("r~{generation}~{part}"),
                json!({"reportId": "r", "generation": generation, "part": part, "parts": parts,
                       "cisBenchmark": [{"nodeName": format!("n{part}")}]}),
            );
        }
    }
    fake.insert(
        PARTS,
        "other~g0~0",
        json!({"reportId": "other", "generation": "g0", "part": 0}),
    );
    let parts_query = |after: Option<i64>| {
        let mut body = json!({"size": 4,
            "query": {"bool": {"filter": [{"term": {"reportId": "r"}}, {"term": {"generation": "g1"}}]}},
            "sort": [{"part": {"order": "asc"}}]});
        if let Some(after) = after {
            body["search_after"] = json!([after]);
        }
        let answer = client.send(
            Method::Post,
            &format!("/{PARTS}/_search?ignore_unavailable=true"),
            Some(body),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["hits"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| {
                (
                    h["sort"][0].as_i64().expect("sort"),
                    h["_source"]["part"].as_i64().expect("part"),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(parts_query(None), [(0, 0), (1, 1), (2, 2), (3, 3)]);
    assert_eq!(parts_query(Some(3)), [(4, 4)]);

    let cleanup = client.send(
        Method::Post,
        &format!(
            "/{PARTS}/_delete_by_query?ignore_unavailable=true&conflicts=proceed&refresh=true"
        ),
        Some(
            json!({"query": {"bool": {"filter": [{"term": {"reportId": "r"}}],
            "must_not": [{"term": {"generation": "g1"}}]}}}),
        ),
    );
    assert_eq!(cleanup.status, 200);
    assert_eq!(cleanup.json()["deleted"], 2);
    assert_eq!(cleanup.json()["failures"], json!([]));
    assert_eq!(fake.count(PARTS), 6);

    let absent = client.send(
        Method::Post,
        "/tigera_secure_ee_compliance_report_parts.none/_delete_by_query?ignore_unavailable=true&conflicts=proceed&refresh=true",
        Some(json!({"query": {"bool": {"filter": [{"term": {"reportId": "r"}}]}}})),
    );
    assert_eq!(absent.status, 200);
    assert_eq!(absent.json()["deleted"], 0);
    fake.assert_no_violations();
}

#[test]
fn report_list_pages_by_end_time_with_source_filtering() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    for (id, end) in [
        ("r1", "2026-11-24T00:00:00Z"),
        ("r2", "2026-11-26T00:00:00Z"),
        ("r3", "2026-11-25T00:00:00Z"),
        ("r4", "2026-11-25T00:00:00Z"),
    ] {
        fake.insert(REPORTS, id, json!({"id": id, "reportName": id, "endTime": end,
            "cisBenchmarkSummary": {"type": "kube", "highCount": 1}, "cisBenchmark": [{"nodeName": "n"}]}));
    }
    let pit = client.open_pit(REPORTS_READ);
    let mut after: Option<Value> = None;
    let mut seen = Vec::new();
    let mut pit_id = pit;
    loop {
        let mut body = json!({"size": 3, "track_total_hits": false,
            "_source": ["id", "reportName", "endTime", "cisBenchmarkSummary"],
            "sort": [{"endTime": {"order": "desc", "unmapped_type": "date"}}],
            "pit": {"id": pit_id, "keep_alive": "1m"}});
        if let Some(after) = &after {
            body["search_after"] = after.clone();
        }
        let page = client.send(Method::Post, "/_search", Some(body)).json();
        pit_id = page["pit_id"].as_str().expect("pit").to_owned();
        let hits = page["hits"]["hits"].as_array().expect("hits").clone();
        for hit in &hits {
            assert_eq!(hit["sort"].as_array().expect("sort").len(), 2, "{hit}");
            assert!(hit["_source"].get("cisBenchmark").is_none());
            assert_eq!(hit["_source"]["cisBenchmarkSummary"]["highCount"], 1);
            seen.push(hit["_id"].as_str().expect("id").to_owned());
        }
        if hits.len() < 3 {
            break;
        }
        after = Some(hits.last().expect("hit")["sort"].clone());
    }
    assert_eq!(seen, ["r2", "r3", "r4", "r1"]);
    assert_eq!(fake.documents(REPORTS).len(), 4);
    fake.assert_no_violations();
}

fn report_doc(id: &str, name: &str, kind: &str, start: &str, end: &str) -> Value {
    json!({"id": id, "reportName": name, "reportTypeName": kind, "startTime": start,
        "endTime": end, "generationTime": end, "cisBenchmarkSummary": {"type": "kube"},
        "cisBenchmark": [{"nodeName": "n"}]})
}

/// The paged list: `terms` on names and types, a `should` of two ranges of which one must
/// match, sort keys with `unmapped_type` and the id last, `from`, and an exact total.
#[test]
fn report_pages_are_filtered_sorted_counted_and_cut_with_from() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    for (id, name, kind, start, end) in [
        (
            "d1",
            "daily",
            "cis",
            "2026-11-24T00:00:00Z",
            "2026-11-25T00:00:00Z",
        ),
        (
            "d2",
            "daily",
            "cis",
            "2026-11-25T00:00:00Z",
            "2026-11-26T00:00:00Z",
        ),
        (
            "w1",
            "weekly",
            "cis-weekly",
            "2026-11-19T00:00:00Z",
            "2026-11-26T00:00:00Z",
        ),
        (
            "h1",
            "hourly",
            "cis",
            "2026-11-25T11:00:00Z",
            "2026-11-25T12:00:00Z",
        ),
        (
            "x1",
            "other",
            "cis",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
        ),
    ] {
        fake.insert(REPORTS, id, report_doc(id, name, kind, start, end));
    }
    // Calico's reports have no `id` key: sorted on it, they come last.
    let mut calico = report_doc(
        "",
        "daily",
        "cis",
        "2026-11-23T00:00:00Z",
        "2026-11-24T00:00:00Z",
    );
    calico.as_object_mut().unwrap().remove("id");
    fake.insert(REPORTS, "c1", calico);
    let list = |from: u64, size: u64| {
        client.send(
            Method::Post,
            &format!("/{REPORTS_READ}/_search?ignore_unavailable=true"),
            Some(json!({
                "from": from, "size": size, "track_total_hits": true,
                "_source": ["id", "reportName", "endTime"],
                "query": {"bool": {"filter": [
                    {"terms": {"reportName": ["daily", "weekly", "hourly"]}},
                    {"terms": {"reportTypeName": ["cis", "cis-weekly"]}},
                    {"bool": {"should": [
                        {"range": {"startTime": {"gte": "2026-11-24T00:00:00Z", "lte": "2026-11-25T11:00:00Z",
                            "format": "strict_date_optional_time"}}},
                        {"range": {"endTime": {"gte": "2026-11-24T00:00:00Z", "lte": "2026-11-25T11:00:00Z",
                            "format": "strict_date_optional_time"}}}],
                        "minimum_should_match": 1}}]}},
                "sort": [
                    {"startTime": {"order": "desc", "unmapped_type": "date"}},
                    {"id": {"order": "asc", "unmapped_type": "keyword"}}]
            })),
        )
    };
    let ids = |answer: &Answer| -> Vec<String> {
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["hits"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["_id"].as_str().expect("id").to_owned())
            .collect()
    };
    // d1 (start in range), d2 and h1 (start), c1 (end); not w1 (neither), not x1 (name).
    let all = list(0, 10);
    assert_eq!(ids(&all), ["h1", "d2", "d1", "c1"]);
    assert_eq!(
        all.json()["hits"]["total"],
        json!({"value": 4, "relation": "eq"})
    );
    assert_eq!(
        all.json()["hits"]["hits"][0]["sort"],
        json!([1795604400000_i64, "h1"])
    );
    assert_eq!(all.json()["hits"]["hits"][3]["sort"][1], Value::Null);
    assert_eq!(ids(&list(1, 2)), ["d2", "d1"]);
    let past = list(4, 2);
    assert_eq!(ids(&past), Vec::<String>::new());
    assert_eq!(past.json()["hits"]["total"]["value"], 4);
    // from + size beyond the result window is Elasticsearch's 400, not a violation.
    let deep = list(9_999, 2);
    assert_eq!(deep.status, 400);
    assert!(
        deep.text.contains("Result window is too large"),
        "{}",
        deep.text
    );
    fake.assert_no_violations();
}

#[test]
fn new_query_shapes_outside_the_protocol_are_violations() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    fake.insert(
        REPORTS,
        "r",
        report_doc(
            "r",
            "daily",
            "cis",
            "2026-11-25T00:00:00Z",
            "2026-11-26T00:00:00Z",
        ),
    );
    let search = |body: Value| {
        client.send(
            Method::Post,
            &format!("/{REPORTS}/_search?ignore_unavailable=true"),
            Some(body),
        )
    };
    let refused = [
        search(json!({"query": {"terms": {"error": ["x"]}}})),
        search(json!({"query": {"terms": {"reportName": "daily"}}})),
        search(json!({"query": {"terms": {"reportName": ["daily"], "boost": 2}}})),
        search(
            json!({"query": {"bool": {"should": [{"match_all": {}}], "minimum_should_match": "50%"}}}),
        ),
        search(json!({"sort": [{"reportName": {"order": "asc", "unmapped_type": "date"}}]})),
        search(json!({"sort": [{"startTime": {"order": "asc", "unmapped_type": "long"}}]})),
        search(json!({"query": {"range": {"cluster": {"gte": "a"}}}})),
    ];
    for answer in &refused {
        assert_eq!(answer.status, 400, "{}", answer.text);
    }
    let violations = fake.take_violations();
    assert_eq!(violations.len(), refused.len(), "{violations:#?}");
    assert!(
        violations[0].contains("[terms] on field [error]"),
        "{}",
        violations[0]
    );
    assert!(
        violations[1].contains("needs an array of strings"),
        "{}",
        violations[1]
    );
    assert!(
        violations[2].contains("exactly one key"),
        "{}",
        violations[2]
    );
    assert!(violations[3].contains("only counts"), "{}", violations[3]);
    assert!(violations[4].contains("unmapped_type"), "{}", violations[4]);
    assert!(violations[5].contains("[date]"), "{}", violations[5]);
    assert!(
        violations[6].contains("field [cluster]"),
        "{}",
        violations[6]
    );
    // Elasticsearch's own refusal: from with search_after.
    let both = search(json!({"from": 1, "sort": [{"endTime": "desc"}], "search_after": [1]}));
    assert_eq!(both.status, 400);
    assert!(both.text.contains("search_after"), "{}", both.text);
    // A bool with only should clauses needs one of them by default.
    let none = search(json!({"query": {"bool": {"should": [
        {"term": {"reportName": "weekly"}}, {"term": {"reportName": "hourly"}}]}}}));
    assert_eq!(none.json()["hits"]["hits"], json!([]));
    let one = search(json!({"query": {"bool": {"should": [
        {"term": {"reportName": "weekly"}}, {"term": {"reportName": "daily"}}]}}}));
    assert_eq!(one.json()["hits"]["hits"][0]["_id"], "r");
    fake.assert_no_violations();
}

#[test]
fn templates_are_missing_then_put_then_applied() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    let path = "/_index_template/tigera_secure_ee_benchmark_results";
    let missing = client.send(Method::Get, path, None);
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        es_error(
            404,
            "resource_not_found_exception",
            "index template matching [tigera_secure_ee_benchmark_results] not found"
        )
    );

    let template = json!({"index_patterns": ["tigera_secure_ee_benchmark_results.*"], "priority": 100,
        "template": {"mappings": {"properties": {"node_name": {"type": "keyword"},
            "timestamp": {"type": "date"},
            "tests": {"type": "nested", "properties": {"status": {"type": "keyword"}}}}}}});
    let put = client.send(Method::Put, path, Some(template.clone()));
    assert_eq!(put.status, 200);
    assert_eq!(put.json(), json!({"acknowledged": true}));
    let got = client.send(Method::Get, path, None).json();
    assert_eq!(
        got["index_templates"][0]["name"],
        "tigera_secure_ee_benchmark_results"
    );
    assert_eq!(got["index_templates"][0]["index_template"], template);

    // A new index takes the template's mappings; one set by the test is reported as is.
    fake.insert(BENCH, "n@t", bench_doc("n", "2026-11-25T00:00:00Z", ""));
    fake.set_mapping(
        BENCH_ROLLED,
        json!({"properties": {"node_name": {"type": "text"}}}),
    );
    fake.create_index(REPORTS);
    let fields = client
        .send(
            Method::Get,
            &format!("/{BENCH_READ},{REPORTS}/_mapping/field/node_name,tests.status,timestamp?ignore_unavailable=true"),
            None,
        )
        .json();
    assert_eq!(
        fields,
        json!({
            BENCH: {"mappings": {
                "node_name": {"full_name": "node_name", "mapping": {"node_name": {"type": "keyword"}}},
                "tests.status": {"full_name": "tests.status", "mapping": {"status": {"type": "keyword"}}},
                "timestamp": {"full_name": "timestamp", "mapping": {"timestamp": {"type": "date"}}},
            }},
            BENCH_ROLLED: {"mappings": {
                "node_name": {"full_name": "node_name", "mapping": {"node_name": {"type": "text"}}},
            }},
            REPORTS: {"mappings": {}},
        })
    );
    fake.assert_no_violations();
}

#[test]
fn credentials_are_checked() {
    let fake = FakeEs::start();
    fake.require_basic_auth("elastic", "s3cret");
    fake.require_api_key("a2V5OnNlY3JldA==");
    let path = format!("/_resolve/index/{BENCH}*");

    let anonymous = Client::new(&fake).send(Method::Get, &path, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.root_cause(), "security_exception");
    assert!(
        anonymous.json()["error"]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("missing authentication credentials")
    );
    let challenges: Vec<&str> = anonymous
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(challenges.contains(&"ApiKey"), "{challenges:?}");

    let wrong = Client::with(&fake, Credentials::Basic("elastic".into(), "guess".into())).send(
        Method::Get,
        &path,
        None,
    );
    assert_eq!(wrong.status, 401);
    let reason = wrong.json()["error"]["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(
        reason.contains("unable to authenticate user [elastic]"),
        "{reason}"
    );
    assert!(!wrong.text.contains("guess"));

    let basic = Client::with(&fake, Credentials::Basic("elastic".into(), "s3cret".into())).send(
        Method::Get,
        &path,
        None,
    );
    assert_eq!(basic.status, 200);
    let api_key = Client::with(&fake, Credentials::EncodedApiKey("a2V5OnNlY3JldA==".into())).send(
        Method::Get,
        &path,
        None,
    );
    assert_eq!(api_key.status, 200);

    let schemes: Vec<Option<String>> = fake.requests().into_iter().map(|r| r.auth_scheme).collect();
    assert_eq!(
        schemes,
        [
            None,
            Some("Basic".into()),
            Some("Basic".into()),
            Some("ApiKey".into())
        ]
    );
    fake.assert_no_violations();
}

#[test]
fn injected_failures_come_first_then_requests_succeed() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    let unavailable = es_error(
        503,
        "unavailable_shards_exception",
        "primary shard is not active",
    );
    fake.fail_next(
        RequestMatcher::new("GET", "/_resolve/"),
        2,
        503,
        unavailable.clone(),
    );
    let path = format!("/_resolve/index/{BENCH}*");
    let statuses: Vec<u16> = (0..3)
        .map(|_| client.send(Method::Get, &path, None).status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(client.send(Method::Get, &path, None).status, 200);

    fake.delay_next(RequestMatcher::any(), 1, Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(client.send(Method::Get, &path, None).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    fake.set_max_content_length(100);
    let big = bench_doc("n", "2026-11-25T00:00:00Z", "");
    let too_large = client.send(
        Method::Put,
        &format!("/{REPORTS}/_doc/x?refresh=wait_for"),
        Some(big),
    );
    assert_eq!(too_large.status, 413);
    assert_eq!(fake.count(REPORTS), 0);

    let log = fake.requests();
    assert_eq!(log.len(), 6);
    assert_eq!(log[0].status, 503);
    assert_eq!(log[0].response_len, unavailable.to_string().len());
    assert_eq!(log[5].status, 413);
    assert_eq!(
        log[5].body_len,
        log[5].body.as_ref().expect("small body").len()
    );
    assert_eq!(
        fake.bytes_served(),
        log.iter().map(|r| r.response_len as u64).sum::<u64>()
    );
    fake.clear_requests();
    assert!(fake.requests().is_empty());
    fake.assert_no_violations();
}

#[test]
fn requests_outside_the_protocol_are_refused_and_recorded() {
    let fake = FakeEs::start();
    let client = Client::new(&fake);
    let refused = [
        client.send(Method::Get, "/_cat/indices", None),
        client.send(
            Method::Get,
            &format!("/_resolve/index/{BENCH}*?expand_wildcards=all"),
            None,
        ),
        client.send(
            Method::Post,
            &format!("/{REPORTS}/_search?ignore_unavailable=true"),
            Some(json!({"size": 1, "aggs": {}})),
        ),
        client.send(
            Method::Post,
            &format!("/{REPORTS}/_search?ignore_unavailable=true"),
            Some(json!({"query": {"match": {"reportName": "x"}}})),
        ),
        client.send_raw(
            Method::Post,
            "/_bulk?refresh=wait_for",
            Some("application/json"),
            Some(format!(
                "{}\n{{}}\n",
                json!({"index": {"_index": BENCH, "_id": "x"}})
            )),
        ),
        client.send(
            Method::Post,
            &format!("/{BENCH}/_pit?ignore_unavailable=true"),
            None,
        ),
    ];
    for answer in &refused {
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.root_cause(), "illegal_argument_exception");
    }
    let violations = fake.take_violations();
    assert_eq!(violations.len(), refused.len(), "{violations:#?}");
    assert!(violations[0].contains("no handler found for uri [/_cat/indices]"));
    assert!(violations[1].contains("unrecognized parameter: [expand_wildcards]"));
    assert!(violations[2].contains("unknown key [aggs]"));
    assert!(violations[3].contains("query [match]"));
    assert!(violations[4].contains("application/json"));
    assert!(violations[5].contains("keep_alive"));
    assert_eq!(fake.count(BENCH), 0);
}

/// `cargo test --release -p compliance-testkit --test fake_es -- --ignored --nocapture`: the scale the
/// benchmark needs, 10,000 nodes with several documents each, read page by page.
#[test]
#[ignore = "timing; run in release"]
fn ten_thousand_nodes_are_served_quickly() {
    let fake = FakeEs::start();
    // The latest document of each node, the one served, is ~60 KB; the 23 older ones are
    // small, to keep the test's memory near a gigabyte.
    let padding = "x".repeat(60_000);
    let started = Instant::now();
    for node in 0..10_000 {
        let node = format!("node-{node:05}");
        for hour in 0..24 {
            let timestamp = format!("2026-11-25T{hour:02}:00:00Z");
            let mut doc = bench_doc(&node, &timestamp, "");
            if hour == 23 {
                doc["padding"] = json!(padding);
            }
            fake.insert_raw(BENCH, &format!("{node}@{timestamp}"), doc.to_string());
        }
    }
    eprintln!("loaded 240,000 documents in {:?}", started.elapsed());

    let client = Client::new(&fake);
    let started = Instant::now();
    let pit = client.open_pit(BENCH_READ);
    let mut after: Option<String> = None;
    let mut nodes = 0;
    let mut pit_id = pit;
    loop {
        let body = page_body(&pit_id, 200, false, after.as_deref());
        let page = client.send(Method::Post, "/_search", Some(body)).json();
        pit_id = page["pit_id"].as_str().expect("pit").to_owned();
        let hits = page["hits"]["hits"].as_array().expect("hits");
        nodes += hits.len();
        if hits.len() < 200 {
            break;
        }
        after = hits.last().expect("hit")["sort"][0]
            .as_str()
            .map(str::to_owned);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "served {nodes} nodes, {} MB, in {elapsed:?}",
        fake.bytes_served() / 1_000_000
    );
    assert_eq!(nodes, 10_000);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    fake.assert_no_violations();
}
