//! [`Settings`]: what the Python layer asks for, as JSON, and how it becomes an [`Rlm`].
//!
//! The Python classes translate their own keywords (the `rlms` library's, `repl_env`'s) into
//! this one shape; the models are built here with the facade's provider clients. An API key
//! passed in `backend_kwargs` goes straight into the client (never into a log, trace or
//! error); without one the provider's variable is read (`OPENAI_API_KEY`, ...).

use std::sync::Arc;
use std::time::Duration;

use pyo3::PyResult;
use pyo3::exceptions::PyValueError;
use rlm::anthropic::AnthropicClient;
use rlm::gemini::GeminiClient;
use rlm::http::{HttpModelBuilder, WireFormat};
use rlm::limits::RetryPolicy;
use rlm::openai::{AzureOpenAiClient, OpenAiBuilderExt, OpenAiClient};
use rlm::{Compaction, LanguageModel, ReplFactory, Rlm, RlmBuilder, Sampling};
use serde::Deserialize;

/// One model: a provider client.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// `openai` (any OpenAI-compatible server), `azure`, `anthropic` or `gemini`.
    pub provider: String,
    /// The model (Azure: the deployment).
    pub model_name: String,
    /// The endpoint; default: the provider's variable, then its public URL.
    pub base_url: Option<String>,
    /// The key; default: the provider's variable.
    pub api_key: Option<String>,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// Per-request timeout in seconds.
    pub timeout: Option<f64>,
    /// Retries per call.
    pub max_retries: Option<u32>,
}

/// Every setting of an engine. Absent fields keep the library's defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The root model (absent when a Python `llm_chat_fn` serves every call).
    pub root: Option<ModelSettings>,
    /// The model of `llm_query` sub-calls.
    pub sub: Option<ModelSettings>,
    /// Models the code can pick with `model="name"`.
    pub named: Vec<ModelSettings>,
    /// The name a Python chat function is reported under.
    pub chat_model_name: Option<String>,
    /// `monty` (default) or `python`.
    pub environment: Option<String>,
    pub system_prompt: Option<String>,
    pub max_depth: Option<u32>,
    pub max_iterations: Option<u32>,
    pub max_batch_workers: Option<usize>,
    pub max_children_total: Option<u64>,
    pub max_children_per_batch: Option<usize>,
    pub result_truncation_limit: Option<usize>,
    pub per_child_timeout_s: Option<f64>,
    pub timeout_s: Option<f64>,
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub max_llm_calls: Option<u64>,
    pub max_concurrency: Option<usize>,
    pub max_errors: Option<u32>,
    pub execution_timeout_s: Option<f64>,
    /// The root model's sampling (`sampling_args`).
    pub sampling: Option<Sampling>,
    /// The sampling of plain sub-calls (`sub_sampling_args`).
    pub sub_sampling: Option<Sampling>,
    /// Compaction: absent keeps the runtime's default.
    pub compaction: Option<CompactionSettings>,
    /// Data values bound as REPL variables (`custom_tools` entries that are not callables).
    pub tool_data: Vec<ToolData>,
    /// The data values of child RLMs when `custom_sub_tools` differs from `custom_tools`.
    pub sub_tool_data: Option<Vec<ToolData>>,
    /// OpenEnv `repl_env`'s behaviours (`recursive_lm.openenv`): batches past
    /// `max_children_per_batch` are shorter, and a printed `FINAL(...)` finishes.
    pub seed_compat: bool,
}

/// `compaction` / `compaction_threshold_pct` of the official library.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionSettings {
    /// Whether conversations are compacted at all.
    pub enabled: bool,
    /// The share of the context window that triggers it (default 0.85).
    pub threshold: Option<f64>,
}

/// A custom data value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolData {
    /// The variable's name.
    pub name: String,
    /// What the system prompt says about it.
    #[serde(default)]
    pub description: String,
    /// The value.
    pub value: serde_json::Value,
}

fn invalid(message: impl Into<String>) -> pyo3::PyErr {
    PyValueError::new_err(message.into())
}

fn seconds(field: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    value
        .map(|s| {
            Duration::try_from_secs_f64(s).map_err(|_| {
                invalid(format!(
                    "{field} must be a non-negative number of seconds, got {s}"
                ))
            })
        })
        .transpose()
}

impl Settings {
    /// Parses the JSON the Python layer wrote.
    pub fn parse(json: &str) -> PyResult<Settings> {
        serde_json::from_str(json).map_err(|e| invalid(format!("invalid settings: {e}")))
    }

    /// The REPL backend of `environment`.
    pub fn repls(&self) -> PyResult<Arc<dyn ReplFactory>> {
        match self.environment.as_deref() {
            None | Some("monty") => Ok(Arc::new(rlm::monty::MontyReplFactory::new())),
            Some("python") => Ok(Arc::new(rlm::python::PythonReplFactory::new())),
            Some(other) => Err(invalid(format!(
                "unknown environment {other:?}: use \"monty\" (embedded) or \"python\" (CPython subprocess)"
            ))),
        }
    }

    /// A builder with every setting applied, serving `root` (and the sub and named models).
    pub fn builder(&self, root: Arc<dyn LanguageModel>) -> PyResult<RlmBuilder> {
        let mut b = Rlm::builder(root);
        if let Some(sub) = &self.sub {
            b = b.sub_model(model(sub)?);
        }
        for named in &self.named {
            b = b.named_model(named.model_name.clone(), model(named)?);
        }
        b = b.repl(self.repls()?);
        if let Some(prompt) = &self.system_prompt {
            b = b.system_prompt(prompt.clone());
        }
        if let Some(v) = self.max_depth {
            b = b.max_depth(v);
        }
        if let Some(v) = self.max_iterations {
            b = b.max_iterations(v);
        }
        if let Some(v) = self.max_batch_workers {
            b = b.max_batch_workers(v);
        }
        if let Some(v) = self.execution_timeout_s {
            b = b.execution_timeout(Duration::from_secs_f64(v.max(0.0)));
        }
        if let Some(sampling) = &self.sampling {
            b = b.sampling(sampling.clone());
        }
        if let Some(sampling) = &self.sub_sampling {
            b = b.sub_sampling(sampling.clone());
        }
        match &self.compaction {
            None => {}
            Some(c) if !c.enabled => b = b.compaction(None),
            Some(c) => {
                b = b.compaction(Some(Compaction {
                    threshold: c.threshold.unwrap_or(Compaction::default().threshold),
                    ..Compaction::default()
                }));
            }
        }
        for data in &self.tool_data {
            b = b.tool_data(
                data.name.clone(),
                data.description.clone(),
                data.value.clone(),
            );
        }
        if self.seed_compat {
            b = b.seed_compat(rlm::SeedCompat {
                truncate_batches: true,
                printed_final: true,
            });
        }
        Ok(b.max_children_total(self.max_children_total)
            .max_children_per_batch(self.max_children_per_batch)
            .result_truncation_limit(self.result_truncation_limit)
            .per_child_timeout(seconds("per_child_timeout_s", self.per_child_timeout_s)?)
            .timeout(seconds("timeout", self.timeout_s)?)
            .max_tokens(self.max_tokens)
            .max_cost(self.max_cost)
            .max_llm_calls(self.max_llm_calls)
            .max_concurrency(self.max_concurrency)
            .max_errors(self.max_errors))
    }
}

/// Builds the client of one model.
pub fn model(s: &ModelSettings) -> PyResult<Arc<dyn LanguageModel>> {
    let name = s.model_name.as_str();
    match s.provider.as_str() {
        "openai" => configure(s, OpenAiClient::builder(name)),
        "azure" => {
            let mut builder = AzureOpenAiClient::builder(name);
            if let Some(v) = &s.api_version {
                builder = builder.api_version(v.clone());
            }
            configure(s, builder)
        }
        "anthropic" => configure(s, AnthropicClient::builder(name)),
        "gemini" => configure(s, GeminiClient::builder(name)),
        other => Err(invalid(format!(
            "unknown provider {other:?}: openai, azure, anthropic or gemini"
        ))),
    }
}

fn configure<W: WireFormat + 'static>(
    s: &ModelSettings,
    builder: HttpModelBuilder<W>,
) -> PyResult<Arc<dyn LanguageModel>> {
    let mut builder = builder.env();
    if let Some(url) = &s.base_url {
        builder = builder.base_url(url.clone());
    }
    if let Some(key) = &s.api_key {
        builder = builder.api_key(key.clone());
    }
    if let Some(max_retries) = s.max_retries {
        builder = builder.retry_policy(RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        });
    }
    if let Some(timeout) = seconds("timeout", s.timeout)? {
        builder = builder.timeout(timeout);
    }
    let client = builder
        .build()
        .map_err(|e| invalid(format!("cannot build the {} client: {e}", s.provider)))?;
    Ok(Arc::new(client))
}
