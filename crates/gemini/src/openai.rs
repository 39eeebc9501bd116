//! What the pool reserves for a request to Gemini's OpenAI-compatible endpoint: its input tokens
//! estimated from the text it carries (and media as Gemini counts them), not from the size of
//! its body, whose JSON framing and base64 media would reserve many times too much.

use serde::Deserialize;

/// Tokens Gemini counts for one image (one 768×768 tile; smaller images count the same).
pub const IMAGE_TOKENS: u64 = 258;
/// Tokens Gemini counts per second of audio.
const AUDIO_TOKENS_PER_SECOND: u64 = 32;
/// Bytes per second assumed for audio whose length is not given (128 kbit/s).
const AUDIO_BYTES_PER_SECOND: u64 = 16_000;

// Only what the estimate needs is read; every other field (and an image's base64) is skipped.
#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    messages: Vec<Message>,
    /// An `embeddings` body's input.
    #[serde(default)]
    input: Option<Input>,
}

/// What `embeddings` takes: text, texts, or tokens already.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u64>),
    TokenLists(Vec<Vec<u64>>),
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    input_audio: Option<Audio>,
}

#[derive(Deserialize)]
struct Audio {
    #[serde(default)]
    data: String,
}

/// The input tokens of a `chat/completions` body: about 4 characters of message text a token
/// (plus 5 %, as for native requests), [`IMAGE_TOKENS`] per image, 32 a second of audio. A body
/// that does not parse falls back to its size (4 bytes a token): upstream will refuse it anyway.
pub fn estimate_chat_tokens(body: &[u8]) -> u64 {
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return (body.len() as u64).div_ceil(4);
    };
    let mut chars = 0u64;
    let mut media = 0u64;
    for m in &parsed.messages {
        match &m.content {
            Some(Content::Text(t)) => chars += t.chars().count() as u64,
            Some(Content::Parts(parts)) => {
                for p in parts {
                    match p.kind.as_str() {
                        "image_url" | "image" => media += IMAGE_TOKENS,
                        "input_audio" => {
                            let bytes =
                                p.input_audio.as_ref().map_or(0, |a| a.data.len()) as u64 * 3 / 4;
                            let seconds = bytes.div_ceil(AUDIO_BYTES_PER_SECOND).max(1);
                            media += seconds * AUDIO_TOKENS_PER_SECOND;
                        }
                        _ => {
                            chars += p.text.as_ref().map_or(0, |t| t.chars().count()) as u64;
                        }
                    }
                }
            }
            None => {}
        }
    }
    match &parsed.input {
        Some(Input::Text(t)) => chars += t.chars().count() as u64,
        Some(Input::Texts(ts)) => chars += ts.iter().map(|t| t.chars().count() as u64).sum::<u64>(),
        Some(Input::Tokens(t)) => media += t.len() as u64,
        Some(Input::TokenLists(ts)) => media += ts.iter().map(|t| t.len() as u64).sum::<u64>(),
        None => {}
    }
    let base = chars.div_ceil(4);
    base + base.div_ceil(20) + 1 + media
}

/// The input tokens of a native body that is not a `generateContent` request (an
/// `embedContent`, `batchEmbedContents` or interaction one): every `text` in it (and an
/// interaction's `input` string), about 4 characters a token
/// plus 5 %, as for generation. A body that does not parse falls back to its size.
pub fn estimate_text_tokens(body: &[u8]) -> u64 {
    fn chars(v: &serde_json::Value) -> u64 {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .map(|(k, v)| match v {
                    // `input`: an interaction's prompt given as one string.
                    serde_json::Value::String(t) if k == "text" || k == "input" => {
                        t.chars().count() as u64
                    }
                    other => chars(other),
                })
                .sum(),
            serde_json::Value::Array(a) => a.iter().map(chars).sum(),
            _ => 0,
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (body.len() as u64).div_ceil(4);
    };
    let base = chars(&v).div_ceil(4);
    base + base.div_ceil(20) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted_not_json_or_base64() {
        let text = "x".repeat(400);
        let body = serde_json::json!({
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", "A".repeat(200_000))}}
                ]}
            ]
        })
        .to_string();
        // 408 characters → 102 + 6 + 1, plus one image; the body is over 200 kB.
        assert_eq!(estimate_chat_tokens(body.as_bytes()), 109 + IMAGE_TOKENS);
        assert!((body.len() as u64) / 4 > 50_000);
        let audio = serde_json::json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "A".repeat(64_000), "format": "wav"}}]}]})
        .to_string();
        // 48,000 bytes of audio ≈ 3 s at 128 kbit/s.
        assert_eq!(estimate_chat_tokens(audio.as_bytes()), 1 + 3 * 32);
        assert_eq!(estimate_chat_tokens(b"[1, 2]"), 2, "unparsable: its size");
    }

    #[test]
    fn embedding_inputs_are_counted_by_their_text() {
        let t = "y".repeat(400);
        // 400 characters → 100 + 5 + 1 whichever way the text comes.
        for body in [
            serde_json::json!({"model": "gemini-embedding-001", "input": t}),
            serde_json::json!({"input": [t[..200].to_owned(), t[200..].to_owned()]}),
        ] {
            assert_eq!(estimate_chat_tokens(body.to_string().as_bytes()), 106);
        }
        let tokens = serde_json::json!({"input": [[1, 2, 3], [4, 5]]}).to_string();
        assert_eq!(estimate_chat_tokens(tokens.as_bytes()), 1 + 5);
        let native = serde_json::json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t[..100].to_owned()}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t[100..].to_owned()}]},
             "taskType": "RETRIEVAL_DOCUMENT", "title": "not counted"}
        ]})
        .to_string();
        assert_eq!(estimate_text_tokens(native.as_bytes()), 106);
        assert_eq!(estimate_text_tokens(b"{"), 1, "unparsable: its size");
    }
}
