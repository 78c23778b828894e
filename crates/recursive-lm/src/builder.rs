//! [`RlmBuilder`]: configure once, validate in `build()`.

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use rlm_core::{
    EventSink, LanguageModel, ReplFactory, ReplValue, Sampling, Tool, ToolArgs, ToolError, Tools,
};
use rlm_limits::ModelPrice;
use rlm_runner::{Compaction, Models, Runner, RunnerConfig};

use crate::trajectory::TrajectoryWriter;
use crate::{Rlm, RlmError};

/// Builds an [`Rlm`]. Every limit has a setter named after its field.
pub struct RlmBuilder {
    models: Models,
    repls: Option<Arc<dyn ReplFactory>>,
    config: RunnerConfig,
    sinks: Vec<Arc<dyn EventSink>>,
    trajectory: Option<(Arc<TrajectoryWriter>, Option<serde_json::Value>)>,
}

impl std::fmt::Debug for RlmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RlmBuilder")
            .field("models", &self.models)
            .field("config", &self.config)
            .finish()
    }
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty => $($path:ident).+ ; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$($path).+ = value.into();
                self
            }
        )*
    };
}

impl RlmBuilder {
    pub(crate) fn new(model: Arc<dyn LanguageModel>) -> Self {
        Self {
            models: Models::new(model),
            repls: None,
            config: RunnerConfig::default(),
            sinks: Vec::new(),
            trajectory: None,
        }
    }

    /// The model for `llm_query` sub-calls (default: the root model).
    pub fn sub_model(mut self, model: Arc<dyn LanguageModel>) -> Self {
        self.models = self.models.with_sub(model);
        self
    }

    /// A model the code can pick with `llm_query(..., model="name")` (or `rlm_query`). Once
    /// any is registered, a name that selects no model (neither registered nor the root or sub
    /// model's own) gives the code `Error: unknown model 'x'; registered models: [...]`.
    pub fn named_model(mut self, name: impl Into<String>, model: Arc<dyn LanguageModel>) -> Self {
        self.models = self.models.with_named(name, model);
        self
    }

    /// The REPL backend (default: the embedded Monty interpreter, with the `monty` feature).
    pub fn repl(mut self, factory: Arc<dyn ReplFactory>) -> Self {
        self.repls = Some(factory);
        self
    }

    /// Replaces the whole configuration bundle.
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the built-in system prompt (placeholders are documented on
    /// [`RunnerConfig::system_prompt`]).
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.config.system_prompt = Some(prompt.into());
        self
    }

    /// Adds an event subscriber.
    pub fn subscribe(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Writes a trajectory of every completion to `writer` (see [`crate::trajectory`]): the
    /// writer wants the events' content ([`EventSink::wants_content`]), and its header with the
    /// settings is written when the builder builds.
    pub fn trajectory(mut self, writer: Arc<TrajectoryWriter>) -> Self {
        self.trajectory = Some((writer, None));
        self
    }

    /// Like [`RlmBuilder::trajectory`], with application settings (a JSON object, e.g. a
    /// provider name) added to the header's `config`. Secret-looking keys are dropped.
    pub fn trajectory_with(
        mut self,
        writer: Arc<TrajectoryWriter>,
        extra: serde_json::Value,
    ) -> Self {
        self.trajectory = Some((writer, Some(extra)));
        self
    }

    /// Registers a custom tool: a host function the model's code calls as `name(...)` with
    /// JSON-like positional and keyword arguments, listed with `description` in the system
    /// prompt and defined in every session of the tree (child RLMs included). Its error is
    /// raised in the code as a Python exception; the time it takes counts against the block's
    /// time limit. Names are checked by [`RlmBuilder::build`].
    pub fn tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        tool: Arc<dyn Tool>,
    ) -> Self {
        self.config.tools.add_function(name, description, tool);
        self
    }

    /// [`RlmBuilder::tool`] with an async closure:
    /// `.tool_fn("double", "Doubles x.", |call| async move { Ok(json!(call.args[0].as_i64().unwrap_or(0) * 2)) })`.
    pub fn tool_fn<F, Fut>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> Self
    where
        F: Fn(ToolArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, ToolError>> + Send + 'static,
    {
        self.tool(name, description, rlm_core::tool_fn(f))
    }

    /// Registers a data value: a variable `name` bound in every session of the tree (a JSON
    /// value converts with `.into()`), listed with `description` in the system prompt.
    pub fn tool_data(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        value: impl Into<ReplValue>,
    ) -> Self {
        self.config.tools.add_data(name, description, value.into());
        self
    }

    /// Replaces every custom tool and data value at once.
    pub fn tools(mut self, tools: Tools) -> Self {
        self.config.tools = tools;
        self
    }

    /// Gives child RLMs (depth ≥ 1) their own custom tools and data instead of the root's, as
    /// the official library's `custom_sub_tools` (an empty [`Tools`] gives them none).
    pub fn sub_tools(mut self, tools: Tools) -> Self {
        self.config.sub_tools = Some(tools);
        self
    }

    /// Sets the price of a model, used when its provider reports no cost.
    pub fn price(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.config.prices = std::mem::take(&mut self.config.prices).with(model, price);
        self
    }

    setters! {
        /// `max_depth`: 1 (default) makes sub-calls plain LLM calls; 2+ allows child RLMs; 0 disables sub-calls.
        max_depth: u32 => backend.max_depth;
        /// `max_batch_workers`: concurrent calls per batch (default 8).
        max_batch_workers: usize => backend.max_batch_workers;
        /// `max_children_total`: child RLMs in the whole tree.
        max_children_total: Option<u64> => backend.max_children_total;
        /// `max_children_per_batch`: children per `rlm_query_batched` call.
        max_children_per_batch: Option<usize> => backend.max_children_per_batch;
        /// `result_truncation_limit`: sub-call results are cut to this many characters.
        result_truncation_limit: Option<usize> => backend.result_truncation_limit;
        /// `per_child_timeout`: hard timeout of one child run.
        per_child_timeout: Option<Duration> => backend.per_child_timeout;
        /// `max_iterations`: model turns per run (default 30).
        max_iterations: u32 => run.max_iterations;
        /// `timeout`: wall-clock limit of the whole run.
        timeout: Option<Duration> => run.timeout;
        /// `max_tokens`: token budget of the whole tree.
        max_tokens: Option<u64> => run.max_tokens;
        /// `max_cost`: cost budget (USD) of the whole tree.
        max_cost: Option<f64> => run.max_cost;
        /// `max_llm_calls`: LLM calls in the whole tree.
        max_llm_calls: Option<u64> => run.max_llm_calls;
        /// `max_concurrency`: LLM calls in flight at once across the tree.
        max_concurrency: Option<usize> => run.max_concurrency;
        /// `max_errors`: turns in a row whose code raised before the run ends.
        max_errors: Option<u32> => run.max_errors;
        /// `execution_timeout`: time limit of one code block.
        execution_timeout: Duration => repl.execution_timeout;
        /// `max_output_bytes`: printed output kept per block.
        max_output_bytes: usize => repl.max_output_bytes;
        /// `max_memory`: bytes one REPL session's code may hold (2 GiB by default; the context
        /// does not count). Monty enforces it per session when the binary installs
        /// `rlm::monty::memory::SessionAllocator`.
        max_memory: usize => repl.max_memory;
        /// `observation_limit`: characters of each block's output shown to the model.
        observation_limit: usize => observation_limit;
        /// `temperature` of the root model's turns (and of sub-calls that set none).
        temperature: Option<f32> => sampling.temperature;
        /// `sub_temperature`: temperature of plain sub-calls (`llm_query`) to the sub-model
        /// (default: the same as `temperature`).
        sub_temperature: Option<f32> => sub_sampling.temperature;
        /// The output-token cap of the root model's turns (and of sub-calls that set none).
        max_output_tokens: Option<u32> => sampling.max_tokens;
        /// `trace_content`: log prompts, replies and code in `tracing` events (opt-in).
        trace_content: bool => trace_content;
        /// `compaction`: when a long conversation is summarised (default on: 85 % of the
        /// model's known context window, else 400,000 characters); `None` turns it off.
        compaction: Option<Compaction> => compaction;
        /// `seed_compat`: OpenEnv `repl_env`'s behaviours where this runtime differs (off).
        seed_compat: rlm_runner::SeedCompat => seed_compat;
    }

    /// Compacts a conversation once it fills this share of the model's context window
    /// (0 < share ≤ 1; default 0.85). Turns compaction on.
    pub fn compact_at(mut self, share: f64) -> Self {
        self.config
            .compaction
            .get_or_insert_with(Compaction::default)
            .threshold = share;
        self
    }

    /// Compacts a conversation once it passes this many characters when the model's context
    /// window is unknown (default 400,000). Turns compaction on.
    pub fn compact_chars(mut self, chars: usize) -> Self {
        self.config
            .compaction
            .get_or_insert_with(Compaction::default)
            .chars = chars;
        self
    }

    /// The root model's context window in tokens, for compaction (default: known by model
    /// name, see [`rlm_runner::compaction::context_window`]). Turns compaction on.
    pub fn context_window(mut self, tokens: u64) -> Self {
        self.config
            .compaction
            .get_or_insert_with(Compaction::default)
            .context_window = Some(tokens);
        self
    }

    /// The sampling of the root model's turns (root and child RLMs): temperature, `top_p`,
    /// output-token cap, stop sequences, seed, reasoning effort and provider extras. Replaces
    /// what [`RlmBuilder::temperature`] and [`RlmBuilder::max_output_tokens`] set. Each
    /// provider maps it to its own fields (`docs/providers.md`, "Sampling").
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use rlm::{ReasoningEffort, Rlm, Sampling};
    /// # fn demo(root: Arc<dyn rlm::LanguageModel>, sub: Arc<dyn rlm::LanguageModel>) -> Result<(), rlm::RlmError> {
    /// let rlm = Rlm::builder(root)
    ///     .sub_model(sub)
    ///     .sampling(Sampling {
    ///         reasoning_effort: Some(ReasoningEffort::High),
    ///         max_tokens: Some(32_000),
    ///         ..Sampling::default()
    ///     })
    ///     .sub_sampling(Sampling { temperature: Some(0.0), seed: Some(7), ..Sampling::default() })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.config.sampling = sampling;
        self
    }

    /// The sampling of plain sub-calls (`llm_query`, and `rlm_query` at the depth limit) to
    /// the sub-model. A field left unset takes the root's ([`RlmBuilder::sampling`]), except
    /// the reasoning effort and the provider extras, which belong to one model's API.
    /// Replaces what [`RlmBuilder::sub_temperature`] set.
    pub fn sub_sampling(mut self, sampling: Sampling) -> Self {
        self.config.sub_sampling = sampling;
        self
    }

    /// Validates the settings and builds the [`Rlm`].
    ///
    /// # Errors
    /// [`RlmError::Tools`] listing every custom tool name that is reserved, invalid or
    /// registered twice; [`RlmError::UnpricedModels`] when `max_cost` is set and a model of the
    /// run has no known price (neither given with [`RlmBuilder::price`] nor in the built-in
    /// table): the budget could not count its calls; [`RlmError::Config`] for a bad limit;
    /// [`RlmError::NoRepl`]; [`RlmError::Trajectory`].
    pub fn build(self) -> Result<Rlm, RlmError> {
        self.config.tools.validate()?;
        if let Some(sub) = &self.config.sub_tools {
            sub.validate()?;
        }
        if self.config.run.max_cost.is_some() {
            let unpriced = self.unpriced_models();
            if !unpriced.is_empty() {
                return Err(RlmError::UnpricedModels { models: unpriced });
            }
        }
        let repls = match self.repls {
            Some(r) => r,
            None => default_repls()?,
        };
        if let Some((writer, extra)) = &self.trajectory {
            self.config.validate()?;
            let header = writer.header(
                &self.config,
                &self.models,
                repls.backend_name(),
                extra.as_ref(),
            );
            writer.write_header(&header).map_err(RlmError::Trajectory)?;
        }
        let mut runner = Runner::new(self.models, repls, self.config)?;
        for sink in self.sinks {
            runner.subscribe(sink);
        }
        if let Some((writer, _)) = self.trajectory {
            runner.subscribe(writer);
        }
        Ok(Rlm { runner })
    }
}

impl RlmBuilder {
    /// The models of the run with no known price, sorted, without duplicates.
    fn unpriced_models(&self) -> Vec<String> {
        let mut names: Vec<&str> = vec![self.models.root_name()];
        names.extend(self.models.sub_name());
        names.extend(self.models.named_names());
        let mut unpriced: Vec<String> = names
            .into_iter()
            .filter(|name| self.config.prices.price(name).is_none())
            .map(str::to_string)
            .collect();
        unpriced.sort();
        unpriced.dedup();
        unpriced
    }
}

#[cfg(feature = "monty")]
fn default_repls() -> Result<Arc<dyn ReplFactory>, RlmError> {
    Ok(Arc::new(rlm_repl_monty::MontyReplFactory::new()))
}

#[cfg(not(feature = "monty"))]
fn default_repls() -> Result<Arc<dyn ReplFactory>, RlmError> {
    Err(RlmError::NoRepl)
}
