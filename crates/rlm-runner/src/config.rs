//! The runner's settings and its models.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rlm_core::{CompletionRequest, LanguageModel, LlmError, Message, ReplConfig, Sampling, Tools};
use rlm_limits::{BackendLimits, ConfigError, PriceTable, RunLimits};

use crate::compaction::Compaction;
use crate::observe::DEFAULT_OBSERVATION_LIMIT;

/// Everything the loop can be told, as one bundle.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Run limits (iterations, timeout, budgets), shared by the whole tree.
    pub run: RunLimits,
    /// The seed's recursion limits.
    pub backend: BackendLimits,
    /// Settings of every REPL session (root and children).
    pub repl: ReplConfig,
    /// Replaces the built-in system prompt. The placeholders `{{sub_call_chars}}`,
    /// `{{recursion_note}}` and `{{sandbox_capabilities}}` are filled in if present.
    pub system_prompt: Option<String>,
    /// Per-block observation limit in characters (head and tail are kept).
    pub observation_limit: usize,
    /// How many characters the model is told one sub-call prompt can hold.
    pub sub_call_chars: usize,
    /// Prices used when a provider does not report cost.
    pub prices: PriceTable,
    /// Sampling of the run's own turns (root and child RLMs): temperature, `top_p`, output-token
    /// cap, stop sequences, seed, reasoning effort and provider extras. Empty by default: the
    /// provider's defaults apply.
    pub sampling: Sampling,
    /// Sampling of plain sub-calls (`llm_query`, and `rlm_query` at the depth limit), which go
    /// to the sub-model. A field left unset takes `sampling`'s, except the reasoning effort
    /// and the provider extras, which belong to one model's API ([`Sampling::inherit`]).
    pub sub_sampling: Sampling,
    /// Child prompts up to this many characters are also given to the child as its query;
    /// longer ones are only its `context`, and the child is told to read the task from there.
    pub child_query_chars: usize,
    /// Record prompts, replies and code in `tracing` events (`debug` level, inside the
    /// `gen_ai.chat` and `rlm.repl.execute` spans): how the [`rlm_limits::Traced`] decorators
    /// of every route and REPL session are built. Off by default: logs may be shipped off the
    /// machine, and prompts can hold private data.
    pub trace_content: bool,
    /// Custom tools and data values (`docs/design.md`, "Custom tools"): defined in every session of the
    /// tree (root and child RLMs) and listed in the system prompt.
    pub tools: Tools,
    /// The tools and data of child RLMs (depth ≥ 1) when they differ from the root's, as the
    /// official library's `custom_sub_tools`; `None`: children get [`RunnerConfig::tools`].
    pub sub_tools: Option<Tools>,
    /// When a run's conversation is summarised and replaced by the summary
    /// ([`crate::compaction`]); `None` turns compaction off.
    pub compaction: Option<Compaction>,
    /// OpenEnv `repl_env`'s behaviours where this runtime deliberately differs; all off by
    /// default. The Python package's `recursive_lm.openenv` turns them on.
    pub seed_compat: SeedCompat,
}

/// OpenEnv `repl_env`'s behaviours where this runtime differs on purpose, for code that
/// relies on them (the Python package's `recursive_lm.openenv`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedCompat {
    /// `rlm_query_batched` drops the prompts past `max_children_per_batch`, so the list it
    /// returns is shorter (default: those slots hold an `Error:` string and the list keeps its
    /// length).
    pub truncate_batches: bool,
    /// A code block that prints a line-leading `FINAL(answer)` finishes the run with
    /// `answer` (default: only a `FINAL(...)` call, `FINAL_VAR`, `answer["ready"]`, or
    /// `FINAL(...)` in a reply without code finish).
    pub printed_final: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            run: RunLimits::default(),
            backend: BackendLimits::default(),
            repl: ReplConfig::default(),
            system_prompt: None,
            observation_limit: DEFAULT_OBSERVATION_LIMIT,
            sub_call_chars: 100_000,
            prices: PriceTable::default(),
            sampling: Sampling::default(),
            sub_sampling: Sampling::default(),
            child_query_chars: 4_000,
            trace_content: false,
            tools: Tools::default(),
            sub_tools: None,
            compaction: Some(Compaction::default()),
            seed_compat: SeedCompat::default(),
        }
    }
}

impl RunnerConfig {
    /// The sampling of plain sub-calls as sent: `sub_sampling` over `sampling`.
    pub fn effective_sub_sampling(&self) -> Sampling {
        self.sub_sampling.inherit(&self.sampling)
    }

    /// The custom tools and data of a run at `depth`: [`RunnerConfig::sub_tools`] below the
    /// root when set, else [`RunnerConfig::tools`].
    pub fn tools_at(&self, depth: u32) -> &Tools {
        match &self.sub_tools {
            Some(sub) if depth > 0 => sub,
            _ => &self.tools,
        }
    }

    /// Checks every limit and both samplings' ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.run.validate()?;
        self.backend.validate()?;
        for (field, sampling) in [
            ("sampling", &self.sampling),
            ("sub_sampling", &self.sub_sampling),
        ] {
            sampling.validate().map_err(|e| ConfigError::Invalid {
                field,
                reason: e.to_string(),
            })?;
        }
        for (field, tools) in [
            ("tools", Some(&self.tools)),
            ("sub_tools", self.sub_tools.as_ref()),
        ] {
            if let Some(Err(e)) = tools.map(Tools::validate) {
                return Err(ConfigError::Invalid {
                    field,
                    reason: e.to_string(),
                });
            }
        }
        if self.observation_limit < 100 {
            return Err(ConfigError::Invalid {
                field: "observation_limit",
                reason: "must be at least 100 characters".into(),
            });
        }
        if let Some(compaction) = &self.compaction {
            compaction.validate()?;
        }
        Ok(())
    }
}

/// The models of a run: the root model, an optional model for sub-calls, and models selectable
/// by name with `model=` in a sub-call.
///
/// Routing: the root turns of every run (root and child RLMs) use the root model; `llm_query`
/// uses the sub-model, or the root model when there is none. `model="name"` picks a named
/// model when one is registered under that name. The names of the root and sub models select
/// them too.
///
/// A name that selects nothing: when named models are registered, the sub-call returns
/// `Error: unknown model 'x'; registered models: [a, b]` to the code (a typo must not silently
/// go to the default model). When none are registered, the name is sent as the request's
/// model to the sub-model's provider (an OpenAI-compatible server serves many models), and its
/// usage is booked under that name.
#[derive(Clone)]
pub struct Models {
    root: Arc<dyn LanguageModel>,
    sub: Option<Arc<dyn LanguageModel>>,
    named: BTreeMap<String, Arc<dyn LanguageModel>>,
}

impl fmt::Debug for Models {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Models")
            .field("root", &self.root.model_name())
            .field(
                "sub",
                &self.sub.as_ref().map(|m| m.model_name().to_string()),
            )
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A model chosen for one call, with the model name to send when it differs from the default
/// and the sampling of its kind of call.
#[derive(Clone)]
pub(crate) struct Route {
    pub model: Arc<dyn LanguageModel>,
    pub name_override: Option<String>,
    pub sampling: Arc<Sampling>,
}

/// A `model="name"` that selects no model while named models are registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownModel {
    /// The name asked for.
    pub name: String,
    /// Every name that selects a model (registered names, root and sub model), sorted.
    pub registered: Vec<String>,
}

impl fmt::Display for UnknownModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown model '{}'; registered models: [{}]",
            self.name,
            self.registered.join(", ")
        )
    }
}

impl std::error::Error for UnknownModel {}

impl Route {
    /// The name usage is booked under.
    pub fn name(&self) -> String {
        self.name_override
            .clone()
            .unwrap_or_else(|| self.model.model_name().to_string())
    }

    /// The request for `messages` on this route.
    pub fn request(&self, messages: Vec<Message>) -> CompletionRequest {
        CompletionRequest {
            model: self.name_override.clone(),
            messages,
            sampling: Sampling::clone(&self.sampling),
        }
    }
}

impl Models {
    /// Only a root model.
    pub fn new(root: Arc<dyn LanguageModel>) -> Self {
        Self {
            root,
            sub: None,
            named: BTreeMap::new(),
        }
    }

    /// Sets the model for sub-calls.
    pub fn with_sub(mut self, sub: Arc<dyn LanguageModel>) -> Self {
        self.sub = Some(sub);
        self
    }

    /// Registers a model selectable by `model="name"`.
    pub fn with_named(mut self, name: impl Into<String>, model: Arc<dyn LanguageModel>) -> Self {
        self.named.insert(name.into(), model);
        self
    }

    /// The root model's name.
    pub fn root_name(&self) -> &str {
        self.root.model_name()
    }

    /// The sub-model's name, when one is set.
    pub fn sub_name(&self) -> Option<&str> {
        self.sub.as_ref().map(|m| m.model_name())
    }

    /// The names `model="name"` selects.
    pub fn named_names(&self) -> Vec<&str> {
        self.named.keys().map(String::as_str).collect()
    }

    /// Refuses samplings a model cannot encode, before any request: the root model with
    /// `root`, and the model of plain sub-calls (the sub model, else the root) with `sub`.
    /// Each model says through [`LanguageModel::check_request`] (HTTP providers run their
    /// codec: Anthropic refuses a temperature with extended thinking, Gemini a seed over 32
    /// bits). An empty sampling is not checked. Named models are checked when they are called.
    pub(crate) fn check_sampling(
        &self,
        root: &Sampling,
        sub: &Sampling,
    ) -> Result<(), ConfigError> {
        let sub_model = self.sub.as_ref().unwrap_or(&self.root);
        for (field, model, sampling) in [
            ("sampling", &self.root, root),
            ("sub_sampling", sub_model, sub),
        ] {
            if sampling.is_empty() {
                continue;
            }
            let probe = CompletionRequest::new(vec![Message::user("check")])
                .with_sampling(sampling.clone());
            model.check_request(&probe).map_err(|e| {
                let why = match e {
                    LlmError::Config { message } => message,
                    other => other.to_string(),
                };
                ConfigError::Invalid {
                    field,
                    reason: format!("{} ({}): {why}", model.model_name(), model.provider_name()),
                }
            })?;
        }
        Ok(())
    }

    /// The same routing with every model wrapped by `layer` (once per model).
    pub(crate) fn layered(
        &self,
        layer: impl Fn(Arc<dyn LanguageModel>) -> Arc<dyn LanguageModel>,
    ) -> Self {
        Self {
            root: layer(self.root.clone()),
            sub: self.sub.clone().map(&layer),
            named: self
                .named
                .iter()
                .map(|(name, model)| (name.clone(), layer(model.clone())))
                .collect(),
        }
    }

    /// The model of a run's own turns. An unknown name falls back to the root model: the host
    /// refuses unknown names ([`Models::check_root`]) before it starts a child.
    pub(crate) fn root_route(&self, requested: Option<&str>, sampling: Arc<Sampling>) -> Route {
        self.route(self.root.clone(), requested, sampling.clone())
            .unwrap_or_else(|_| Route {
                model: self.root.clone(),
                name_override: None,
                sampling,
            })
    }

    /// Whether a child RLM may be started with this `model=` name.
    pub(crate) fn check_root(&self, requested: Option<&str>) -> Result<(), UnknownModel> {
        self.route(self.root.clone(), requested, Arc::default())
            .map(drop)
    }

    /// The model of a plain sub-call.
    pub(crate) fn sub_route(
        &self,
        requested: Option<&str>,
        sampling: Arc<Sampling>,
    ) -> Result<Route, UnknownModel> {
        self.route(
            self.sub.clone().unwrap_or_else(|| self.root.clone()),
            requested,
            sampling,
        )
    }

    fn route(
        &self,
        default: Arc<dyn LanguageModel>,
        requested: Option<&str>,
        sampling: Arc<Sampling>,
    ) -> Result<Route, UnknownModel> {
        let to = |model: &Arc<dyn LanguageModel>, name_override: Option<String>| Route {
            model: model.clone(),
            name_override,
            sampling: sampling.clone(),
        };
        let Some(name) = requested else {
            return Ok(to(&default, None));
        };
        if let Some(model) = self.named.get(name) {
            return Ok(to(model, None));
        }
        if name == default.model_name() {
            return Ok(to(&default, None));
        }
        if self.named.is_empty() {
            return Ok(to(&default, Some(name.to_string())));
        }
        let own = std::iter::once(&self.root).chain(self.sub.as_ref());
        if let Some(model) = own.clone().find(|m| m.model_name() == name) {
            return Ok(to(model, None));
        }
        let registered: std::collections::BTreeSet<String> = self
            .named
            .keys()
            .cloned()
            .chain(own.map(|m| m.model_name().to_string()))
            .collect();
        Err(UnknownModel {
            name: name.to_string(),
            registered: registered.into_iter().collect(),
        })
    }
}
