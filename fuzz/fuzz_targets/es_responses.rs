//! Every Elasticsearch response parser of the store (crates/store/src/elastic/response.rs)
//! and the retry rules' error mapping (retry.rs), over arbitrary response bodies.
//!
//! Checked: never panics; a parse error names its operation; `parse_error` never fails
//! and its summary is never empty; resolved names are sorted, unique and this cluster's;
//! a bulk outcome's failures are positions within its items; the last node of a page
//! is known whenever it had a hit; a status error keeps 401/403/413's meaning.
#![no_main]

use compliance_store::elastic::ElasticError;
use compliance_store::elastic::request::Indices;
use compliance_store::elastic::response::{
    ParseError, ReportPart, newest_copy, parse_bulk, parse_counted_hits, parse_error,
    parse_field_mappings, parse_head, parse_hits, parse_index_template, parse_last_result_times,
    parse_latest_page, parse_lifecycle_policy, parse_node_names, parse_open_pit, parse_part_names,
    parse_resolve, parse_text_documents, parse_written_index,
};
use compliance_store::elastic::retry::{classify_transport, is_retryable, status_error};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "tigera_secure_ee_compliance_reports";

fuzz_target!(|body: &[u8]| {
    let error = parse_error(body);
    assert!(!error.summary().is_empty());
    for status in [400u16, 401, 403, 404, 413, 429, 500, 502, 503] {
        let e = status_error("fuzz op", status, body, body.len());
        match (status, &e) {
            (401, ElasticError::Authentication { .. })
            | (403, ElasticError::Forbidden { .. })
            | (413, ElasticError::TooLarge { .. }) => {}
            (401 | 403 | 413, other) => panic!("{status} became {other:?}"),
            _ => {}
        }
        let _ = is_retryable(&e);
        let _ = e.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let chain: Vec<String> = text.lines().map(str::to_string).collect();
    let _ = classify_transport(false, &chain);

    let indices = Indices::new("cluster");
    if let Ok(names) = named(parse_resolve(body, &indices, BASE)) {
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "not sorted and unique: {names:?}"
        );
        assert!(names.iter().all(|n| indices.owns(BASE, n)), "{names:?}");
    }
    let _ = named(parse_open_pit(body));
    if let Ok((page, _docs)) = named(parse_latest_page(body)) {
        // The next page starts after the last node: known whenever the page had a hit.
        assert_eq!(page.last_node.is_some(), page.hits > 0, "{page:?}");
    }
    let _ = named(parse_last_result_times(body));
    let _ = named(parse_text_documents(body));
    if let Ok(outcome) = named(parse_bulk(body)) {
        for f in &outcome.failures {
            assert!(
                f.position < outcome.items,
                "{f:?} of {} items",
                outcome.items
            );
            let _ = f.is_retryable();
        }
    }
    if let Ok((hits, _)) = named(parse_hits("fuzz search", body)) {
        let _ = newest_copy("fuzz-id", &hits);
        for h in &hits {
            let _ = parse_head(&h.id, "cluster", h.source.get());
            let _ = serde_json::from_str::<ReportPart>(h.source.get());
        }
    }
    let _ = named(parse_counted_hits("fuzz count", body));
    let _ = named(parse_index_template(body));
    let _ = named(parse_written_index(body));
    let _ = named(parse_lifecycle_policy(body, "fuzz-policy"));
    let _ = named(parse_field_mappings(body));
    let _ = parse_node_names(&text);
    let _ = parse_part_names(&text);
    let _ = parse_head("fuzz-id", "cluster", &text);
});

/// A parse error names the operation it was reading the response of.
fn named<T>(r: Result<T, ParseError>) -> Result<T, ParseError> {
    if let Err(e) = &r {
        assert!(!e.op.is_empty() && e.to_string().contains(e.op), "{e:?}");
    }
    r
}
