//! Request and response bodies of the Gemini API (v1beta), as the wire has them.
//!
//! Every struct keeps the fields it does not model in `extra`, and every enum has an `Unknown`
//! fallback, so a new field or value from upstream never breaks parsing.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A string enum that keeps values it does not know.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know.
            Unknown(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => $name::$variant,)+
                    _ => $name::Unknown(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($name::from)
            }
        }
    };
}

open_enum! {
    /// Why a candidate stopped.
    FinishReason {
        /// Unspecified.
        Unspecified = "FINISH_REASON_UNSPECIFIED",
        /// Natural stop.
        Stop = "STOP",
        /// `maxOutputTokens` reached (thinking may have used all of it).
        MaxTokens = "MAX_TOKENS",
        /// Safety filter.
        Safety = "SAFETY",
        /// Recitation of training data.
        Recitation = "RECITATION",
        /// Unsupported language.
        Language = "LANGUAGE",
        /// Other.
        Other = "OTHER",
        /// Blocklisted terms.
        Blocklist = "BLOCKLIST",
        /// Prohibited content.
        ProhibitedContent = "PROHIBITED_CONTENT",
        /// Sensitive personal information.
        Spii = "SPII",
        /// A malformed function call.
        MalformedFunctionCall = "MALFORMED_FUNCTION_CALL",
    }
}

open_enum! {
    /// Why a prompt was blocked.
    BlockReason {
        /// Unspecified.
        Unspecified = "BLOCK_REASON_UNSPECIFIED",
        /// Safety.
        Safety = "SAFETY",
        /// Other.
        Other = "OTHER",
        /// Blocklist.
        Blocklist = "BLOCKLIST",
        /// Prohibited content.
        ProhibitedContent = "PROHIBITED_CONTENT",
        /// Image safety.
        ImageSafety = "IMAGE_SAFETY",
    }
}

/// One part of a message: text, or anything else kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A thought summary part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Everything else (`inlineData`, `functionCall`, `thoughtSignature`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }
}

/// A message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// `user` or `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its parts; absent on some final chunks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Content {
    /// A user message of one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Some("user".to_owned()),
            parts: vec![Part::text(text)],
            extra: Map::new(),
        }
    }

    /// A system instruction (no role).
    pub fn system(text: impl Into<String>) -> Self {
        Self {
            role: None,
            parts: vec![Part::text(text)],
            extra: Map::new(),
        }
    }
}

/// Generation settings (the ones botforge sets; the rest pass through `extra`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature, 0..=2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Output token cap (thinking counts against it on 2.5 models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// `application/json` for structured output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// OpenAPI-subset schema of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// JSON Schema of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// `{"thinkingBudget": n, "includeThoughts": b}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<Value>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `generateContent` / `streamGenerateContent` / `countTokens` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// The conversation.
    pub contents: Vec<Content>,
    /// System instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Generation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Everything else (`tools`, `safetySettings`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GenerateContentRequest {
    /// One user message.
    pub fn from_prompt(prompt: impl Into<String>) -> Self {
        Self {
            contents: vec![Content::user(prompt)],
            ..Self::default()
        }
    }

    /// Characters of text the request carries (prompt and system instruction).
    pub fn text_chars(&self) -> usize {
        self.contents
            .iter()
            .chain(self.system_instruction.iter())
            .flat_map(|c| &c.parts)
            .filter_map(|p| p.text.as_deref())
            .map(|t| t.chars().count())
            .sum()
    }

    /// A local estimate of input tokens (text at about 4 characters a token, rounded up, plus
    /// 5 %; inline media and referenced images by Google's rules, [`crate::inline_tokens`]), so
    /// the pool can reserve TPM without a `countTokens` round trip. Reconciled from
    /// `usageMetadata.promptTokenCount` after the call. Files other than images and cached
    /// contents are not known here ([`Self::names_stored_content`]: the gateway asks
    /// `countTokens` for those).
    pub fn estimate_tokens(&self) -> u64 {
        let chars = self.text_chars() as u64;
        let base = chars.div_ceil(4);
        base + base.div_ceil(20) + 1 + self.media_tokens()
    }

    /// Tokens of the media parts: `inlineData` by its bytes, a `fileData` image one tile.
    pub fn media_tokens(&self) -> u64 {
        let field = |v: &Value, a: &str, b: &str| {
            v.get(a)
                .or_else(|| v.get(b))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        self.contents
            .iter()
            .chain(self.system_instruction.iter())
            .flat_map(|c| &c.parts)
            .map(|p| {
                if let Some(d) = p
                    .extra
                    .get("inlineData")
                    .or_else(|| p.extra.get("inline_data"))
                {
                    crate::inline_tokens(
                        &field(d, "mimeType", "mime_type"),
                        &field(d, "data", "data"),
                    )
                } else if let Some(f) = p.extra.get("fileData").or_else(|| p.extra.get("file_data"))
                {
                    let mime = field(f, "mimeType", "mime_type");
                    if mime.starts_with("image/") {
                        crate::IMAGE_TILE_TOKENS
                    } else {
                        0
                    }
                } else {
                    0
                }
            })
            .sum()
    }

    /// The request's stored content alone (its non-image `fileData` parts and its cached
    /// content), to count.
    pub fn stored_parts(&self) -> StoredParts {
        let parts: Vec<Part> = self
            .contents
            .iter()
            .chain(self.system_instruction.iter())
            .flat_map(|c| &c.parts)
            .filter(|p| {
                p.extra
                    .get("fileData")
                    .or_else(|| p.extra.get("file_data"))
                    .is_some_and(|f| {
                        !f.get("mimeType")
                            .or_else(|| f.get("mime_type"))
                            .and_then(Value::as_str)
                            .is_some_and(|m| m.starts_with("image/"))
                    })
            })
            .cloned()
            .collect();
        let mut extra = Map::new();
        for k in ["cachedContent", "cached_content"] {
            if let Some(v) = self.extra.get(k).filter(|v| !v.is_null()) {
                extra.insert("cachedContent".to_owned(), v.clone());
            }
        }
        StoredParts(Self {
            contents: if parts.is_empty() {
                Vec::new()
            } else {
                vec![Content {
                    role: Some("user".to_owned()),
                    parts,
                    extra: Map::new(),
                }]
            },
            extra,
            ..Self::default()
        })
    }

    /// Whether the request names content stored upstream whose tokens only upstream knows: a
    /// file that is not an image, or a cached content.
    pub fn names_stored_content(&self) -> bool {
        let cached = ["cachedContent", "cached_content"]
            .iter()
            .any(|k| self.extra.get(*k).is_some_and(|v| !v.is_null()));
        cached
            || self
                .contents
                .iter()
                .chain(self.system_instruction.iter())
                .flat_map(|c| &c.parts)
                .filter_map(|p| p.extra.get("fileData").or_else(|| p.extra.get("file_data")))
                .any(|f| {
                    !f.get("mimeType")
                        .or_else(|| f.get("mime_type"))
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.starts_with("image/"))
                })
    }
}

/// A request of stored content only ([`GenerateContentRequest::stored_parts`]).
#[derive(Debug, Clone)]
pub struct StoredParts(pub GenerateContentRequest);

impl std::ops::Deref for StoredParts {
    type Target = GenerateContentRequest;
    fn deref(&self) -> &GenerateContentRequest {
        &self.0
    }
}

impl StoredParts {
    /// The names of what it holds (file URIs, the cache), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .contents
            .iter()
            .flat_map(|c| &c.parts)
            .filter_map(|p| p.extra.get("fileData").or_else(|| p.extra.get("file_data")))
            .filter_map(|f| {
                f.get("fileUri")
                    .or_else(|| f.get("file_uri"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .chain(
                self.0
                    .extra
                    .get("cachedContent")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Token accounting of one response (cumulative in streams).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Input tokens (what TPM counts).
    #[serde(default)]
    pub prompt_token_count: u64,
    /// Output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    /// Thinking tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    /// Tool-use prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
    /// Cached tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    /// Total.
    #[serde(default)]
    pub total_token_count: u64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why the prompt itself was refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// The reason, when blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<BlockReason>,
    /// A message, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason_message: Option<String>,
    /// Unknown fields (`safetyRatings`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One candidate answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The answer; absent when nothing was produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why it stopped (only on the last chunk of a stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Extra words about the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_message: Option<String>,
    /// Index among candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Unknown fields (`safetyRatings`, `citationMetadata`, `groundingMetadata`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `generateContent` response, or one chunk of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// Candidates (empty when the prompt was blocked).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Prompt feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Response id (the same in every chunk of a stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What came out of a call that upstream answered with HTTP 200 but that holds no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoAnswer {
    /// The prompt was blocked (`promptFeedback`).
    #[error("the prompt was blocked ({reason}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    PromptBlocked {
        /// `blockReason`, or `UNSPECIFIED`.
        reason: String,
        /// `blockReasonMessage`.
        message: Option<String>,
    },
    /// Thinking used the whole `maxOutputTokens`: nothing was written.
    #[error(
        "the model used all {thoughts} output tokens thinking and wrote nothing (raise maxOutputTokens or lower the thinking budget)"
    )]
    TruncatedWhileThinking {
        /// `thoughtsTokenCount`.
        thoughts: u64,
    },
    /// A safety filter stopped the answer.
    #[error("stopped by a safety filter after {} characters", partial.chars().count())]
    Safety {
        /// Text produced before the stop.
        partial: String,
    },
    /// Stopped for reciting training data.
    #[error("stopped for recitation after {} characters", partial.chars().count())]
    Recitation {
        /// Text produced before the stop.
        partial: String,
    },
    /// No candidate and no reason.
    #[error("the response has no candidates")]
    Empty,
    /// Stopped for another reason with no text.
    #[error("no text (finish reason {reason}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Other {
        /// The finish reason.
        reason: String,
        /// `finishMessage`.
        message: Option<String>,
    },
}

/// The answer of a response, with how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Concatenated non-thought text of the first candidate.
    pub text: String,
    /// `functionCall` parts of the first candidate.
    pub function_calls: Vec<Value>,
    /// `MAX_TOKENS` with text: the answer is cut short.
    pub truncated: bool,
}

impl GenerateContentResponse {
    /// Non-thought text of the first candidate (empty if none).
    pub fn text(&self) -> String {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|c| {
                c.parts
                    .iter()
                    .filter(|p| p.thought != Some(true))
                    .filter_map(|p| p.text.as_deref())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `functionCall` parts of the first candidate.
    pub fn function_calls(&self) -> Vec<Value> {
        self.candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|c| {
                c.parts
                    .iter()
                    .filter_map(|p| p.extra.get("functionCall").cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Folds the chunks of a stream into one response: the parts in order, the last finish
    /// reason, the last (cumulative) usage, any prompt feedback.
    pub fn merge_stream(chunks: impl IntoIterator<Item = GenerateContentResponse>) -> Self {
        let mut out = Self::default();
        let mut candidate = Candidate::default();
        let mut seen_candidate = false;
        for chunk in chunks {
            for c in chunk.candidates.into_iter().take(1) {
                seen_candidate = true;
                if let Some(content) = c.content {
                    let target = candidate.content.get_or_insert_with(Content::default);
                    if target.role.is_none() {
                        target.role = content.role;
                    }
                    target.parts.extend(content.parts);
                }
                if c.finish_reason.is_some() {
                    candidate.finish_reason = c.finish_reason;
                }
                if c.finish_message.is_some() {
                    candidate.finish_message = c.finish_message;
                }
                candidate.index = c.index.or(candidate.index);
                candidate.extra.extend(c.extra);
            }
            if chunk.prompt_feedback.is_some() {
                out.prompt_feedback = chunk.prompt_feedback;
            }
            if chunk.usage_metadata.is_some() {
                out.usage_metadata = chunk.usage_metadata;
            }
            out.model_version = chunk.model_version.or(out.model_version);
            out.response_id = chunk.response_id.or(out.response_id);
        }
        if seen_candidate {
            out.candidates.push(candidate);
        }
        out
    }

    /// The first candidate's finish reason.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.candidates
            .first()
            .and_then(|c| c.finish_reason.as_ref())
    }

    /// Input tokens reported by upstream.
    pub fn prompt_tokens(&self) -> Option<u64> {
        self.usage_metadata.as_ref().map(|u| u.prompt_token_count)
    }

    /// Interprets the response: the answer, or why there is none. Never "success with empty
    /// text" for a blocked prompt, a safety or recitation stop, or thinking that used every token.
    ///
    /// # Errors
    /// [`NoAnswer`] when upstream answered but produced nothing usable.
    pub fn answer(&self) -> Result<Answer, NoAnswer> {
        let Some(first) = self.candidates.first() else {
            return Err(match &self.prompt_feedback {
                Some(fb) => NoAnswer::PromptBlocked {
                    reason: fb
                        .block_reason
                        .as_ref()
                        .map_or_else(|| "UNSPECIFIED".to_owned(), |r| r.as_str().to_owned()),
                    message: fb.block_reason_message.clone(),
                },
                None => NoAnswer::Empty,
            });
        };
        let text = self.text();
        let function_calls = self.function_calls();
        match &first.finish_reason {
            Some(FinishReason::Safety) => Err(NoAnswer::Safety { partial: text }),
            Some(FinishReason::Recitation) => Err(NoAnswer::Recitation { partial: text }),
            Some(FinishReason::MaxTokens) if text.is_empty() => {
                Err(NoAnswer::TruncatedWhileThinking {
                    thoughts: self
                        .usage_metadata
                        .as_ref()
                        .and_then(|u| u.thoughts_token_count)
                        .unwrap_or(0),
                })
            }
            Some(FinishReason::MaxTokens) => Ok(Answer {
                text,
                function_calls,
                truncated: true,
            }),
            Some(FinishReason::Stop) | None if !text.is_empty() || !function_calls.is_empty() => {
                Ok(Answer {
                    text,
                    function_calls,
                    truncated: false,
                })
            }
            other => Err(NoAnswer::Other {
                reason: other
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |r| r.as_str().to_owned()),
                message: first.finish_message.clone(),
            }),
        }
    }
}

/// `countTokens` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    /// Input tokens of the request.
    pub total_tokens: u64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A model as listed by `GET /v1beta/models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// `models/gemini-2.5-flash`.
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Input token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_limit: Option<u64>,
    /// Output token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_limit: Option<u64>,
    /// `generateContent`, `countTokens`…
    #[serde(default)]
    pub supported_generation_methods: Vec<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /v1beta/models` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListModelsResponse {
    /// One page of models.
    #[serde(default)]
    pub models: Vec<Model>,
    /// Next page, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_survive() {
        let r: FinishReason = serde_json::from_str("\"MISSING_THOUGHT_SIGNATURE\"").unwrap();
        assert_eq!(r, FinishReason::Unknown("MISSING_THOUGHT_SIGNATURE".into()));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"MISSING_THOUGHT_SIGNATURE\""
        );
        let s: FinishReason = serde_json::from_str("\"STOP\"").unwrap();
        assert_eq!(s, FinishReason::Stop);
    }

    #[test]
    fn unknown_fields_round_trip() {
        let json = r#"{"contents":[{"role":"user","parts":[{"text":"hi","videoMetadata":{"x":1}}]}],"tools":[{"a":1}]}"#;
        let r: GenerateContentRequest = serde_json::from_str(json).unwrap();
        assert!(r.extra.contains_key("tools"));
        let back: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(json).unwrap());
    }

    #[test]
    fn estimate_is_about_four_chars_a_token_rounded_up_with_a_margin() {
        let r = GenerateContentRequest::from_prompt("a".repeat(400));
        assert_eq!(r.estimate_tokens(), 100 + 5 + 1);
        assert_eq!(GenerateContentRequest::default().estimate_tokens(), 1);
    }
}
