//! The client builder: code over environment over defaults, invalid settings as config
//! errors, and a `Debug` that hides the key and header values.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::LlmError;
use rlm_gemini::{GeminiBuilderExt, GeminiClient};
use rlm_http::ApiKey;

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn code_overrides_env_and_env_overrides_default() {
    let vars = [
        ("GEMINI_API_KEY", "AIza-env"),
        ("GEMINI_BASE_URL", "http://env.local:1234/"),
    ];
    let client = GeminiClient::builder("m")
        .env_with(env(&vars))
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(),
        "http://env.local:1234/v1beta/models/m:generateContent"
    );
    assert_eq!(
        client.api_key().map(ApiKey::expose_secret),
        Some("AIza-env")
    );
    let client = GeminiClient::builder("models/m2")
        .base_url("http://code.local/proxy")
        .api_key("AIza-code")
        .api_version("v1")
        .env_with(env(&vars))
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(),
        "http://code.local/proxy/v1/models/m2:generateContent"
    );
    assert_eq!(
        client.api_key().map(ApiKey::expose_secret),
        Some("AIza-code")
    );
}

#[test]
fn invalid_settings_are_config_errors() {
    let cases = [
        GeminiClient::builder("").base_url("http://x"),
        GeminiClient::builder("m").base_url("not a url"),
        GeminiClient::builder("m").base_url("ftp://x"),
        GeminiClient::builder("m")
            .base_url("http://x")
            .api_version(""),
        GeminiClient::builder("m")
            .base_url("http://x")
            .api_version("v1/x"),
        GeminiClient::builder("m")
            .base_url("http://x")
            .header("bad name", "v"),
        GeminiClient::builder("m")
            .base_url("http://x")
            .api_key("AIza\nnewline"),
    ];
    for builder in cases {
        let shown = format!("{builder:?}");
        assert!(
            matches!(builder.build(), Err(LlmError::Config { .. })),
            "{shown}"
        );
    }
    // No key, or a blank one: the typed error names the variable to set.
    for builder in [
        GeminiClient::builder("m").env_with(env(&[])),
        GeminiClient::builder("m").api_key("  "),
    ] {
        let shown = format!("{builder:?}");
        assert!(
            matches!(builder.build(), Err(LlmError::MissingApiKey { env_var, .. }) if env_var == "GEMINI_API_KEY"),
            "{shown}"
        );
    }
}

#[test]
fn debug_hides_key_and_header_values() {
    let builder = GeminiClient::builder("m")
        .api_key("AIza-secret-1")
        .header("x-goog-user-project", "project-secret-2");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("AIza-secret-1") && !shown.contains("project-secret-2"),
        "{shown}"
    );
    assert!(shown.contains("ApiKey(***)"), "{shown}");
}
