//! Timestamps as stored (microseconds since the Unix epoch, UTC) and as shown on the wire.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Serialize, Serializer};

/// A point in time with microsecond precision, stored as `BIGINT` microseconds (UTC).
///
/// It serialises the way the original API did: an ISO-8601 datetime without a time zone,
/// with six fractional digits unless the microseconds are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// From a naive datetime taken to be UTC.
    pub fn from_naive(dt: NaiveDateTime) -> Timestamp {
        Timestamp(dt.and_utc().timestamp_micros())
    }

    /// The naive UTC datetime (saturating at chrono's range, which stored values never leave).
    pub fn naive(self) -> NaiveDateTime {
        DateTime::from_timestamp_micros(self.0)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .naive_utc()
    }

    /// `2021-06-01T12:00:00.123456` (fraction omitted when zero), like Python's `isoformat()`.
    pub fn iso(self) -> String {
        format_naive(self.naive(), 'T')
    }

    /// `2021-06-01 12:00:00.123456` (fraction omitted when zero), like Python's `str(datetime)`.
    pub fn python_str(self) -> String {
        format_naive(self.naive(), ' ')
    }

    /// This time plus `micros`, saturating.
    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }
}

fn format_naive(dt: NaiveDateTime, sep: char) -> String {
    let base = dt.format("%Y-%m-%d").to_string() + &sep.to_string() + &dt.format("%H:%M:%S").to_string();
    let micros = dt.and_utc().timestamp_subsec_micros();
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.iso())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        let t = Timestamp(1_622_548_800_123_456);
        assert_eq!(t.iso(), "2021-06-01T12:00:00.123456");
        assert_eq!(t.python_str(), "2021-06-01 12:00:00.123456");
        assert_eq!(Timestamp(1_622_548_800_000_000).iso(), "2021-06-01T12:00:00");
        assert_eq!(
            Timestamp(1_622_548_800_000_010).python_str(),
            "2021-06-01 12:00:00.000010"
        );
    }
}
