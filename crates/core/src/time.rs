//! Timestamps as Go's RFC 3339 layout prints them: whole seconds and a `Z`.
//!
//! Report ids hash the window's times as text, so the exact spelling matters: Calico
//! wrote `2026-11-25T00:00:00Z`, never `+00:00` or fractional seconds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Formats `t` as `2026-11-25T00:00:00Z`, dropping any fraction of a second.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp with any offset into UTC.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc))
}

/// Drops the fraction of a second, so that stored times match what [`format`] prints.
pub fn truncate_to_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// `serde(with = ...)` adaptor for report times.
pub mod seconds {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(|e| serde::de::Error::custom(format_args!("{text:?}: {e}")))
    }
}

/// `serde(with = ...)` adaptor for optional report times (`null` or absent: `None`).
pub mod optional_seconds {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse(&text)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format_args!("{text:?}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339() {
        let t = parse("2026-11-25T01:00:00.123+01:00").unwrap();
        assert_eq!(format(&t), "2026-11-25T00:00:00Z");
    }
}
