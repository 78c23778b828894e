//! The retry hints servers put in response headers.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// The wait a response asks for: `retry-after-ms` (milliseconds, float), else `Retry-After` as
/// seconds (integer or float) or as an HTTP date. `None` when absent, unparsable, zero,
/// negative or in the past (the caller then uses its own backoff). A value too large for a
/// `Duration` becomes [`Duration::MAX`], so it is refused by any cap.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return positive_secs(ms / 1000.0);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return positive_secs(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

fn positive_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// The server's explicit verdict in `x-should-retry: true|false`, which overrides every other
/// rule.
pub(crate) fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_5s = httpdate::fmt_http_date(now + Duration::from_secs(5));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<Duration>);
        let cases: Vec<Case<'_>> = vec![
            (vec![], None),
            (
                vec![("retry-after-ms", "1500")],
                Some(Duration::from_millis(1500)),
            ),
            (
                vec![("retry-after-ms", "250.5"), ("retry-after", "9")],
                Some(Duration::from_micros(250_500)),
            ),
            (
                vec![("retry-after-ms", "junk"), ("retry-after", "2")],
                Some(Duration::from_secs(2)),
            ),
            (
                vec![("retry-after", "0.5")],
                Some(Duration::from_millis(500)),
            ),
            (vec![("retry-after", "0")], None),
            (vec![("retry-after", "-3")], None),
            (vec![("retry-after", "1e300")], Some(Duration::MAX)),
            (
                vec![("retry-after", in_5s.as_str())],
                Some(Duration::from_secs(5)),
            ),
            (vec![("retry-after", past.as_str())], None),
            (vec![("retry-after", "soon")], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(retry_after(&headers(&pairs), now), want, "{pairs:?}");
        }
    }

    #[test]
    fn should_retry_header() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "false")])),
            Some(false)
        );
        assert_eq!(should_retry(&headers(&[("x-should-retry", "maybe")])), None);
        assert_eq!(should_retry(&headers(&[])), None);
    }
}
