//! Kubernetes versions: one type and one rule, whichever way a version reaches us.
//!
//! A node's version arrives from kubelet (`Kubernetes v1.29.3-eks-1a2b3c`), from kubectl,
//! from kube-bench's `detected_version` (`1.25`), from an operator's `--k8s-version` or
//! BENCHMARK_KUBERNETES_VERSION, and from documents stored by earlier releases. All of
//! them go through [`KubernetesVersion::parse`], and every stored or compared version is
//! its [`Display`](fmt::Display) form: `MAJOR.MINOR[.PATCH]`, without the leading `v`
//! and without the distribution's build suffix. The suffix is kept, apart, in
//! [`KubernetesVersion::suffix`]: it says which distribution built the kubelet (EKS,
//! GKE, k3s), which is worth showing, but it is not a different version, so a node reads
//! as `1.29.3` however its results arrived.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// A Kubernetes release: `MAJOR.MINOR` and usually `.PATCH`, plus a distribution suffix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KubernetesVersion {
    major: u32,
    minor: u32,
    patch: Option<u32>,
    suffix: Option<String>,
}

/// Why a text is not a Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a Kubernetes version ({reason}); expected MAJOR.MINOR.PATCH such as \
     1.29.3, v1.29.3 or 1.29.3-eks-1a2b3c"
)]
pub struct VersionError {
    pub text: String,
    pub reason: &'static str,
}

impl KubernetesVersion {
    /// Reads `[v]MAJOR.MINOR[.PATCH][(-|+)SUFFIX]`, surrounding blanks ignored.
    ///
    /// Refused: fewer than two or more than three numbers (`1`, `1.2.3.4`), empty or
    /// non-decimal parts (`1..3`, `1.x`), and anything after the numbers that does not
    /// start with `-` or `+` (`1.29.3abc`): such a text is not a release this rule can
    /// compare, and guessing would file a node under the wrong version.
    pub fn parse(text: &str) -> Result<KubernetesVersion, VersionError> {
        let refuse = |reason| VersionError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let mut rest = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
        let mut numbers = [None; 3];
        for (i, slot) in numbers.iter_mut().enumerate() {
            if i > 0 {
                match rest.strip_prefix('.') {
                    Some(after) => rest = after,
                    None if i == 2 => break,
                    None => return Err(refuse("no minor version")),
                }
            }
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(refuse(if i == 0 && rest.is_empty() {
                    "it is empty"
                } else {
                    "a part of it is not a number"
                }));
            }
            *slot = Some(
                rest[..digits]
                    .parse::<u32>()
                    .map_err(|_| refuse("a number is too large"))?,
            );
            rest = &rest[digits..];
        }
        let suffix = match rest.chars().next() {
            None => None,
            Some('-' | '+') => Some(&rest[1..]).filter(|s| !s.is_empty()),
            Some('.') => return Err(refuse("it has more than three numbers")),
            Some(_) => return Err(refuse("unexpected text after the numbers")),
        };
        let [Some(major), Some(minor), patch] = numbers else {
            unreachable!("the loop fills major and minor or returns");
        };
        Ok(KubernetesVersion {
            major,
            minor,
            patch,
            suffix: suffix.map(str::to_string),
        })
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// `None` for a version given as `MAJOR.MINOR` only (kube-bench's `detected_version`).
    pub fn patch(&self) -> Option<u32> {
        self.patch
    }

    /// The distribution's build, without its separator: `eks-1a2b3c` of
    /// `v1.29.3-eks-1a2b3c`, `k3s1` of `v1.30.0+k3s1`, `gke.1157000`, `rc.1`.
    pub fn suffix(&self) -> Option<&str> {
        self.suffix.as_deref()
    }

    /// `MAJOR.MINOR`, the part kube-bench maps to a benchmark (`--version 1.29`).
    pub fn minor_version(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// The same version without its suffix.
    pub fn without_suffix(&self) -> KubernetesVersion {
        KubernetesVersion {
            suffix: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for KubernetesVersion {
    /// The one spelling every stored and compared version has: `1.29.3` (or `1.29`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

impl FromStr for KubernetesVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KubernetesVersion::parse(s)
    }
}

/// A stored version in the one spelling: parsed and printed when it parses; otherwise
/// (an empty version, or text stored by an earlier release) trimmed, without a leading
/// `v`, and otherwise as it was, so nothing is silently turned into another version.
pub fn canonical(raw: &str) -> Cow<'_, str> {
    match KubernetesVersion::parse(raw) {
        Ok(v) if v.suffix.is_none() && raw == v.to_string() => Cow::Borrowed(raw),
        Ok(v) => Cow::Owned(v.to_string()),
        Err(_) => {
            let t = raw.trim();
            Cow::Borrowed(t.strip_prefix(['v', 'V']).unwrap_or(t))
        }
    }
}

/// [`canonical`] of an owned string, reusing it when it already is in the one spelling.
pub fn into_canonical(raw: String) -> String {
    match canonical(&raw) {
        Cow::Borrowed(b) if b.len() == raw.len() => raw,
        other => other.into_owned(),
    }
}

/// Whether a results filter's `benchmarkSelection.kubernetesVersion` selects a node's
/// version (docs/spec.md §4.3): equal, or a dotted prefix ("1.13" selects "1.13.7", not
/// "1.130"), both sides compared in their [`canonical`] spelling, so `v1.13` selects
/// `1.13.7-eks-1a2b` too.
pub fn selects(selection: &str, node_version: &str) -> bool {
    is_dotted_prefix(&canonical(selection), &canonical(node_version))
}

/// [`selects`] for two versions already in their [`canonical`] spelling: the report core
/// puts each selection and each node's version in it once, not once per comparison.
pub fn is_dotted_prefix(selection: &str, version: &str) -> bool {
    match version.strip_prefix(selection) {
        Some("") => true,
        Some(rest) => rest.starts_with('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v(text: &str) -> KubernetesVersion {
        KubernetesVersion::parse(text).unwrap()
    }

    #[test]
    fn every_source_of_a_version_reads_as_one_spelling_with_the_suffix_apart() {
        for (text, shown, suffix) in [
            ("1.29.3", "1.29.3", None),
            ("v1.29.3", "1.29.3", None),
            ("V1.2.3", "1.2.3", None),
            (" v1.29.3\n", "1.29.3", None),
            ("1.29.3-eks-1a2b3c", "1.29.3", Some("eks-1a2b3c")),
            ("v1.30.0+k3s1", "1.30.0", Some("k3s1")),
            ("v1.28.2-gke.1157000", "1.28.2", Some("gke.1157000")),
            ("v1.31.0-rc.1", "1.31.0", Some("rc.1")),
            (
                "v1.27.9-1+a5e8e3a1d2f1c4",
                "1.27.9",
                Some("1+a5e8e3a1d2f1c4"),
            ),
            ("v10.100.1000", "10.100.1000", None),
            // kube-bench's detected_version is MAJOR.MINOR; EKS's minor is "29+".
            ("1.25", "1.25", None),
            ("1.29+", "1.29", None),
        ] {
            let parsed = v(text);
            assert_eq!(parsed.to_string(), shown, "{text:?}");
            assert_eq!(parsed.suffix(), suffix, "{text:?}");
        }
        assert_eq!(v("1.29").patch(), None);
        assert_eq!(v("v1.29.3-eks-1").minor_version(), "1.29");
    }

    #[test]
    fn what_is_not_a_version_is_refused_with_the_reason() {
        for (text, reason) in [
            ("", "it is empty"),
            ("v", "it is empty"),
            ("none", "a part of it is not a number"),
            ("1", "no minor version"),
            ("1.2.3.4", "it has more than three numbers"),
            ("1.2.34567.8", "it has more than three numbers"),
            ("x1.2.3", "a part of it is not a number"),
            ("vv1.2.3", "a part of it is not a number"),
            ("-1.2.3", "a part of it is not a number"),
            ("1..3", "a part of it is not a number"),
            ("1.2.", "a part of it is not a number"),
            ("1.2.x", "a part of it is not a number"),
            ("1.29.3abc", "unexpected text after the numbers"),
            ("99999999999.1", "a number is too large"),
        ] {
            let err = KubernetesVersion::parse(text).unwrap_err();
            assert_eq!(err.reason, reason, "{text:?}");
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn stored_versions_are_read_in_the_one_spelling_and_others_are_kept() {
        assert_eq!(canonical("1.29.3-eks-1a2b"), "1.29.3");
        assert_eq!(canonical("v1.29.3"), "1.29.3");
        assert!(matches!(canonical("1.29.3"), Cow::Borrowed("1.29.3")));
        assert_eq!(canonical(""), "");
        assert_eq!(canonical(" vlatest "), "latest");
        assert_eq!(into_canonical("v1.29.3+k3s1".into()), "1.29.3");
        assert_eq!(into_canonical(" 1.29.3".into()), "1.29.3");
        assert_eq!(into_canonical("1.29".into()), "1.29");
    }

    #[test]
    fn rule_3_selection_is_a_dotted_prefix_of_the_canonical_version() {
        assert!(selects("1.13", "1.13"));
        assert!(selects("1.13", "1.13.7"));
        assert!(!selects("1.13", "1.130"));
        assert!(!selects("1.13.7", "1.13"));
        assert!(selects("v1.13", "1.13.7"));
        assert!(selects("1.13", "v1.13.7"));
        assert!(selects("1", "1.13.7"));
        // The distribution's suffix is not part of the version.
        assert!(selects("1.29.3", "1.29.3-eks-1a2b"));
        assert!(selects("1.29", "v1.29.3+k3s1"));
        assert!(!selects("1.29.3", "1.29.30"));
    }

    proptest! {
        #[test]
        fn parsing_what_was_printed_gives_the_same_version(
            major in 0u32..200, minor in 0u32..200, patch in proptest::option::of(0u32..200),
            suffix in proptest::option::of("[a-z0-9]([a-z0-9.+-]{0,10})"),
            sep in prop_oneof![Just('-'), Just('+')], v_prefix in any::<bool>(),
        ) {
            let mut text = format!("{}{major}.{minor}", if v_prefix { "v" } else { "" });
            if let Some(p) = patch {
                text.push_str(&format!(".{p}"));
            }
            if let (Some(s), Some(_)) = (&suffix, patch) {
                text.push(sep);
                text.push_str(s);
            }
            let parsed = KubernetesVersion::parse(&text).unwrap();
            prop_assert_eq!(parsed.major(), major);
            prop_assert_eq!(parsed.minor(), minor);
            prop_assert_eq!(parsed.patch(), patch);
            let printed = parsed.to_string();
            let again = KubernetesVersion::parse(&printed).unwrap();
            prop_assert_eq!(again, parsed.without_suffix());
            prop_assert_eq!(canonical(&text), printed.clone());
            prop_assert!(selects(&printed, &text));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,24}") {
            let _ = KubernetesVersion::parse(&text);
            let _ = canonical(&text);
            let _ = selects(&text, &text);
        }
    }
}
