//! Model routing: `--model` and `--sub-model` as `provider:model` or a model name of
//! `--provider`, each built into the right client (OpenAI-compatible, Anthropic, Gemini or an
//! Azure OpenAI deployment) with its keys and endpoint from the provider's variables.

use std::sync::Arc;
use std::time::Duration;

use rlm::LanguageModel;
use rlm::anthropic::{self, AnthropicClient};
use rlm::gemini::{self, GeminiClient};
use rlm::http::{HttpModelBuilder, WireFormat};
use rlm::limits::RetryPolicy;
use rlm::openai::{self, AzureOpenAiClient, OpenAiClient};

use crate::Failure;
use crate::args::{Provider, RunArgs};

impl Provider {
    /// All providers, for parsing `provider:model`.
    const ALL: [Provider; 4] = [
        Provider::Openai,
        Provider::Anthropic,
        Provider::Gemini,
        Provider::Azure,
    ];

    /// The name used in `provider:model` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Azure => "azure",
        }
    }

    /// The variable holding the provider's key.
    pub fn key_var(self) -> &'static str {
        match self {
            Provider::Openai => openai::API_KEY_ENV,
            Provider::Anthropic => anthropic::API_KEY_ENV,
            Provider::Gemini => gemini::API_KEY_ENV,
            Provider::Azure => openai::AZURE_API_KEY_ENV,
        }
    }

    /// The variable holding the provider's endpoint.
    pub fn url_var(self) -> &'static str {
        match self {
            Provider::Openai => openai::BASE_URL_ENV,
            Provider::Anthropic => anthropic::BASE_URL_ENV,
            Provider::Gemini => gemini::BASE_URL_ENV,
            Provider::Azure => openai::AZURE_ENDPOINT_ENV,
        }
    }
}

/// A model as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub provider: Provider,
    pub name: String,
}

/// Parses `provider:model`, or a plain model name of `default`. Only a known provider before
/// the first colon counts as one, so Ollama's `llama3.1:8b` is a model name (and
/// `openai:llama3.1:8b` the same model, explicitly).
pub fn parse_spec(spec: &str, default: Provider) -> Result<ModelSpec, String> {
    let spec = spec.trim();
    let (provider, name) = match spec.split_once(':') {
        Some((prefix, rest)) => match Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(prefix.trim()))
        {
            Some(provider) => (provider, rest.trim()),
            None => {
                if let Some(near) = near_provider(prefix.trim()) {
                    return Err(format!(
                        "unknown provider {:?} in {spec:?}: did you mean {}:{}? (known: openai, anthropic, gemini, azure)",
                        prefix.trim(),
                        near.name(),
                        rest.trim()
                    ));
                }
                (default, spec)
            }
        },
        None => (default, spec),
    };
    if name.is_empty() {
        return Err(format!(
            "no model name in {spec:?}: write provider:model, such as anthropic:claude-sonnet-4-5"
        ));
    }
    Ok(ModelSpec {
        provider,
        name: name.to_string(),
    })
}

/// The provider whose name `prefix` looks like a typo of (`antropic`, `gemni`, `opneai`):
/// at most two edits away, and letters only, so model tags such as Ollama's `llama3.1:8b` or
/// `gemma:2b` stay model names.
fn near_provider(prefix: &str) -> Option<Provider> {
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let prefix = prefix.to_ascii_lowercase();
    Provider::ALL
        .into_iter()
        .find(|p| edit_distance(&prefix, p.name()) <= 2)
}

/// Levenshtein distance of two short ASCII words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<u8> = b.bytes().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The flags that name and configure the models.
pub struct ModelFlags<'a> {
    pub model: &'a str,
    pub sub_model: Option<&'a str>,
    pub base_url: Option<&'a str>,
    pub provider: Provider,
    pub max_retries: Option<u32>,
    pub request_timeout: Option<Duration>,
}

/// A client built for one model.
pub struct Built {
    pub model: Arc<dyn LanguageModel>,
    pub provider: Provider,
    /// Where its requests go, as shown in messages.
    pub endpoint: String,
}

/// The root model and the optional sub model.
pub struct Models {
    pub root: Built,
    pub sub: Option<Built>,
}

impl Models {
    /// Builds the clients named by `--model` and `--sub-model`. `--base-url` goes to the root
    /// model's provider, and to the sub model when it uses the same provider; a sub model of
    /// another provider takes its endpoint from that provider's variable.
    pub fn from_args(args: &RunArgs) -> Result<Models, Failure> {
        Self::from_flags(&ModelFlags {
            model: &args.model,
            sub_model: args.sub_model.as_deref(),
            base_url: args.base_url.as_deref(),
            provider: args.provider,
            max_retries: args.max_retries,
            request_timeout: args.request_timeout,
        })
    }

    /// [`Models::from_args`] for any command with the model flags (`rlm serve` too).
    pub fn from_flags(args: &ModelFlags<'_>) -> Result<Models, Failure> {
        let spec = |text: &str| parse_spec(text, args.provider).map_err(|e| Failure::new(2, e));
        let root_spec = spec(args.model)?;
        let root = build(args, &root_spec, args.base_url)?;
        let sub = match args.sub_model {
            Some(text) => {
                let sub_spec = spec(text)?;
                let base_url = args
                    .base_url
                    .filter(|_| sub_spec.provider == root_spec.provider);
                Some(build(args, &sub_spec, base_url)?)
            }
            None => None,
        };
        Ok(Models { root, sub })
    }

    fn all(&self) -> impl Iterator<Item = &Built> {
        std::iter::once(&self.root).chain(self.sub.as_ref())
    }

    /// The providers in use, root first, each once.
    fn providers(&self) -> Vec<Provider> {
        let mut providers: Vec<Provider> = Vec::new();
        for built in self.all() {
            if !providers.contains(&built.provider) {
                providers.push(built.provider);
            }
        }
        providers
    }

    /// The provider whose endpoint is `url` (the root's when none matches).
    pub fn provider_of(&self, url: &str) -> Provider {
        self.all()
            .find(|b| b.endpoint == url)
            .map_or(self.root.provider, |b| b.provider)
    }

    /// Who refused a key or ran out of quota: the root endpoint when one provider is in use,
    /// else the providers by name.
    pub fn who(&self) -> String {
        match self.providers().as_slice() {
            [_] => self.root.endpoint.clone(),
            many => many
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }

    /// The key variables of the providers in use, `A` or `A or B`.
    pub fn key_vars(&self) -> String {
        self.providers()
            .iter()
            .map(|p| p.key_var())
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

fn config_failure(error: rlm::LlmError) -> Failure {
    match error {
        rlm::LlmError::Config { message } => Failure::new(4, message),
        // The CLI reads keys only from the environment: no builder advice.
        rlm::LlmError::MissingApiKey { provider, env_var } => Failure::new(
            4,
            format!("no API key for {provider}: set the environment variable {env_var}"),
        ),
        other => Failure::new(4, other.to_string()),
    }
}

/// Builds one client with the shared flags (`--request-timeout`, `--max-retries`).
fn build(
    args: &ModelFlags<'_>,
    spec: &ModelSpec,
    base_url: Option<&str>,
) -> Result<Built, Failure> {
    let name = spec.name.as_str();
    let (model, endpoint) = match spec.provider {
        Provider::Openai => configure(args, OpenAiClient::builder(name), base_url)?,
        Provider::Azure => configure(args, AzureOpenAiClient::builder(name), base_url)?,
        Provider::Anthropic => configure(args, AnthropicClient::builder(name), base_url)?,
        Provider::Gemini => configure(args, GeminiClient::builder(name), base_url)?,
    };
    Ok(Built {
        model,
        provider: spec.provider,
        endpoint,
    })
}

/// Applies the environment and the shared flags to `builder` and builds the client; returns it
/// with its endpoint.
fn configure<W: WireFormat>(
    args: &ModelFlags<'_>,
    builder: HttpModelBuilder<W>,
    base_url: Option<&str>,
) -> Result<(Arc<dyn LanguageModel>, String), Failure> {
    let mut builder = builder.env();
    if let Some(url) = base_url {
        builder = builder.base_url(url);
    }
    if let Some(max_retries) = args.max_retries {
        builder = builder.retry_policy(RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        });
    }
    if let Some(timeout) = args.request_timeout {
        builder = builder.timeout(timeout);
    }
    let client = builder.build().map_err(config_failure)?;
    let endpoint = client.endpoint().to_string();
    Ok((Arc::new(client), endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, default: Provider, want: Result<(Provider, &str), ()>) {
        let got = parse_spec(text, default)
            .map(|s| (s.provider, s.name))
            .map_err(|_| ());
        let want = want.map(|(p, n)| (p, n.to_string()));
        assert_eq!(got, want, "{text}");
    }

    #[test]
    fn provider_prefixes_and_plain_names() {
        use Provider::*;
        check("gpt-5-mini", Openai, Ok((Openai, "gpt-5-mini")));
        check(
            "claude-sonnet-4-5",
            Anthropic,
            Ok((Anthropic, "claude-sonnet-4-5")),
        );
        check(
            "anthropic:claude-sonnet-4-5",
            Openai,
            Ok((Anthropic, "claude-sonnet-4-5")),
        );
        check(
            "gemini:gemini-2.5-flash",
            Openai,
            Ok((Gemini, "gemini-2.5-flash")),
        );
        check("azure:my-deployment", Openai, Ok((Azure, "my-deployment")));
        check("OpenAI:gpt-5", Anthropic, Ok((Openai, "gpt-5")));
        // A colon after an unknown prefix is part of the name (Ollama tags).
        check("llama3.1:8b", Openai, Ok((Openai, "llama3.1:8b")));
        check("openai:llama3.1:8b", Gemini, Ok((Openai, "llama3.1:8b")));
        check("anthropic:", Openai, Err(()));
        // A prefix that looks like a misspelt provider is an error with a suggestion; model
        // tags with digits or far from every provider stay names.
        check("antropic:claude-sonnet-4-5", Openai, Err(()));
        check("gemni:gemini-2.5-flash", Openai, Err(()));
        check("opnai:gpt-5", Anthropic, Err(()));
        check("gemma:2b", Openai, Ok((Openai, "gemma:2b")));
        check("qwen2.5:7b", Openai, Ok((Openai, "qwen2.5:7b")));
        check("mistral:latest", Openai, Ok((Openai, "mistral:latest")));
        let err = parse_spec("antropic:claude-x", Openai).unwrap_err();
        assert!(err.contains("did you mean anthropic:claude-x?"), "{err}");
        check("  ", Openai, Err(()));
    }
}
