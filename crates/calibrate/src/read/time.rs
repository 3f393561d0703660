//! Timestamps as the log formats write them, parsed with `chrono`.

use chrono::{DateTime, NaiveDateTime};

use super::FieldError;

/// `10/Oct/2000:13:55:36 -0700` (Apache `%t`, NGINX `$time_local`) → Unix seconds.
pub(crate) fn common_log(text: &str) -> Result<f64, FieldError> {
    DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z").map(|t| unix(t.timestamp_micros())).map_err(|e| {
        FieldError::new("time", format!("`{text}` is not a time like 10/Oct/2000:13:55:36 -0700 ({e})"))
    })
}

/// `06/Feb/2009:12:14:14.655` (HAProxy `accept_date`, local time without a zone: read as
/// UTC) → Unix seconds.
pub(crate) fn haproxy(text: &str) -> Result<f64, FieldError> {
    NaiveDateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S%.f")
        .map(|t| unix(t.and_utc().timestamp_micros()))
        .map_err(|e| {
            FieldError::new(
                "accept_date",
                format!("`{text}` is not a time like 06/Feb/2009:12:14:14.655 ({e})"),
            )
        })
}

/// RFC 3339 (`2019-10-14T18:34:55.104Z`, Envoy `%START_TIME%`) or a number of Unix seconds.
pub(crate) fn rfc3339_or_unix(text: &str, field: &'static str) -> Result<f64, FieldError> {
    if let Ok(x) = text.parse::<f64>()
        && x.is_finite()
        && x >= 0.0
    {
        return Ok(x);
    }
    DateTime::parse_from_rfc3339(text).map(|t| unix(t.timestamp_micros())).map_err(|e| {
        FieldError::new(
            field,
            format!(
                "`{text}` is neither an RFC 3339 time like 2019-10-14T18:34:55.104Z nor Unix seconds ({e})"
            ),
        )
    })
}

fn unix(micros: i64) -> f64 {
    micros as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_examples_parse_to_the_same_instant() {
        // Apache's example (-0700) and its UTC equivalent.
        let apache = common_log("10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(apache, rfc3339_or_unix("2000-10-10T20:55:36Z", "time").unwrap());
        assert_eq!(haproxy("06/Feb/2009:12:14:14.655").unwrap(), 1_233_922_454.655);
        assert!(common_log("10/Oct/2000:13:55").is_err());
        assert!(haproxy("yesterday").is_err());
    }
}
