//! The OpenAI embeddings wire format (`POST /v1/embeddings`).

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// `POST /v1/embeddings` request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input`: one text, texts, or token ids (one list or lists).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

/// `encoding_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// Most inputs in one request (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

impl EmbeddingsRequest {
    /// The texts to embed; token-id inputs are only for OpenAI, which
    /// takes them as they are (`None`).
    pub fn texts(&self) -> Option<Vec<&str>> {
        match &self.input {
            EmbeddingInput::Text(text) => Some(vec![text.as_str()]),
            EmbeddingInput::Texts(texts) => Some(texts.iter().map(String::as_str).collect()),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => None,
        }
    }

    /// How many inputs there are.
    pub fn count(&self) -> usize {
        match &self.input {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(texts) => texts.len(),
            EmbeddingInput::TokenLists(lists) => lists.len(),
        }
    }

    /// The request's size in characters (token ids count four each), for
    /// limit reservations and estimates.
    pub fn chars(&self) -> u64 {
        let chars = match &self.input {
            EmbeddingInput::Text(text) => text.len(),
            EmbeddingInput::Texts(texts) => texts.iter().map(String::len).sum(),
            EmbeddingInput::Tokens(ids) => ids.len() * 4,
            EmbeddingInput::TokenLists(lists) => lists.iter().map(|l| l.len() * 4).sum(),
        };
        chars as u64
    }

    /// Checks the shape; the message names the parameter.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let n = self.count();
        if n == 0 {
            return Err(("input".into(), "must not be empty".into()));
        }
        if n > MAX_INPUTS {
            return Err((
                "input".into(),
                format!("has {n} items; at most {MAX_INPUTS} per request"),
            ));
        }
        if let Some(texts) = self.texts()
            && let Some(i) = texts.iter().position(|t| t.is_empty())
        {
            return Err((format!("input[{i}]"), "must not be empty".into()));
        }
        if self.dimensions == Some(0) {
            return Err(("dimensions".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// One vector in the requested encoding: floats, or base64 of their
/// little-endian bytes.
pub fn encode(vector: &[f32], format: Option<EncodingFormat>) -> Value {
    match format {
        Some(EncodingFormat::Base64) => {
            let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        _ => json!(vector),
    }
}

/// The response body: `vectors` in input order.
pub fn response(
    model: &str,
    vectors: &[Vec<f32>],
    format: Option<EncodingFormat>,
    prompt_tokens: u64,
) -> Value {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| json!({"object": "embedding", "index": index, "embedding": encode(v, format)}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_in_every_shape_and_are_checked() {
        for (input, n) in [
            (json!("one"), 1),
            (json!(["a", "b"]), 2),
            (json!([1, 2, 3]), 1),
            (json!([[1], [2, 3]]), 2),
        ] {
            let r: EmbeddingsRequest =
                serde_json::from_value(json!({"model": "m", "input": input})).expect("parses");
            assert_eq!(r.count(), n);
            assert!(r.validate().is_ok());
        }
        let r: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "m", "input": ["a", ""]})).expect("parses");
        assert_eq!(r.validate().expect_err("empty").0, "input[1]");
    }

    #[test]
    fn base64_is_the_little_endian_floats() {
        let v = [1.0f32, -0.5];
        let encoded = encode(&v, Some(EncodingFormat::Base64));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("string"))
            .expect("base64");
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, v);
    }
}
