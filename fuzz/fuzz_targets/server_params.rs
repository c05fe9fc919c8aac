//! compliance-server's query strings and path segments: `Pairs::parse` and every
//! parameter rule of crates/server/src/params.rs, the diff page's `show`, and the
//! segment encoder and HTML escaper of the pages (the router itself is driven with
//! arbitrary URIs by a proptest in crates/server/tests/server/uris.rs).
//!
//! Checked: never panics; every refusal is a 400 naming a parameter of the query rules;
//! an accepted list query has a page offset and at most MAX_ITEMS_LIMIT items per page,
//! `toTime` not before `fromTime`; formats are unique and non-empty; an encoded segment
//! decodes back to its text and holds no `/`, `?` or `#`; escaped HTML holds no markup.
#![no_main]

use compliance_server::ApiError;
use compliance_server::pages::changes::parse_show;
use compliance_server::pages::view::{escape_html, segment};
use compliance_server::params::{MAX_ITEMS_LIMIT, Pairs, formats, report_query, sort_key};
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    "fromTime", "toTime", "sortBy", "page", "maxItems", "format", "show", "fuzz",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Pairs::parse(Some(text));
    let _ = p.all("reportName").count();
    for name in NAMES {
        bad_names(p.one(name), name);
        bad_names(p.number(name, 7, 100), name);
        bad_names(p.time(name), name);
    }
    match report_query(&p) {
        Ok(q) => {
            assert!(q.offset().is_some(), "{q:?}");
            assert!(q.max_items <= MAX_ITEMS_LIMIT, "{q:?}");
            if let (Some(f), Some(t)) = (q.from, q.to) {
                assert!(f <= t, "{q:?}");
            }
            assert!(q.report_names.iter().all(|n| !n.is_empty()));
        }
        Err(e) => bad_names::<()>(Err(e), "fromTime|toTime|sortBy|page|maxItems"),
    }
    match formats(&p) {
        Ok(f) => {
            assert!(!f.is_empty());
            for (i, a) in f.iter().enumerate() {
                assert!(!a.is_empty() && !f[..i].contains(a), "{f:?}");
            }
        }
        Err(e) => bad_names::<()>(Err(e), "format"),
    }
    bad_names(sort_key(text), "sortBy");
    bad_names(parse_show(Some(text)), "show");

    let s = segment(text);
    assert!(!s.contains(['/', '?', '#']), "{s}");
    let back = percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .expect("an encoded segment decodes");
    assert_eq!(back, text);
    let h = escape_html(text);
    assert!(!h.contains(['<', '>', '"', '\'']), "{h}");
});

/// A refusal is a 400 that names one of `names` (`|`-separated).
fn bad_names<T>(r: Result<T, ApiError>, names: &str) {
    if let Err(e) = r {
        match &e {
            ApiError::BadParameter { name, .. } => {
                assert!(
                    names.split('|').any(|n| n == name),
                    "{e} names {name}, not {names}"
                );
                assert_eq!(e.status().as_u16(), 400, "{e}");
            }
            other => panic!("a parameter refused with {other:?}"),
        }
    }
}
