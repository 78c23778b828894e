//! `--trace FILE`: what the CLI adds to the trajectory header (the library adds the models,
//! limits and settings). Nothing secret goes in: keys are never passed here, and a password
//! in the endpoint URL is masked.

use serde_json::{Value, json};

/// The CLI's settings for the header's `config`: `sub_provider` is the sub model's provider
/// when `--sub-model` is given.
pub fn header_settings(
    provider: &str,
    sub_provider: Option<&str>,
    sandbox: &str,
    endpoint: &str,
    query: &str,
) -> Value {
    json!({
        "provider": provider,
        "sub_provider": sub_provider,
        "sandbox": sandbox,
        "endpoint": redact_url(endpoint),
        "query": query,
        "cli": concat!("rlm ", env!("CARGO_PKG_VERSION")),
    })
}

/// `url` with any `user:password@` part masked.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked() {
        assert_eq!(redact_url("http://127.0.0.1:8/v1"), "http://127.0.0.1:8/v1");
        assert_eq!(
            redact_url("https://me:pw@host/v1/x@y"),
            "https://***@host/v1/x@y"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
