//! The fake server seen from a real HTTP client (reqwest) over loopback.
//!
//! Real time with small latencies; assertions are on counts and outcomes, never on durations.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rlm_testkit::{FakeServer, Reply, Script};
use serde_json::{Value, json};

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

async fn post(
    client: &reqwest::Client,
    server: &FakeServer,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{}/chat/completions", server.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-fake")
        .body(body.to_string())
        .send()
        .await
}

#[tokio::test]
async fn plain_request_and_response() {
    let server = FakeServer::start(
        Reply::text("hi there")
            .usage(12, 3)
            .cached_tokens(4)
            .cost(0.25),
    )
    .await;
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/v1"));
    let client = reqwest::Client::new();
    let resp = post(&client, &server, &chat_body("gpt-test"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["choices"][0]["message"]["content"], "hi there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["completion_tokens"], 3);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(body["usage"]["cost"], 0.25);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(req.header("Authorization"), Some("Bearer sk-fake"));
    assert_eq!(req.model(), Some("gpt-test"));
    assert_eq!(req.message_contents(), vec!["hello".to_string()]);
    assert_eq!(req.json.as_ref(), Some(&chat_body("gpt-test")));
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_and_all_close_after_drop() {
    let server = FakeServer::start(Script::always(Reply::text("again"))).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let resp = post(&client, &server, &chat_body("m")).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    assert_eq!(server.request_count(), 3);
    assert_eq!(server.connection_count(), 1);
    assert!(server.requests().iter().all(|r| r.connection_id == 1));
    assert_eq!(server.open_connections(), 1);
    drop(client);
    assert!(server.wait_connections_closed(Duration::from_secs(5)).await);
    assert_eq!(server.in_flight(), 0);
}

#[tokio::test]
async fn other_paths_get_404_and_exhausted_script_gets_500() {
    let server = FakeServer::start(Script::empty()).await;
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{}/models", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("no route for GET /v1/models")
    );
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().await.unwrap(), "fake server: script exhausted");
    server.push(Reply::text("late"));
    assert_eq!(server.queued(), 1);
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn status_reply_carries_headers_and_body() {
    let server = FakeServer::start([
        Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "2"),
        Reply::openai_error(429, "insufficient_quota", "You exceeded your current quota"),
    ])
    .await;
    let client = reqwest::Client::new();
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"error":{"message":"slow down"}}"#
    );
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(body["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn stall_never_answers_until_the_client_gives_up() {
    let server = FakeServer::start(Reply::stall()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = post(&client, &server, &chat_body("m")).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(server.request_count(), 1);
    drop(client);
    assert!(
        server.wait_connections_closed(Duration::from_secs(5)).await,
        "stalled connection stayed open"
    );
    assert_eq!(server.in_flight(), 0);
}

#[tokio::test]
async fn drop_before_headers_is_a_send_error() {
    let server = FakeServer::start([Reply::drop_before_headers(), Reply::text("after")]).await;
    let client = reqwest::Client::new();
    let err = post(&client, &server, &chat_body("m")).await.unwrap_err();
    assert!(!err.is_timeout() && !err.is_status(), "{err:?}");
    // The server keeps serving on a new connection.
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert!(resp.text().await.unwrap().contains("after"));
    assert_eq!(server.connection_count(), 2);
}

#[tokio::test]
async fn drop_mid_body_gives_headers_then_a_body_error() {
    let server = FakeServer::start([Reply::drop_mid_body(), Reply::text("x").cut_body_at(5)]).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let resp = post(&client, &server, &chat_body("m")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let err = resp.bytes().await.unwrap_err();
        assert!(err.is_body() || err.is_decode(), "{err:?}");
    }
    drop(client);
    assert!(server.wait_connections_closed(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn trickled_body_arrives_whole_in_many_reads() {
    let server =
        FakeServer::start(Reply::text("slow but complete").trickle(16, Duration::from_millis(2)))
            .await;
    let client = reqwest::Client::new();
    let mut resp = post(&client, &server, &chat_body("m")).await.unwrap();
    let mut chunks = 0;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        chunks += 1;
        body.extend_from_slice(&chunk);
    }
    assert!(chunks > 3, "body came in {chunks} chunks");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "slow but complete"
    );
}

#[tokio::test]
async fn raw_body_and_raw_http_reach_the_client_as_is() {
    let server = FakeServer::start([
        Reply::raw("<html><body>502 Bad Gateway</body></html>"),
        Reply::raw_http("this is not http\r\n\r\n"),
        Reply::json(json!({"choices": []})).with_status(400),
    ])
    .await;
    let client = reqwest::Client::new();
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert!(resp.text().await.unwrap().starts_with("<html>"));
    assert!(post(&client, &server, &chat_body("m")).await.is_err());
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), r#"{"choices":[]}"#);
}

#[tokio::test]
async fn function_script_answers_from_the_request() {
    let server = FakeServer::start(Script::from_fn(|req| {
        let auth = req.header("authorization").unwrap_or("none").to_string();
        Reply::status(
            401,
            format!("{{\"error\":{{\"message\":\"bad key {auth}\"}}}}"),
        )
    }))
    .await;
    let client = reqwest::Client::new();
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("bad key Bearer sk-fake")
    );
}

#[tokio::test]
async fn peak_concurrency_of_ten_parallel_requests() {
    let server = Arc::new(
        FakeServer::builder()
            .default_latency(Duration::from_millis(50))
            .start(Script::always(Reply::text("ok")))
            .await,
    );
    let client = reqwest::Client::new();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (client, server) = (client.clone(), Arc::clone(&server));
            tokio::spawn(async move {
                let resp = post(&client, &server, &chat_body("m")).await.unwrap();
                resp.bytes().await.unwrap();
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(server.request_count(), 10);
    assert_eq!(server.peak_concurrency(), 10);
    assert_eq!(server.connection_count(), 10);
    assert_eq!(server.in_flight(), 0);
}

#[tokio::test]
async fn per_reply_latency_overrides_default_and_shutdown_closes_everything() {
    let server = FakeServer::builder()
        .default_latency(Duration::from_secs(3600))
        .start([
            Reply::text("fast").latency(Duration::from_millis(1)),
            Reply::stall(),
        ])
        .await;
    let client = reqwest::Client::new();
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 200);
    // A stalled request is pending when the server shuts down: the client sees the connection go.
    let stalled = {
        let (client, url) = (
            client.clone(),
            format!("{}/chat/completions", server.base_url()),
        );
        tokio::spawn(async move { client.post(url).body("{}").send().await })
    };
    while server.request_count() < 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let url = server.url();
    server.shutdown().await;
    assert!(stalled.await.unwrap().is_err());
    assert!(
        client.get(url).send().await.is_err(),
        "listener still accepting after shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_follows_a_paused_clock() {
    let server =
        FakeServer::start(Reply::text("after an hour").latency(Duration::from_secs(3600))).await;
    let start = tokio::time::Instant::now();
    let client = reqwest::Client::new();
    let resp = post(&client, &server, &chat_body("m")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(start.elapsed() >= Duration::from_secs(3600));
}

#[tokio::test]
async fn the_mockall_mocks_are_reexported() {
    use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, Message};
    use rlm_testkit::MockLanguageModel;
    use rlm_testkit::mockall::predicate::function;

    let mut mock = MockLanguageModel::new();
    mock.expect_model_name().return_const("mocked".to_string());
    mock.expect_complete()
        .with(function(|r: &CompletionRequest| r.messages.len() == 1))
        .times(1)
        .returning(|_| Ok(CompletionResponse::text("mocked", "from the mock")));
    assert_eq!(mock.model_name(), "mocked");
    let resp = mock
        .complete(CompletionRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap();
    assert_eq!(resp.text, "from the mock");
}

#[tokio::test]
async fn every_post_path_goes_to_the_script_and_is_recorded() {
    let server = FakeServer::start([
        Reply::anthropic_text("hi from claude")
            .usage(100, 7)
            .cached_tokens(60)
            .cache_creation_tokens(30),
        Reply::gemini_text("hi from gemini")
            .usage(50, 4)
            .cached_tokens(20),
        Reply::anthropic_error(529, "overloaded_error", "Overloaded"),
        Reply::gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted"),
        Reply::anthropic_text("").finish_reason(Some("refusal")),
        Reply::gemini_text("").finish_reason(Some("SAFETY")),
    ])
    .await;
    let client = reqwest::Client::new();
    async fn json_of(resp: reqwest::Response) -> Value {
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
    }
    let send = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let claude = json!({"model": "claude-test", "max_tokens": 10,
                        "messages": [{"role": "user", "content": "hello"}]});
    let gemini =
        json!({"contents": [{"role": "user", "parts": [{"text": "hel"}, {"text": "lo"}]}]});
    let gemini_path = "/v1beta/models/gemini-test:generateContent";

    let resp = send("/v1/messages", claude.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = json_of(resp).await;
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["content"][0]["text"], "hi from claude");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 10);
    assert_eq!(body["usage"]["cache_read_input_tokens"], 60);
    assert_eq!(body["usage"]["cache_creation_input_tokens"], 30);
    assert_eq!(body["usage"]["output_tokens"], 7);

    let body: Value = json_of(send(gemini_path, gemini.clone()).await.unwrap()).await;
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "hi from gemini"
    );
    assert_eq!(body["candidates"][0]["content"]["role"], "model");
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert_eq!(body["modelVersion"], "gemini-test");
    assert_eq!(body["usageMetadata"]["promptTokenCount"], 50);
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 4);
    assert_eq!(body["usageMetadata"]["cachedContentTokenCount"], 20);

    let resp = send("/v1/messages", claude.clone()).await.unwrap();
    assert_eq!(resp.status(), 529);
    let body: Value = json_of(resp).await;
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");

    let resp = send(gemini_path, gemini.clone()).await.unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = json_of(resp).await;
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["error"]["code"], 429);

    let body: Value = json_of(send("/v1/messages", claude).await.unwrap()).await;
    assert_eq!(body["content"], json!([]));
    assert_eq!(body["stop_reason"], "refusal");
    let body: Value = json_of(send(gemini_path, gemini).await.unwrap()).await;
    assert!(body["candidates"][0].get("content").is_none());
    assert_eq!(body["candidates"][0]["finishReason"], "SAFETY");

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/v1/messages",
            gemini_path,
            "/v1/messages",
            gemini_path,
            "/v1/messages",
            gemini_path
        ]
    );
    assert_eq!(requests[0].model(), Some("claude-test"));
    assert_eq!(requests[1].model(), Some("gemini-test"));
    assert_eq!(requests[0].message_contents(), vec!["hello".to_string()]);
    assert_eq!(requests[1].message_contents(), vec!["hello".to_string()]);
}
