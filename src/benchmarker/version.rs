//! The node's Kubernetes version, for `kubernetesVersion` and for choosing the benchmark.

/// `MAJOR.MINOR.PATCH` of a version token such as `v1.29.3`, `1.29.3-eks-1a2b3c` or
/// `v1.30.0+k3s1`: the leading `v` and any pre-release or build suffix are dropped.
/// `None` when the token does not start with three dot-separated numbers.
pub fn normalise(token: &str) -> Option<String> {
    let t = token.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    let mut numbers = Vec::with_capacity(3);
    let mut rest = t;
    for i in 0..3 {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        numbers.push(&rest[..digits]);
        rest = &rest[digits..];
        if i < 2 {
            rest = rest.strip_prefix('.')?;
        }
    }
    // A fourth number or more digits would mean this is not a Kubernetes version.
    if rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
        return None;
    }
    Some(numbers.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_keeps_major_minor_patch_and_drops_prefix_and_suffixes() {
        for (token, want) in [
            ("v1.29.3", "1.29.3"),
            ("1.29.3", "1.29.3"),
            ("V1.2.3", "1.2.3"),
            ("1.29.3-eks-1a2b3c", "1.29.3"),
            ("v1.30.0+k3s1", "1.30.0"),
            ("v1.28.2-gke.1157000", "1.28.2"),
            ("v1.31.0-rc.1", "1.31.0"),
            (" v1.29.3\n", "1.29.3"),
            ("v10.100.1000", "10.100.1000"),
        ] {
            assert_eq!(normalise(token).as_deref(), Some(want), "{token:?}");
        }
    }

    #[test]
    fn normalise_refuses_what_is_not_three_numbers() {
        for token in [
            "",
            "v",
            "1.29",
            "v1.29",
            "1.2.3.4",
            "x1.2.3",
            "1..3",
            "1.2.",
            "1.2.x",
            "vv1.2.3",
            "-1.2.3",
            "1.2.34567.8",
        ] {
            assert_eq!(normalise(token), None, "{token:?}");
        }
    }
}
