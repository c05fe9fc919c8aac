//! Report Job names: a function of (report, window end), so the name is the lock.
//!
//! Two controllers (a leader and one that still thinks it is) planning the same window
//! compute the same name, and the API server lets only one of them create it: an
//! existing Job of that name means the window is already scheduled (docs/spec.md §8).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Longest Job name: the Job controller copies it into the `job-name` label of its Pods,
/// and label values stop at 63 characters.
pub const MAX_JOB_NAME: usize = 63;
/// Characters of the original name kept when it is too long.
const KEPT: usize = 55;
/// Characters of hash appended after the kept part and a `-`.
const HASH_CHARS: usize = 7;

/// `<prefix><report>-<end as unix seconds>`, shortened to 63 characters when longer: its
/// first 55 characters, `-`, and 7 lowercase base32hex characters of its SHA-256.
///
/// One deviation from Calico: a kept part ending in `.` loses that dot, since `.-` would
/// make the name an invalid DNS subdomain and the Job could never be created.
pub fn job_name(prefix: &str, report: &str, end: DateTime<Utc>) -> String {
    let full = format!("{prefix}{report}-{}", end.timestamp());
    if full.len() <= MAX_JOB_NAME {
        return full;
    }
    let mut kept: String = full.chars().take(KEPT).collect();
    while kept.ends_with('.') {
        kept.pop();
    }
    let digest = Sha256::digest(full.as_bytes());
    format!("{kept}-{}", base32hex_lower(&digest, HASH_CHARS))
}

/// The first `n` characters of the lowercase base32hex (RFC 4648 §7) encoding of `bytes`.
fn base32hex_lower(bytes: &[u8], n: usize) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(n);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
            if out.len() == n {
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    #[test]
    fn job_name_is_prefix_report_and_end_seconds() {
        assert_eq!(
            job_name(
                "compliance-reporter.",
                "daily-cis-results",
                t(1_764_201_600)
            ),
            "compliance-reporter.daily-cis-results-1764201600"
        );
    }

    #[test]
    fn base32hex_matches_rfc4648_test_vectors() {
        // RFC 4648 §10, BASE32-HEX("foobar") = "CPNMUOJ1E8======"; the last character
        // holds padding bits, and only whole 5-bit groups are produced.
        assert_eq!(base32hex_lower(b"foobar", 9), "cpnmuoj1e");
        assert_eq!(base32hex_lower(b"fo", 3), "cpn");
    }

    #[test]
    fn long_job_names_keep_55_characters_and_a_hash() {
        let report = "a-very-long-global-report-name-that-goes-on-and-on";
        let name = job_name("compliance-reporter.", report, t(1_764_201_600));
        assert_eq!(name.len(), MAX_JOB_NAME);
        let full = format!("compliance-reporter.{report}-1764201600");
        assert_eq!(&name[..55], &full[..55]);
        assert_eq!(&name[55..56], "-");
        let digest = Sha256::digest(full.as_bytes());
        assert_eq!(&name[56..], base32hex_lower(&digest, 7));
    }

    #[test]
    fn a_kept_part_ending_in_a_dot_drops_it() {
        // 20 (prefix) + 34 characters, then the dot at position 55.
        let report = format!("{}.rest-of-the-name", "x".repeat(34));
        let name = job_name("compliance-reporter.", &report, t(1));
        assert!(!name.contains(".-"), "{name}");
        assert!(name.len() < MAX_JOB_NAME);
    }

    proptest! {
        #[test]
        fn job_names_are_valid_distinct_per_window_and_stable(
            report in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 1..5).prop_map(|l| l.join(".")),
            end in 0i64..4_000_000_000,
            other in 0i64..4_000_000_000,
        ) {
            let name = job_name("compliance-reporter.", &report, t(end));
            prop_assert!(name.len() <= MAX_JOB_NAME);
            prop_assert_eq!(&name, &job_name("compliance-reporter.", &report, t(end)));
            prop_assert!(!name.contains(".-") && !name.ends_with('-') && !name.ends_with('.'));
            if other != end {
                prop_assert_ne!(name, job_name("compliance-reporter.", &report, t(other)));
            }
        }
    }
}
