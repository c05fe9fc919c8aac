//! The metrics contract helpers: the docs parse, and expositions read back.

use compliance_testkit::metrics::{all_documented, exported_names, parse_exposition};

#[test]
fn the_metrics_doc_parses_into_three_components() {
    let all = all_documented();
    for c in [
        "compliance-server",
        "compliance-controller",
        "compliance-benchmarker",
    ] {
        assert!(all.iter().any(|m| m.component == c), "{c}");
    }
    assert!(
        all.iter()
            .all(|m| ["gauge", "counter", "histogram"].contains(&m.kind.as_str()))
    );
}

#[test]
fn samples_with_escaped_labels_parse() {
    let s = parse_exposition(
        "# TYPE x gauge\nx{a=\"1\",b=\"q\\\"u\\\\o\\nte\"} 2.5\ny 3\nz_bucket{le=\"+Inf\"} 4\n",
    );
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].label("b"), "q\"u\\o\nte");
    assert_eq!(s[0].value, 2.5);
    assert_eq!(s[1].name, "y");
    assert_eq!((s[2].label("le"), s[2].value), ("+Inf", 4.0));
}

#[test]
fn histogram_samples_are_named_by_their_base() {
    let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_sum 0\nh_count 0\n# TYPE c counter\nc_total 1\nc_created 5\n";
    let names: Vec<String> = exported_names(text).into_iter().collect();
    assert_eq!(names, ["c_total", "h"]);
}
