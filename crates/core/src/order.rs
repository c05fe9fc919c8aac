//! Natural dotted ordering of section and test numbers (docs/spec.md §4.7).
//!
//! "1.2.9" < "1.2.10": each dot-separated part compares numerically when it is a number;
//! numbers sort before words; a prefix sorts before its children ("1.2" < "1.2.1").

use std::cmp::Ordering;

/// Compares two dotted indexes naturally. A total order: equal only for equal strings.
pub fn cmp_dotted(a: &str, b: &str) -> Ordering {
    let mut pa = a.split('.');
    let mut pb = b.split('.');
    loop {
        match (pa.next(), pb.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = cmp_part(x, y);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Numbers compare by value without parsing (no overflow on long digit runs), ties
/// between "01" and "1" fall through to the final byte comparison in [`cmp_dotted`].
fn cmp_part(x: &str, y: &str) -> Ordering {
    match (is_number(x), is_number(y)) {
        (true, true) => {
            let x = x.trim_start_matches('0');
            let y = y.trim_start_matches('0');
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.cmp(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rule_7_numeric_parts_compare_as_numbers() {
        assert_eq!(cmp_dotted("1.2.9", "1.2.10"), Ordering::Less);
        assert_eq!(cmp_dotted("2", "10"), Ordering::Less);
        assert_eq!(cmp_dotted("1.10", "1.9"), Ordering::Greater);
    }

    #[test]
    fn rule_7_numbers_before_words() {
        assert_eq!(cmp_dotted("1.2.a", "1.2.1"), Ordering::Greater);
        assert_eq!(cmp_dotted("1.b", "1.a"), Ordering::Greater);
    }

    #[test]
    fn rule_7_prefix_before_children() {
        assert_eq!(cmp_dotted("1.2", "1.2.1"), Ordering::Less);
        assert_eq!(cmp_dotted("1", "1.0"), Ordering::Less);
    }

    #[test]
    fn rule_7_sorting_a_real_sequence() {
        let mut v = vec![
            "1.2.10", "1.10.1", "1.2.9", "1.2", "1.1.1", "4.2.13", "4.2.1", "1.2.1a", "2",
        ];
        v.sort_by(|a, b| cmp_dotted(a, b));
        assert_eq!(
            v,
            [
                "1.1.1", "1.2", "1.2.9", "1.2.10", "1.2.1a", "1.10.1", "2", "4.2.1", "4.2.13"
            ]
        );
    }

    proptest! {
        #[test]
        fn order_is_total_and_antisymmetric(a in "[0-9a-c.]{0,8}", b in "[0-9a-c.]{0,8}") {
            let ab = cmp_dotted(&a, &b);
            prop_assert_eq!(ab, cmp_dotted(&b, &a).reverse());
            prop_assert_eq!(ab == Ordering::Equal, a == b);
        }

        #[test]
        fn order_is_transitive(mut v in proptest::collection::vec("[0-9a.]{0,6}", 3)) {
            v.sort_by(|a, b| cmp_dotted(a, b));
            prop_assert_ne!(cmp_dotted(&v[0], &v[2]), Ordering::Greater);
        }
    }
}
