//! Where the spans go: the OTLP/HTTP traces URL from an explicit endpoint or the standard
//! variables, resolved as the OpenTelemetry specification says.
//!
//! - An explicit endpoint (`--otlp-endpoint`, [`OtlpConfig::endpoint`](crate::OtlpConfig)) and
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` are base URLs: `/v1/traces` is appended (once: a URL that
//!   already ends with it is kept).
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the full traces URL, used as it is.
//! - Precedence: explicit, then the traces variable, then the general one. With none of them,
//!   nothing is exported (no guess at `localhost:4318`).

use crate::OtlpError;

/// The general endpoint variable (a base URL).
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The traces endpoint variable (a full URL).
pub const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The path of the traces signal under a base URL.
pub const TRACES_PATH: &str = "/v1/traces";

/// The traces URL of a base endpoint: `http://host:4318` gives `http://host:4318/v1/traces`.
/// Only `http` and `https` URLs with a host are accepted.
///
/// ```
/// assert_eq!(
///     rlm_otlp::traces_url("http://127.0.0.1:4318/").unwrap(),
///     "http://127.0.0.1:4318/v1/traces"
/// );
/// assert!(rlm_otlp::traces_url("127.0.0.1:4318").is_err());
/// ```
pub fn traces_url(base: &str) -> Result<String, OtlpError> {
    let url = checked(base)?;
    if url.trim_end_matches('/').ends_with(TRACES_PATH) {
        return Ok(url.to_string());
    }
    Ok(format!("{}{TRACES_PATH}", url.trim_end_matches('/')))
}

/// The traces URL to export to, or `None` when no endpoint is configured. `explicit` wins over
/// the variables, read through `var` (the process environment in [`crate::OtlpConfig`]).
pub fn resolve(
    explicit: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, OtlpError> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let Some(base) = explicit {
        return traces_url(base).map(Some);
    }
    if let Some(full) = set(TRACES_ENDPOINT_VAR) {
        return checked(&full)
            .map(|url| Some(url.to_string()))
            .map_err(|e| e.in_var(TRACES_ENDPOINT_VAR));
    }
    if let Some(base) = set(ENDPOINT_VAR) {
        return traces_url(&base)
            .map(Some)
            .map_err(|e| e.in_var(ENDPOINT_VAR));
    }
    Ok(None)
}

/// `url` trimmed, if it is an `http(s)://host...` URL without spaces.
fn checked(url: &str) -> Result<&str, OtlpError> {
    let url = url.trim();
    let invalid = |reason: &'static str| OtlpError::InvalidEndpoint {
        endpoint: url.to_string(),
        reason,
        source_var: None,
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| invalid("it must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid("it has no host"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(invalid("it contains a space"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(explicit: Option<&str>, vars: &[(&str, &str)], expected: Result<Option<&str>, &str>) {
        let var = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        };
        let got = resolve(explicit, var).map_err(|e| e.to_string());
        let expected = expected
            .map(|url| url.map(str::to_string))
            .map_err(str::to_string);
        assert_eq!(got, expected, "{explicit:?} {vars:?}");
    }

    #[test]
    fn endpoints_resolve_as_the_specification_says() {
        let base = "http://collector:4318";
        check(None, &[], Ok(None));
        check(None, &[(ENDPOINT_VAR, "  ")], Ok(None));
        check(Some(base), &[], Ok(Some("http://collector:4318/v1/traces")));
        check(
            Some("https://h/otlp/"),
            &[],
            Ok(Some("https://h/otlp/v1/traces")),
        );
        check(
            Some("http://h:1/v1/traces"),
            &[],
            Ok(Some("http://h:1/v1/traces")),
        );
        check(
            None,
            &[(ENDPOINT_VAR, base)],
            Ok(Some("http://collector:4318/v1/traces")),
        );
        check(
            None,
            &[
                (TRACES_ENDPOINT_VAR, "http://t:9/custom"),
                (ENDPOINT_VAR, base),
            ],
            Ok(Some("http://t:9/custom")),
        );
        check(
            Some("http://flag:1"),
            &[
                (TRACES_ENDPOINT_VAR, "http://t:9/custom"),
                (ENDPOINT_VAR, base),
            ],
            Ok(Some("http://flag:1/v1/traces")),
        );
        check(
            Some("collector:4318"),
            &[],
            Err("invalid OTLP endpoint `collector:4318`: it must start with http:// or https://"),
        );
        check(
            Some("http://:4318"),
            &[],
            Err("invalid OTLP endpoint `http://:4318`: it has no host"),
        );
        check(
            None,
            &[(ENDPOINT_VAR, "localhost:4318")],
            Err(
                "invalid OTLP endpoint `localhost:4318` in OTEL_EXPORTER_OTLP_ENDPOINT: it must start with http:// or https://",
            ),
        );
    }
}
