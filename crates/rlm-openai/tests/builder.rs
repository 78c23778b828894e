//! The client builder: code over environment over defaults, which endpoints need a key, invalid
//! settings as config errors, and a `Debug` that hides the key and header values.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::LlmError;
use rlm_http::ApiKey;
use rlm_openai::OpenAiClient;

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
        ("OPENAI_API_KEY", "sk-env"),
        ("OPENAI_BASE_URL", "http://env.local:1234/v1/"),
    ];
    let client = OpenAiClient::builder("m")
        .env_with(env(&vars))
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(),
        "http://env.local:1234/v1/chat/completions"
    );
    assert_eq!(client.api_key().map(ApiKey::expose_secret), Some("sk-env"));
    let client = OpenAiClient::builder("m")
        .base_url("http://code.local/api/v1")
        .api_key("sk-code")
        .env_with(env(&vars))
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(),
        "http://code.local/api/v1/chat/completions"
    );
    assert_eq!(client.api_key().map(ApiKey::expose_secret), Some("sk-code"));
}

#[test]
fn key_is_required_only_for_api_openai_com() {
    let err = OpenAiClient::builder("m")
        .env_with(env(&[]))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::MissingApiKey { env_var, .. } if env_var == "OPENAI_API_KEY"),
        "{err}"
    );
    let err = OpenAiClient::builder("m")
        .api_key("  ")
        .base_url("https://api.openai.com/v1")
        .build();
    assert!(err.is_err());
    let local = OpenAiClient::builder("m")
        .base_url("http://127.0.0.1:11434/v1")
        .build()
        .unwrap();
    assert!(local.api_key().is_none());
}

#[test]
fn invalid_settings_are_config_errors() {
    let cases = [
        OpenAiClient::builder("").base_url("http://x/v1"),
        OpenAiClient::builder("m").base_url("not a url"),
        OpenAiClient::builder("m").base_url("ftp://x/v1"),
        OpenAiClient::builder("m")
            .base_url("http://x/v1")
            .header("bad name", "v"),
        OpenAiClient::builder("m")
            .base_url("http://x/v1")
            .header("x-ok", "line\nbreak"),
        OpenAiClient::builder("m")
            .base_url("http://x/v1")
            .api_key("sk\nnewline"),
    ];
    for builder in cases {
        let shown = format!("{builder:?}");
        assert!(
            matches!(builder.build(), Err(LlmError::Config { .. })),
            "{shown}"
        );
    }
}

#[test]
fn debug_hides_key_and_header_values() {
    let builder = OpenAiClient::builder("m")
        .api_key("sk-secret-1")
        .header("api-key", "gw-secret-2");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("sk-secret-1") && !shown.contains("gw-secret-2"),
        "{shown}"
    );
    assert!(
        shown.contains("ApiKey(***)") && shown.contains("api-key"),
        "{shown}"
    );
}
