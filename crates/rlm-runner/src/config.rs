//! The runner's settings and its models.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rlm_core::{LanguageModel, ReplConfig};
use rlm_limits::{BackendLimits, ConfigError, PriceTable, RunLimits};

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
    /// Sampling temperature sent with every call (`None`: the provider's default).
    pub temperature: Option<f32>,
    /// `max_tokens` sent with every call (`None`: the provider's default).
    pub max_output_tokens: Option<u32>,
    /// Child prompts up to this many characters are also given to the child as its query;
    /// longer ones are only its `context`, and the child is told to read the task from there.
    pub child_query_chars: usize,
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
            temperature: None,
            max_output_tokens: None,
            child_query_chars: 4_000,
        }
    }
}

impl RunnerConfig {
    /// Checks every limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.run.validate()?;
        self.backend.validate()?;
        if self.observation_limit < 100 {
            return Err(ConfigError::Invalid {
                field: "observation_limit",
                reason: "must be at least 100 characters".into(),
            });
        }
        Ok(())
    }
}

/// The models of a run: the root model, an optional model for sub-calls, and models selectable
/// by name with `model=` in a sub-call.
///
/// Routing: the root turns of every run (root and child RLMs) use the root model; `llm_query`
/// uses the sub-model, or the root model when there is none. `model="name"` picks a named
/// model when one is registered under that name, and otherwise sends the name as the request's
/// model to the sub-model's provider (an OpenAI-compatible server serves many models).
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

/// A model chosen for one call, with the model name to send when it differs from the default.
#[derive(Clone)]
pub(crate) struct Route {
    pub model: Arc<dyn LanguageModel>,
    pub name_override: Option<String>,
}

impl Route {
    /// The name usage is booked under.
    pub fn name(&self) -> String {
        self.name_override
            .clone()
            .unwrap_or_else(|| self.model.model_name().to_string())
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

    pub(crate) fn root_route(&self, requested: Option<&str>) -> Route {
        self.route(self.root.clone(), requested)
    }

    pub(crate) fn sub_route(&self, requested: Option<&str>) -> Route {
        self.route(
            self.sub.clone().unwrap_or_else(|| self.root.clone()),
            requested,
        )
    }

    fn route(&self, default: Arc<dyn LanguageModel>, requested: Option<&str>) -> Route {
        match requested {
            Some(name) => match self.named.get(name) {
                Some(model) => Route {
                    model: model.clone(),
                    name_override: None,
                },
                None if name == default.model_name() => Route {
                    model: default,
                    name_override: None,
                },
                None => Route {
                    model: default,
                    name_override: Some(name.to_string()),
                },
            },
            None => Route {
                model: default,
                name_override: None,
            },
        }
    }
}
