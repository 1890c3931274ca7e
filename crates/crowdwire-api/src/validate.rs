//! Field checks shared by request bodies and queries, producing FastAPI-shaped 422s, and the
//! pagination window every list endpoint uses.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Deserializer};
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult, FieldError, msg};

/// Collects field errors, then fails with all of them at once.
#[derive(Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    /// No errors yet.
    pub fn new() -> Checks {
        Checks::default()
    }

    /// Records an error at `body.<field>`.
    pub fn fail(&mut self, field: &str, text: impl Into<String>, kind: &str) {
        self.errors.push(FieldError {
            loc: vec!["body".into(), field.into()],
            msg: text.into(),
            kind: kind.into(),
        });
    }

    /// `value` must have at most `max` characters.
    pub fn max_len(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value
            && v.chars().count() > max
        {
            self.fail(
                field,
                format!("ensure this value has at most {max} characters"),
                "value_error.any_str.max_length",
            );
        }
    }

    /// A password: 1 to 256 characters.
    pub fn password(&mut self, field: &str, value: &str) {
        self.max_len(field, Some(value), 256);
        if value.is_empty() {
            self.fail(
                field,
                "ensure this value has at least 1 characters",
                "value_error.any_str.min_length",
            );
        }
    }

    /// `value` must have at least `min` non-blank characters.
    pub fn not_blank(&mut self, field: &str, value: Option<&str>) {
        if let Some(v) = value
            && v.trim().is_empty()
        {
            self.fail(
                field,
                "ensure this value is not blank",
                "value_error.any_str.min_length",
            );
        }
    }

    /// `value` must be a valid e-mail address of at most 100 characters.
    pub fn email(&mut self, field: &str, value: Option<&str>) {
        if let Some(v) = value {
            if v.chars().count() > 100 {
                self.max_len(field, value, 100);
            } else if !email_address::EmailAddress::is_valid(v) {
                self.fail(field, "value is not a valid email address", "value_error.email");
            }
        }
    }

    /// `value` must be a `YYYY-MM-DD` date.
    pub fn date(&mut self, field: &str, value: Option<&str>) {
        if let Some(v) = value
            && NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err()
        {
            self.fail(field, "invalid date format", "value_error.date");
        }
    }

    /// Fails with every recorded error, if any.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Largest page size any list endpoint serves.
pub const MAX_LIMIT: i64 = 100;
/// Highest page number accepted (keeps offsets far from overflow).
pub const MAX_PAGE: i64 = 1_000_000;

/// `page` and `limit` of a list endpoint, the same on every one (defaults 1 and 10, limits
/// [`MAX_PAGE`] and [`MAX_LIMIT`]). Read by a `Query<Paging>` of its own beside the endpoint's
/// filters, and documented with `params(<filters>, Paging)`. (Not `#[serde(flatten)]` into the
/// filters: flattening hands the query's numbers over as strings, which `i64` refuses.)
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Page size (1..100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

impl Paging {
    /// Offset and row count of this page: see [`window`].
    pub fn window(&self) -> ApiResult<(i64, i64)> {
        window(self.page, self.limit)
    }
}

/// Offset and row count for a 1-based `page` of `limit` rows; the count is `limit + 1`, so
/// a client sees a next page exactly when it receives more than `limit` rows.
pub fn window(page: Option<i64>, limit: Option<i64>) -> ApiResult<(i64, i64)> {
    let page = page.unwrap_or(1);
    let limit = limit.unwrap_or(10);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::bad_request(msg::INVALID_PAGE_NUMBER));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            &["query", "limit"],
            format!("ensure this value is between 1 and {MAX_LIMIT}"),
            "value_error.number.not_in_range",
        ));
    }
    Ok((limit * (page - 1), limit + 1))
}

/// Parses an ISO-8601 datetime (`T` or space separator, optional fraction, optional zone)
/// into microseconds UTC. A naive datetime is taken as UTC.
pub fn parse_datetime(field: &str, text: &str) -> ApiResult<i64> {
    let micros = parse_any_datetime(field, text)?;
    // Years 1 to 9999 (ISO 8601's ordinary range): beyond them the arithmetic on instants
    // (chart ranges, bucket keys) and the databases' own types are not safe.
    const FIRST: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
    const AFTER_LAST: i64 = 253_402_300_800_000_000; // 10000-01-01T00:00:00Z
    if !(FIRST..AFTER_LAST).contains(&micros) {
        return Err(ApiError::invalid(
            &["query", field],
            "datetime out of range (years 1 to 9999)",
            "value_error.datetime",
        ));
    }
    Ok(micros)
}

fn parse_any_datetime(field: &str, text: &str) -> ApiResult<i64> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_micros());
    }
    Err(ApiError::invalid(
        &["query", field],
        "invalid datetime format",
        "value_error.datetime",
    ))
}

/// Deserialises a boolean the way FastAPI reads query flags: `true/false`, `1/0`, `yes/no`,
/// `on/off`, case-insensitively.
pub fn flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
            other => Err(serde::de::Error::custom(format!(
                "value could not be parsed to a boolean: {other}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_returns_limit_plus_one() {
        assert_eq!(window(None, None).unwrap(), (0, 11));
        assert_eq!(window(Some(3), Some(5)).unwrap(), (10, 6));
    }

    #[test]
    fn window_rejects_bad_pages_and_limits() {
        assert!(matches!(window(Some(0), None), Err(ApiError::Status(_, m)) if m == msg::INVALID_PAGE_NUMBER));
        assert!(matches!(window(Some(-4), None), Err(ApiError::Status(..))));
        assert!(matches!(window(Some(i64::MAX), None), Err(ApiError::Status(..))));
        assert!(matches!(window(None, Some(0)), Err(ApiError::Validation(_))));
        assert!(matches!(window(None, Some(1_000_000)), Err(ApiError::Validation(_))));
    }

    #[test]
    fn datetimes_in_several_spellings() {
        let a = parse_datetime("d", "2021-06-01T12:00:00").unwrap();
        assert_eq!(parse_datetime("d", "2021-06-01 12:00:00").unwrap(), a);
        assert_eq!(parse_datetime("d", "2021-06-01T12:00:00Z").unwrap(), a);
        assert_eq!(parse_datetime("d", "2021-06-01T14:00:00+02:00").unwrap(), a);
        assert_eq!(parse_datetime("d", "2021-06-01T12:00:00.5").unwrap(), a + 500_000);
        assert!(parse_datetime("d", "yesterday").is_err());
    }
}

/// Body fields read the way the original (pydantic) read them, because its client sends
/// `"public": "true"` and `"max_users": "50"`: a boolean may be `true`/`false`, `"true"`/
/// `"false"`, `0`/`1` or `"0"`/`"1"`; an integer may be a JSON integer or a string of one.
/// Nothing else is coerced. Use with `#[serde(deserialize_with = "lenient::…")]` (and
/// `default` on the `opt_` forms).
pub mod lenient {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    fn describe(v: &Value) -> String {
        match v {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Number(n) => format!("number {n}"),
            Value::String(s) => format!("string {s:?}"),
            Value::Array(_) => "sequence".into(),
            Value::Object(_) => "map".into(),
        }
    }

    fn to_bool<E: Error>(v: Value) -> Result<bool, E> {
        match &v {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
            Value::String(s) if s == "true" || s == "1" => Ok(true),
            Value::String(s) if s == "false" || s == "0" => Ok(false),
            _ => Err(E::custom(format!("invalid type: {}, expected a boolean", describe(&v)))),
        }
    }

    fn to_int<T: TryFrom<i64>, E: Error>(v: Value) -> Result<T, E> {
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        let n = n.ok_or_else(|| E::custom(format!("invalid type: {}, expected an integer", describe(&v))))?;
        T::try_from(n).map_err(|_| E::custom(format!("integer {n} out of range")))
    }

    /// A boolean.
    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        to_bool(Value::deserialize(d)?)
    }

    /// An optional boolean (`null` is none).
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => to_bool(v).map(Some),
        }
    }

    /// An integer.
    pub fn int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
        to_int(Value::deserialize(d)?)
    }

    /// An optional integer (`null` is none).
    pub fn opt_int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => to_int(v).map(Some),
        }
    }

    #[cfg(test)]
    mod tests {
        use serde::Deserialize;
        use serde_json::json;

        #[derive(Deserialize, Debug, PartialEq)]
        struct Body {
            #[serde(deserialize_with = "super::bool")]
            flag: bool,
            #[serde(default, deserialize_with = "super::opt_int")]
            cap: Option<i32>,
        }

        fn read(v: serde_json::Value) -> Result<Body, serde_json::Error> {
            serde_json::from_value(v)
        }

        #[test]
        fn the_originals_coercions_and_no_others() {
            for (v, want) in [
                (json!(true), true),
                (json!("true"), true),
                (json!(1), true),
                (json!("1"), true),
            ] {
                assert_eq!(read(json!({"flag": v})).unwrap().flag, want);
            }
            for v in [json!(false), json!("false"), json!(0), json!("0")] {
                assert!(!read(json!({"flag": v})).unwrap().flag);
            }
            for v in [
                json!("yes"),
                json!("True"),
                json!(2),
                json!(null),
                json!(1.0),
                json!([true]),
            ] {
                assert!(read(json!({"flag": v})).is_err(), "{v}");
            }
            assert_eq!(read(json!({"flag": true, "cap": "50"})).unwrap().cap, Some(50));
            assert_eq!(read(json!({"flag": true, "cap": 7})).unwrap().cap, Some(7));
            assert_eq!(read(json!({"flag": true, "cap": null})).unwrap().cap, None);
            assert_eq!(read(json!({"flag": true})).unwrap().cap, None);
            for v in [json!("5x"), json!(" 5"), json!(5.5), json!("99999999999"), json!(true)] {
                assert!(read(json!({"flag": true, "cap": v})).is_err(), "{v}");
            }
        }
    }
}
