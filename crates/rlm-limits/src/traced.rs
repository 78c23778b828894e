//! [`Traced`]: one `tracing` span per LLM call (`gen_ai.chat`, OpenTelemetry GenAI
//! conventions) and one per REPL execution (`rlm.repl.execute`), with the content (prompts,
//! completions, code, output) recorded only when the decorator was built to record it.
//!
//! The spans' target is this module (`rlm_limits::traced`), so `RUST_LOG=rlm_limits=debug`
//! shows them with their content events.

use rlm_core::OnDelta;
use std::sync::Arc;

use async_trait::async_trait;
use rlm_core::{
    CompletionRequest, CompletionResponse, Execution, LanguageModel, LlmError, Message, Repl,
    ReplError, ReplHost, ReplValue, VariableInfo,
};
use tracing::Instrument;

use crate::spans;

/// A [`LanguageModel`] or a [`Repl`] whose every call opens one span.
///
/// - Around a model: one `gen_ai.chat` span per [`LanguageModel::complete`], with
///   `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
///   `gen_ai.response.model`, `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
///   `gen_ai.response.finish_reasons`, and `rlm.retry.attempt` (left empty for the HTTP
///   transport to record). With content, the prompt and the completion are `debug` events
///   inside the span.
/// - Around a REPL session: one `rlm.repl.execute` span per [`Repl::execute`], with
///   `rlm.repl.backend` and `code.bytes`. With content, the code and its output are `debug`
///   events inside the span.
///
/// Content is off unless built [`Traced::with_content`]: logs may be shipped off the machine,
/// and prompts can hold private data.
///
/// ```
/// use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError};
/// use rlm_limits::Traced;
///
/// struct Echo;
/// #[async_trait::async_trait]
/// impl LanguageModel for Echo {
///     fn model_name(&self) -> &str { "echo" }
///     async fn complete(&self, _: CompletionRequest) -> Result<CompletionResponse, LlmError> {
///         Ok(CompletionResponse::text("echo", "hi"))
///     }
/// }
///
/// let quiet = Traced::new(Echo);
/// let verbose = Traced::with_content(Echo); // prompts and completions at `debug`
/// assert_eq!(quiet.model_name(), verbose.model_name());
/// ```
#[derive(Debug, Clone)]
pub struct Traced<T> {
    inner: T,
    content: bool,
}

impl<T> Traced<T> {
    /// Spans without content.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            content: false,
        }
    }

    /// Spans with the content as `debug` events (opt-in).
    pub fn with_content(inner: T) -> Self {
        Self {
            inner,
            content: true,
        }
    }

    /// [`Traced::with_content`] when `content`, else [`Traced::new`].
    pub fn content(inner: T, content: bool) -> Self {
        Self { inner, content }
    }

    /// The wrapped model or session.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

#[async_trait]
impl<M: LanguageModel> LanguageModel for Traced<M> {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn provider_name(&self) -> &str {
        self.inner.provider_name()
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        self.traced(request, |request| self.inner.complete(request))
            .await
    }

    /// The same `gen_ai.chat` span as `complete`, around the inner model's stream.
    async fn complete_streaming(
        &self,
        request: CompletionRequest,
        on_delta: OnDelta,
    ) -> Result<CompletionResponse, LlmError> {
        self.traced(request, |request| {
            self.inner.complete_streaming(request, on_delta)
        })
        .await
    }
}

impl<M: LanguageModel> Traced<M> {
    /// Runs `call` inside a `gen_ai.chat` span that records the response's model, usage and
    /// finish reason, or the error's kind.
    async fn traced<'a, F, Fut>(
        &'a self,
        request: CompletionRequest,
        call: F,
    ) -> Result<CompletionResponse, LlmError>
    where
        F: FnOnce(CompletionRequest) -> Fut,
        Fut: std::future::Future<Output = Result<CompletionResponse, LlmError>> + Send + 'a,
    {
        let model = request
            .model
            .as_deref()
            .unwrap_or_else(|| self.inner.model_name());
        let span = tracing::info_span!(
            spans::LLM_CALL,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = %self.inner.provider_name(),
            gen_ai.request.model = %model,
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.response.finish_reasons = tracing::field::Empty,
            rlm.retry.attempt = tracing::field::Empty,
        );
        if self.content {
            span.in_scope(
                || tracing::debug!(gen_ai.prompt = %render_messages(&request.messages), "prompt"),
            );
        }
        let result = call(request).instrument(span.clone()).await;
        match &result {
            Ok(response) => {
                span.record(spans::RESPONSE_MODEL, response.model.as_str());
                span.record(spans::INPUT_TOKENS, response.usage.input_tokens);
                span.record(spans::OUTPUT_TOKENS, response.usage.output_tokens);
                span.record(
                    spans::FINISH_REASONS,
                    tracing::field::debug(&response.finish_reason),
                );
                if self.content {
                    span.in_scope(
                        || tracing::debug!(gen_ai.completion = %response.text, "completion"),
                    );
                }
            }
            Err(error) => {
                // The error's kind and status only: bodies may quote the prompt.
                let status = match error {
                    LlmError::Http { status, .. } | LlmError::Authentication { status, .. } => {
                        Some(*status)
                    }
                    _ => None,
                };
                span.in_scope(|| {
                    tracing::warn!(error.kind = error.kind(), status, "llm call failed")
                });
            }
        }
        result
    }
}

#[async_trait]
impl<R: Repl> Repl for Traced<R> {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn set_variable(&mut self, name: &str, value: ReplValue) -> Result<(), ReplError> {
        self.inner.set_variable(name, value).await
    }

    async fn get_variable(&mut self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        self.inner.get_variable(name).await
    }

    async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> {
        self.inner.variables().await
    }

    async fn execute(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        let span = tracing::info_span!(
            spans::REPL_EXECUTE,
            rlm.repl.backend = %self.inner.backend_name(),
            code.bytes = code.len(),
        );
        if self.content {
            span.in_scope(|| tracing::debug!(code = %code, "code"));
        }
        let result = self
            .inner
            .execute(code, host)
            .instrument(span.clone())
            .await;
        if self.content
            && let Ok(exec) = &result
        {
            span.in_scope(
                || tracing::debug!(stdout = %exec.stdout, error = exec.error.as_deref(), "output"),
            );
        }
        result
    }
}

/// A conversation as text for a log line: `role: content` per message.
fn render_messages(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        if !out.is_empty() {
            out.push_str("\n---\n");
        }
        out.push_str(m.role.as_str());
        out.push_str(": ");
        out.push_str(&m.content);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rlm_core::{HostCall, HostReply, Usage};
    use tracing::Subscriber;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// Every span opened (name and fields) and every event (its fields), in order.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    struct Fields(String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Seen {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            let mut fields = Fields(format!("span {}", attrs.metadata().name()));
            attrs.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
        fn on_record(
            &self,
            _: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            _: Context<'_, S>,
        ) {
            let mut fields = Fields("record".into());
            values.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut fields = Fields("event".into());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }

    impl Seen {
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
        fn count(&self, prefix: &str) -> usize {
            self.lines()
                .iter()
                .filter(|l| l.starts_with(prefix))
                .count()
        }
    }

    fn capture() -> (Seen, tracing::subscriber::DefaultGuard) {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone());
        (seen, tracing::subscriber::set_default(subscriber))
    }

    struct Model;
    #[async_trait]
    impl LanguageModel for Model {
        fn model_name(&self) -> &str {
            "m1"
        }
        fn provider_name(&self) -> &str {
            "test-provider"
        }
        async fn complete(&self, req: CompletionRequest) -> Result<CompletionResponse, LlmError> {
            if req.messages.is_empty() {
                return Err(LlmError::ContentFilter);
            }
            let mut response = CompletionResponse::text("m1-2025", "the reply");
            response.usage = Usage {
                input_tokens: 7,
                output_tokens: 3,
                ..Usage::default()
            };
            Ok(response)
        }
    }

    fn ask(text: &str) -> CompletionRequest {
        CompletionRequest::new(vec![Message::user(text)])
    }

    #[tokio::test]
    async fn one_chat_span_per_call_with_its_fields() {
        let (seen, _guard) = capture();
        let model = Traced::new(Model);
        model.complete(ask("secret prompt")).await.unwrap();
        model
            .complete(CompletionRequest {
                model: Some("m2".into()),
                ..ask("again")
            })
            .await
            .unwrap();
        assert!(model.complete(CompletionRequest::default()).await.is_err());
        assert_eq!(seen.count("span gen_ai.chat"), 3);
        let lines = seen.lines();
        assert_eq!(
            lines[0],
            "span gen_ai.chat gen_ai.operation.name=\"chat\" gen_ai.provider.name=test-provider gen_ai.request.model=m1"
        );
        assert_eq!(
            lines[1..5],
            [
                "record gen_ai.response.model=\"m1-2025\"",
                "record gen_ai.usage.input_tokens=7",
                "record gen_ai.usage.output_tokens=3",
                "record gen_ai.response.finish_reasons=Stop",
            ]
        );
        assert!(lines[5].contains("gen_ai.request.model=m2"), "{lines:?}");
        // A failed call is one warning with the error's kind, never its body.
        let failures: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("llm call failed"))
            .collect();
        assert_eq!(failures.len(), 1, "{lines:?}");
        assert!(
            failures[0].contains("error.kind=\"content_filter\""),
            "{lines:?}"
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("secret prompt") || l.contains("the reply"))
        );
    }

    #[tokio::test]
    async fn content_is_recorded_only_when_built_with_it() {
        let (seen, _guard) = capture();
        Traced::with_content(Model)
            .complete(ask("secret prompt"))
            .await
            .unwrap();
        let lines = seen.lines();
        assert_eq!(seen.count("span gen_ai.chat"), 1);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("event") && l.contains("gen_ai.prompt=user: secret prompt")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("event") && l.contains("gen_ai.completion=the reply")),
            "{lines:?}"
        );
    }

    struct Session;
    #[async_trait]
    impl Repl for Session {
        fn backend_name(&self) -> &'static str {
            "test-repl"
        }
        async fn set_variable(&mut self, _: &str, _: ReplValue) -> Result<(), ReplError> {
            Ok(())
        }
        async fn get_variable(&mut self, _: &str) -> Result<Option<ReplValue>, ReplError> {
            Ok(None)
        }
        async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> {
            Ok(Vec::new())
        }
        async fn execute(
            &mut self,
            code: &str,
            _: Arc<dyn ReplHost>,
        ) -> Result<Execution, ReplError> {
            Ok(Execution {
                stdout: format!("ran {code}\n"),
                ..Execution::default()
            })
        }
    }

    struct NoHost;
    #[async_trait]
    impl ReplHost for NoHost {
        async fn call(&self, _: HostCall) -> HostReply {
            HostReply::Text(String::new())
        }
    }

    #[tokio::test]
    async fn one_execute_span_per_block_with_opt_in_content() {
        let (seen, _guard) = capture();
        let host: Arc<dyn ReplHost> = Arc::new(NoHost);
        let mut quiet = Traced::new(Box::new(Session) as Box<dyn Repl>);
        quiet.execute("x = 1", host.clone()).await.unwrap();
        quiet.set_variable("y", ReplValue::from("v")).await.unwrap();
        quiet.execute("print(x)", host.clone()).await.unwrap();
        assert_eq!(seen.count("span rlm.repl.execute"), 2);
        assert_eq!(
            seen.lines()[0],
            "span rlm.repl.execute rlm.repl.backend=test-repl code.bytes=5"
        );
        assert!(!seen.lines().iter().any(|l| l.contains("ran x = 1")));

        let mut verbose = Traced::with_content(Session);
        verbose.execute("y = 2", host).await.unwrap();
        assert_eq!(seen.count("span rlm.repl.execute"), 3);
        let lines = seen.lines();
        assert!(
            lines.iter().any(|l| l == "event message=code code=y = 2"),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("stdout=ran y = 2")),
            "{lines:?}"
        );
    }
}
