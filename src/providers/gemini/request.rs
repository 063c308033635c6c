//! OpenAI chat request → Gemini `generateContent` request (pure).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::openai::{
    ChatCompletionRequest, ContentPart, MessageContent, ResponseFormat, Role, ToolChoice,
    ToolChoiceMode,
};
use crate::providers::media::{Image, parse_image};
use crate::providers::{arguments_object, function_role, invalid_field};

/// Signature Gemini accepts in place of a lost thought signature (histories
/// from other models or clients that dropped it).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// `generateContent` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest<'a> {
    pub contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<GeminiTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    pub generation_config: GenerationConfig<'a>,
}

/// One turn: role `user` or `model`.
#[derive(Debug, Serialize)]
pub struct Content<'a> {
    pub role: &'static str,
    pub parts: Vec<Part<'a>>,
}

/// `systemInstruction`.
#[derive(Debug, Serialize)]
pub struct SystemInstruction<'a> {
    pub parts: Vec<Part<'a>>,
}

/// A part: exactly one data field, plus an optional thought signature.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Part<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<MediaRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponsePart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<&'a str>,
}

/// `inlineData`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRef<'a> {
    pub mime_type: &'a str,
    pub data: &'a str,
}

/// `fileData`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRef<'a> {
    pub mime_type: &'a str,
    pub file_uri: &'a str,
}

/// `functionCall` in a model turn.
#[derive(Debug, Serialize)]
pub struct FunctionCallPart<'a> {
    pub name: &'a str,
    pub args: Value,
}

/// `functionResponse` in a user turn.
#[derive(Debug, Serialize)]
pub struct FunctionResponsePart<'a> {
    pub name: &'a str,
    pub response: Value,
}

/// `tools[].functionDeclarations`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeminiTool<'a> {
    pub function_declarations: Vec<FunctionDeclaration<'a>>,
}

/// One function declaration.
#[derive(Debug, Serialize)]
pub struct FunctionDeclaration<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig<'a> {
    pub function_calling_config: FunctionCallingConfig<'a>,
}

/// `functionCallingConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig<'a> {
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<[&'a str; 1]>,
}

/// `generationConfig`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
}

impl GenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_empty()
            && self.candidate_count.is_none()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.response_mime_type.is_none()
    }
}

/// Builds the Gemini request. Errors name the OpenAI field at fault.
pub fn to_gemini(req: &ChatCompletionRequest) -> Result<GenerateContentRequest<'_>, GatewayError> {
    let needs_signature = req.model.starts_with("gemini-3");
    let mut system_parts = Vec::new();
    let mut contents: Vec<Content<'_>> = Vec::new();
    // tool_call_id → function name, from earlier assistant turns.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                let parts = content_parts(m.content.as_ref(), i)?;
                if parts.iter().any(|p| p.text.is_none()) {
                    return Err(invalid_field(
                        format!("messages[{i}].content"),
                        "may only contain text for this role",
                    ));
                }
                system_parts.extend(parts);
                continue;
            }
            Role::User => ("user", content_parts(m.content.as_ref(), i)?),
            Role::Assistant => {
                let mut parts = content_parts(m.content.as_ref(), i)?;
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    call_names.insert(&call.id, &call.function.name);
                    let args = arguments_object(&call.function.arguments).ok_or_else(|| {
                        invalid_field(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            "must be a JSON object",
                        )
                    })?;
                    let signature = thought_signature(&call.extra)
                        .or_else(|| (needs_signature && j == 0).then_some(SKIP_SIGNATURE));
                    parts.push(Part {
                        function_call: Some(FunctionCallPart {
                            name: &call.function.name,
                            args,
                        }),
                        thought_signature: signature,
                        ..Part::default()
                    });
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = call_names
                    .get(id)
                    .copied()
                    .or(m.name.as_deref())
                    .ok_or_else(|| {
                        invalid_field(
                            format!("messages[{i}].tool_call_id"),
                            "does not match a tool call of an earlier assistant message",
                        )
                    })?;
                let text = m
                    .content
                    .as_ref()
                    .map(MessageContent::text)
                    .unwrap_or_default();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(object @ Value::Object(_)) => object,
                    Ok(other) => serde_json::json!({ "output": other }),
                    Err(_) => serde_json::json!({ "output": text }),
                };
                let part = Part {
                    function_response: Some(FunctionResponsePart { name, response }),
                    ..Part::default()
                };
                ("user", vec![part])
            }
            Role::Function => return Err(function_role(i)),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(Content { role, parts }),
        }
    }
    if contents.is_empty() {
        return Err(invalid_field(
            "messages".into(),
            "must contain a user or assistant message",
        ));
    }

    let declarations: Vec<FunctionDeclaration<'_>> = req
        .tools
        .iter()
        .flatten()
        .map(|t| FunctionDeclaration {
            name: &t.function.name,
            description: t.function.description.as_deref(),
            parameters: t.function.parameters.as_ref().map(clean_schema),
        })
        .collect();
    let tool_config = match (&req.tool_choice, declarations.is_empty()) {
        (_, true) | (None, _) => None,
        (Some(choice), false) => Some(ToolConfig {
            function_calling_config: match choice {
                ToolChoice::Mode(ToolChoiceMode::Auto) => FunctionCallingConfig {
                    mode: "AUTO",
                    allowed_function_names: None,
                },
                ToolChoice::Mode(ToolChoiceMode::Required) => FunctionCallingConfig {
                    mode: "ANY",
                    allowed_function_names: None,
                },
                ToolChoice::Mode(ToolChoiceMode::None) => FunctionCallingConfig {
                    mode: "NONE",
                    allowed_function_names: None,
                },
                ToolChoice::Named(named) => FunctionCallingConfig {
                    mode: "ANY",
                    allowed_function_names: Some([named.function.name.as_str()]),
                },
            },
        }),
    };
    let tools = if declarations.is_empty() {
        Vec::new()
    } else {
        vec![GeminiTool {
            function_declarations: declarations,
        }]
    };

    let (response_mime_type, response_json_schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            Some("application/json"),
            json_schema.get("schema").map(clean_schema),
        ),
        Some(ResponseFormat::Text) | None => (None, None),
    };
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system_parts.is_empty()).then_some(SystemInstruction {
            parts: system_parts,
        }),
        tools,
        tool_config,
        generation_config: GenerationConfig {
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.extra.get("top_k"),
            max_output_tokens: req.max_output_tokens(),
            stop_sequences: req.stop.as_ref().map(|s| s.to_vec()).unwrap_or_default(),
            candidate_count: req.n.filter(|n| *n > 1),
            seed: req.extra.get("seed"),
            presence_penalty: req.extra.get("presence_penalty"),
            frequency_penalty: req.extra.get("frequency_penalty"),
            response_mime_type,
            response_json_schema,
        },
    })
}

/// `extra_content.google.thought_signature` of a tool call.
fn thought_signature(extra: &Map<String, Value>) -> Option<&str> {
    extra
        .get("extra_content")?
        .get("google")?
        .get("thought_signature")?
        .as_str()
}

/// Text, inline images and image URLs; empty text is dropped.
fn content_parts(
    content: Option<&MessageContent>,
    i: usize,
) -> Result<Vec<Part<'_>>, GatewayError> {
    fn text_part(text: &str) -> Part<'_> {
        Part {
            text: Some(text),
            ..Part::default()
        }
    }
    let mut parts = Vec::new();
    match content {
        Some(MessageContent::Text(text)) if !text.is_empty() => parts.push(text_part(text)),
        None | Some(MessageContent::Text(_)) => {}
        Some(MessageContent::Parts(list)) => {
            for (j, part) in list.iter().enumerate() {
                match part {
                    ContentPart::Text { text, .. } => {
                        if !text.is_empty() {
                            parts.push(text_part(text));
                        }
                    }
                    ContentPart::ImageUrl { image_url } => {
                        parts.push(match parse_image(&image_url.url) {
                            Some(Image::Inline { media_type, data }) => Part {
                                inline_data: Some(MediaRef {
                                    mime_type: media_type,
                                    data,
                                }),
                                ..Part::default()
                            },
                            Some(Image::Url { url, media_type }) => Part {
                                file_data: Some(FileRef {
                                    mime_type: media_type,
                                    file_uri: url,
                                }),
                                ..Part::default()
                            },
                            None => {
                                return Err(invalid_field(
                                    format!("messages[{i}].content[{j}].image_url.url"),
                                    "must be a base64 data URI or an http(s) URL",
                                ));
                            }
                        })
                    }
                    _ => {
                        return Err(invalid_field(
                            format!("messages[{i}].content[{j}].type"),
                            "is not supported by gemini models (text and image_url are)",
                        ));
                    }
                }
            }
        }
    }
    Ok(parts)
}

/// Schema keywords Gemini's OpenAPI-subset `parameters` accepts.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// Strips JSON-Schema keywords Gemini rejects (`$schema`,
/// `additionalProperties`, `$ref`, `strict`, …), recursively; turns
/// `"type": [T, "null"]` into `type: T` + `nullable` and `const` into `enum`.
pub fn clean_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "properties" => {
                if let Value::Object(props) = value {
                    let cleaned = props
                        .iter()
                        .map(|(k, v)| (k.clone(), clean_schema(v)))
                        .collect();
                    out.insert(key.clone(), Value::Object(cleaned));
                }
            }
            "items" => {
                out.insert(key.clone(), clean_schema(value));
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(options) = value {
                    out.insert(
                        "anyOf".into(),
                        Value::Array(options.iter().map(clean_schema).collect()),
                    );
                }
            }
            "type" => match value {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types
                        .iter()
                        .filter(|t| t.as_str() != Some("null"))
                        .collect();
                    if non_null.len() < types.len() {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                    if let Some(first) = non_null.first() {
                        out.insert("type".into(), (*first).clone());
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
            }
            k if SCHEMA_KEYWORDS.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}
