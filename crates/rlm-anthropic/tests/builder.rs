//! The client builder: code over environment over defaults, invalid settings as config
//! errors, and a `Debug` that hides the key and header values.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_anthropic::{AnthropicBuilderExt, AnthropicClient};
use rlm_core::LlmError;
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
        ("ANTHROPIC_API_KEY", "sk-ant-env"),
        ("ANTHROPIC_BASE_URL", "http://env.local:1234/"),
    ];
    let client = AnthropicClient::builder("m")
        .env_with(env(&vars))
        .build()
        .unwrap();
    assert_eq!(client.endpoint(), "http://env.local:1234/v1/messages");
    assert_eq!(
        client.api_key().map(ApiKey::expose_secret),
        Some("sk-ant-env")
    );
    let client = AnthropicClient::builder("m")
        .base_url("http://code.local/proxy")
        .api_key("sk-ant-code")
        .env_with(env(&vars))
        .build()
        .unwrap();
    assert_eq!(client.endpoint(), "http://code.local/proxy/v1/messages");
    assert_eq!(
        client.api_key().map(ApiKey::expose_secret),
        Some("sk-ant-code")
    );
}

#[test]
fn invalid_settings_are_config_errors() {
    let cases = [
        AnthropicClient::builder("").base_url("http://x"),
        AnthropicClient::builder("m").base_url("not a url"),
        AnthropicClient::builder("m").base_url("ftp://x"),
        AnthropicClient::builder("m")
            .base_url("http://x")
            .max_tokens(0),
        AnthropicClient::builder("m")
            .base_url("http://x")
            .header("bad name", "v"),
        AnthropicClient::builder("m")
            .base_url("http://x")
            .api_key("sk\nnewline"),
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
        AnthropicClient::builder("m").env_with(env(&[])),
        AnthropicClient::builder("m").api_key("  "),
    ] {
        let shown = format!("{builder:?}");
        assert!(
            matches!(builder.build(), Err(LlmError::MissingApiKey { env_var, .. }) if env_var == "ANTHROPIC_API_KEY"),
            "{shown}"
        );
    }
}

#[test]
fn debug_hides_key_and_header_values() {
    let builder = AnthropicClient::builder("m")
        .api_key("sk-ant-secret-1")
        .header("anthropic-beta", "beta-secret-2");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("sk-ant-secret-1") && !shown.contains("beta-secret-2"),
        "{shown}"
    );
    assert!(shown.contains("ApiKey(***)"), "{shown}");
}
