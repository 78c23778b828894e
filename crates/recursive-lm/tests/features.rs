//! Each provider feature on its own: the re-exported client reaches the testkit's fake server
//! speaking its wire format. `cargo xtask test` runs this file once per feature
//! (`--no-default-features --features F`), so every feature builds and tests alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(any(feature = "openai", feature = "anthropic", feature = "gemini"))]
use rlm::{CompletionRequest, LanguageModel, Message};
#[cfg(any(feature = "openai", feature = "anthropic", feature = "gemini"))]
use rlm_testkit::{FakeServer, Reply};

#[cfg(any(feature = "openai", feature = "anthropic", feature = "gemini"))]
fn request() -> CompletionRequest {
    CompletionRequest::new(vec![Message::user("hello")])
}

#[cfg(feature = "openai")]
#[tokio::test]
async fn openai_feature_gives_the_openai_client() {
    let server = FakeServer::start(Reply::text("from openai")).await;
    let client = rlm::openai::OpenAiClient::builder("m")
        .base_url(server.base_url())
        .build()
        .unwrap();
    assert_eq!(
        client.complete(request()).await.unwrap().text,
        "from openai"
    );
}

#[cfg(feature = "anthropic")]
#[tokio::test]
async fn anthropic_feature_gives_the_anthropic_client() {
    let server = FakeServer::start(Reply::anthropic_text("from claude")).await;
    let client = rlm::anthropic::AnthropicClient::builder("claude-test")
        .base_url(server.url())
        .api_key("sk-ant-test")
        .build()
        .unwrap();
    assert_eq!(
        client.complete(request()).await.unwrap().text,
        "from claude"
    );
    assert_eq!(server.requests()[0].path, "/v1/messages");
}

#[cfg(feature = "gemini")]
#[tokio::test]
async fn gemini_feature_gives_the_gemini_client() {
    let server = FakeServer::start(Reply::gemini_text("from gemini")).await;
    let client = rlm::gemini::GeminiClient::builder("gemini-test")
        .base_url(server.url())
        .api_key("AIza-test")
        .build()
        .unwrap();
    assert_eq!(
        client.complete(request()).await.unwrap().text,
        "from gemini"
    );
    assert_eq!(
        server.requests()[0].path,
        "/v1beta/models/gemini-test:generateContent"
    );
}

#[test]
fn the_builder_needs_a_repl_only_without_one() {
    let model = std::sync::Arc::new(rlm_testkit::ScriptedModel::from_fn("m", |_| "x"));
    let built = rlm::Rlm::builder(model).build();
    assert_eq!(
        built.is_ok(),
        cfg!(feature = "monty"),
        "the default REPL comes with the monty feature"
    );
}
