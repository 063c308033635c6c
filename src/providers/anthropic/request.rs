//! OpenAI chat request → Anthropic Messages request (pure).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::openai::{
    ChatCompletionRequest, ContentPart, Extra, MessageContent, Role, ToolChoice, ToolChoiceMode,
};
use crate::providers::media::{Image, parse_image};
use crate::providers::{arguments_object, function_role, invalid_field, refuse_n_and_json_mode};

/// `POST /v1/messages` body.
#[derive(Debug, Serialize)]
pub struct MessagesRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<Block<'a>>,
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<&'a Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<AnthropicToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<&'a Value>,
}

/// One turn; roles alternate.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub role: &'static str,
    pub content: Vec<Block<'a>>,
}

/// A content block.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: &'a str,
        /// `cache_control` and other block fields the client set.
        #[serde(flatten)]
        extra: &'a Extra,
    },
    Image {
        source: ImageSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Vec<Block<'a>>,
    },
}

/// Where an image comes from.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

/// A tool definition.
#[derive(Debug, Serialize)]
pub struct ToolDef<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: Value,
}

/// `tool_choice`.
#[derive(Debug, Serialize)]
pub struct AnthropicToolChoice<'a> {
    pub r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// `metadata`.
#[derive(Debug, Serialize)]
pub struct Metadata<'a> {
    pub user_id: &'a str,
}

static NO_EXTRA: std::sync::LazyLock<Extra> = std::sync::LazyLock::new(Map::new);

/// Output-token limit used when the client sends none (Anthropic requires
/// one): the model's documented maximum for known families, a conservative
/// 8192 for names the table does not know.
pub fn default_max_tokens(model: &str) -> u32 {
    let m = model.strip_prefix("claude-").unwrap_or(model);
    let family = |prefix: &str| m.starts_with(prefix);
    if family("opus-4-0") || family("opus-4-1") || m == "opus-4" || family("opus-4-2025") {
        32_000
    } else if family("opus-4") || family("sonnet-4") || family("haiku-4") || family("3-7-sonnet") {
        64_000
    } else if family("opus-5") || family("sonnet-5") || family("haiku-5") {
        32_000
    } else if family("3-5-") {
        8_192
    } else if family("3-") {
        4_096
    } else {
        8_192
    }
}

/// Builds the Anthropic request. Errors name the OpenAI field that cannot
/// be expressed.
pub fn to_anthropic<'a>(
    req: &'a ChatCompletionRequest,
    stream: bool,
) -> Result<MessagesRequest<'a>, GatewayError> {
    refuse_n_and_json_mode(req, "anthropic models")?;
    let mut system = Vec::new();
    let mut messages: Vec<Message<'a>> = Vec::new();
    let mut has_tool_blocks = false;
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.extend(text_blocks(m.content.as_ref(), i)?);
                continue;
            }
            Role::User => ("user", content_blocks(m.content.as_ref(), i)?),
            Role::Assistant => {
                let mut blocks = text_blocks(m.content.as_ref(), i)?;
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    has_tool_blocks = true;
                    blocks.push(Block::ToolUse {
                        id: &call.id,
                        name: &call.function.name,
                        input: arguments_object(&call.function.arguments).ok_or_else(|| {
                            invalid_field(
                                format!("messages[{i}].tool_calls[{j}].function.arguments"),
                                "must be a JSON object",
                            )
                        })?,
                    });
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                has_tool_blocks = true;
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    invalid_field(format!("messages[{i}].tool_call_id"), "is required")
                })?;
                let content = content_blocks(m.content.as_ref(), i)?;
                (
                    "user",
                    vec![Block::ToolResult {
                        tool_use_id: id,
                        content,
                    }],
                )
            }
            Role::Function => return Err(function_role(i)),
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    if messages.is_empty() {
        return Err(invalid_field(
            "messages".into(),
            "must contain a user or assistant message",
        ));
    }

    let choice_none = matches!(
        req.tool_choice,
        Some(ToolChoice::Mode(ToolChoiceMode::None))
    );
    // tool_choice "none" drops the tools, unless the history holds tool blocks
    // (Anthropic then needs the definitions) — then it says "none" explicitly.
    let send_tools = !choice_none || has_tool_blocks;
    let tools: Vec<ToolDef<'a>> = if send_tools {
        req.tools
            .iter()
            .flatten()
            .map(|t| ToolDef {
                name: &t.function.name,
                description: t.function.description.as_deref(),
                input_schema: t
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            })
            .collect()
    } else {
        Vec::new()
    };
    let disable_parallel = (req.parallel_tool_calls == Some(false)).then_some(true);
    let tool_choice = if tools.is_empty() {
        None
    } else {
        let (kind, name) = match &req.tool_choice {
            None | Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => ("auto", None),
            Some(ToolChoice::Mode(ToolChoiceMode::Required)) => ("any", None),
            Some(ToolChoice::Mode(ToolChoiceMode::None)) => ("none", None),
            Some(ToolChoice::Named(named)) => ("tool", Some(named.function.name.as_str())),
        };
        (req.tool_choice.is_some() || disable_parallel.is_some()).then_some(AnthropicToolChoice {
            r#type: kind,
            name,
            disable_parallel_tool_use: disable_parallel.filter(|_| kind != "none"),
        })
    };

    Ok(MessagesRequest {
        model: &req.model,
        max_tokens: req
            .max_output_tokens()
            .unwrap_or_else(|| default_max_tokens(&req.model)),
        system,
        messages,
        // OpenAI allows 0–2, Anthropic 0–1.
        temperature: req.temperature.map(|t| t.min(1.0)),
        top_p: req.top_p,
        top_k: req.extra.get("top_k"),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()).unwrap_or_default(),
        stream,
        tools,
        tool_choice,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
        thinking: req.extra.get("thinking"),
    })
}

/// Text-only content (system prompts, assistant text); empty text is dropped.
fn text_blocks(content: Option<&MessageContent>, i: usize) -> Result<Vec<Block<'_>>, GatewayError> {
    let blocks = content_blocks(content, i)?;
    if blocks.iter().any(|b| !matches!(b, Block::Text { .. })) {
        return Err(invalid_field(
            format!("messages[{i}].content"),
            "may only contain text for this role",
        ));
    }
    Ok(blocks)
}

/// Text and image blocks; empty text is dropped (Anthropic rejects it).
fn content_blocks(
    content: Option<&MessageContent>,
    i: usize,
) -> Result<Vec<Block<'_>>, GatewayError> {
    let mut blocks = Vec::new();
    match content {
        Some(MessageContent::Text(text)) if !text.is_empty() => {
            blocks.push(Block::Text {
                text,
                extra: &NO_EXTRA,
            });
        }
        None | Some(MessageContent::Text(_)) => {}
        Some(MessageContent::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text, extra } => {
                        if !text.is_empty() {
                            blocks.push(Block::Text { text, extra });
                        }
                    }
                    ContentPart::ImageUrl { image_url } => {
                        let source = match parse_image(&image_url.url) {
                            Some(Image::Inline { media_type, data }) => {
                                ImageSource::Base64 { media_type, data }
                            }
                            Some(Image::Url { url, .. }) => ImageSource::Url { url },
                            None => {
                                return Err(invalid_field(
                                    format!("messages[{i}].content[{j}].image_url.url"),
                                    "must be a base64 data URI or an http(s) URL",
                                ));
                            }
                        };
                        blocks.push(Block::Image { source });
                    }
                    _ => {
                        return Err(invalid_field(
                            format!("messages[{i}].content[{j}].type"),
                            "is not supported by anthropic models (text and image_url are)",
                        ));
                    }
                }
            }
        }
    }
    Ok(blocks)
}
