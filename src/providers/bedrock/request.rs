//! OpenAI chat request → Bedrock Converse input (pure).

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, AutoToolChoice, ContentBlock, ConversationRole, ImageBlock, ImageFormat,
    ImageSource, InferenceConfiguration, Message, SpecificToolChoice, SystemContentBlock, Tool,
    ToolChoice as BedrockToolChoice, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use base64::Engine;

use crate::error::GatewayError;
use crate::openai::{
    ChatCompletionRequest, ContentPart, MessageContent, Role, ToolChoice, ToolChoiceMode,
};
use crate::providers::media::{Image, parse_image};
use crate::providers::{arguments_object, function_role, invalid_field, refuse_n_and_json_mode};

/// Everything a Converse or ConverseStream call carries besides the model.
#[derive(Debug, Clone)]
pub struct ConverseInput {
    /// System prompts.
    pub system: Vec<SystemContentBlock>,
    /// The turns, alternating user and assistant.
    pub messages: Vec<Message>,
    /// Output limit, sampling and stop sequences.
    pub inference: InferenceConfiguration,
    /// Tools and the tool choice, when the request has tools.
    pub tools: Option<ToolConfiguration>,
}

/// Builds the Converse input. Errors name the OpenAI field that cannot be
/// expressed.
pub fn to_converse(req: &ChatCompletionRequest) -> Result<ConverseInput, GatewayError> {
    refuse_n_and_json_mode(req, "bedrock models")?;
    let mut system = Vec::new();
    let mut messages: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    let mut has_tool_blocks = false;
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                for text in texts(m.content.as_ref(), i)? {
                    system.push(SystemContentBlock::Text(text));
                }
                continue;
            }
            Role::User => (
                ConversationRole::User,
                content_blocks(m.content.as_ref(), i)?,
            ),
            Role::Assistant => {
                let mut blocks: Vec<ContentBlock> = texts(m.content.as_ref(), i)?
                    .into_iter()
                    .map(ContentBlock::Text)
                    .collect();
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    has_tool_blocks = true;
                    let input = arguments_object(&call.function.arguments).ok_or_else(|| {
                        invalid_field(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            "must be a JSON object",
                        )
                    })?;
                    let block = ToolUseBlock::builder()
                        .tool_use_id(&call.id)
                        .name(&call.function.name)
                        .input(to_document(&input))
                        .build()
                        .map_err(|e| {
                            invalid_field(format!("messages[{i}].tool_calls[{j}]"), &e.to_string())
                        })?;
                    blocks.push(ContentBlock::ToolUse(block));
                }
                (ConversationRole::Assistant, blocks)
            }
            Role::Tool => {
                has_tool_blocks = true;
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    invalid_field(format!("messages[{i}].tool_call_id"), "is required")
                })?;
                let content: Vec<ToolResultContentBlock> = texts(m.content.as_ref(), i)?
                    .into_iter()
                    .map(ToolResultContentBlock::Text)
                    .collect();
                let block = ToolResultBlock::builder()
                    .tool_use_id(id)
                    .set_content(Some(content))
                    .build()
                    .map_err(|e| {
                        invalid_field(format!("messages[{i}].tool_call_id"), &e.to_string())
                    })?;
                (
                    ConversationRole::User,
                    vec![ContentBlock::ToolResult(block)],
                )
            }
            Role::Function => return Err(function_role(i)),
        };
        if blocks.is_empty() {
            continue;
        }
        // Converse wants turns to alternate: consecutive same-role turns merge.
        match messages.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    if messages.is_empty() {
        return Err(invalid_field(
            "messages".into(),
            "must contain a user or assistant message",
        ));
    }
    let messages = messages
        .into_iter()
        .map(|(role, content)| {
            Message::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(|e| GatewayError::Internal(format!("building a Bedrock message: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let inference = InferenceConfiguration::builder()
        .set_max_tokens(
            req.max_output_tokens()
                .map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
        )
        .set_temperature(req.temperature.map(|t| t as f32))
        .set_top_p(req.top_p.map(|t| t as f32))
        .set_stop_sequences(req.stop.as_ref().map(|s| s.to_vec()))
        .build();

    Ok(ConverseInput {
        system,
        messages,
        inference,
        tools: tool_config(req, has_tool_blocks)?,
    })
}

/// Tools and the choice among them. `tool_choice: "none"` drops the
/// tools, unless the history holds tool blocks (Converse then needs the
/// definitions; the model may still call one).
fn tool_config(
    req: &ChatCompletionRequest,
    has_tool_blocks: bool,
) -> Result<Option<ToolConfiguration>, GatewayError> {
    let defined = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let choice_none = matches!(
        req.tool_choice,
        Some(ToolChoice::Mode(ToolChoiceMode::None))
    );
    if !defined || (choice_none && !has_tool_blocks) {
        return Ok(None);
    }
    let mut tools = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        let schema = t
            .function
            .parameters
            .clone()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
        let spec = ToolSpecification::builder()
            .name(&t.function.name)
            .set_description(t.function.description.clone())
            .input_schema(ToolInputSchema::Json(to_document(&schema)))
            .build()
            .map_err(|e| invalid_field(format!("tools[{i}]"), &e.to_string()))?;
        tools.push(Tool::ToolSpec(spec));
    }
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Mode(ToolChoiceMode::Auto | ToolChoiceMode::None)) => None,
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => {
            Some(BedrockToolChoice::Any(AnyToolChoice::builder().build()))
        }
        Some(ToolChoice::Named(named)) => Some(BedrockToolChoice::Tool(
            SpecificToolChoice::builder()
                .name(&named.function.name)
                .build()
                .map_err(|e| invalid_field("tool_choice".into(), &e.to_string()))?,
        )),
    };
    let choice = choice.or_else(|| {
        req.tool_choice
            .is_some()
            .then(|| BedrockToolChoice::Auto(AutoToolChoice::builder().build()))
    });
    ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(choice)
        .build()
        .map(Some)
        .map_err(|e| invalid_field("tools".into(), &e.to_string()))
}

/// Text-only content (system prompts, assistant text, tool results);
/// empty text is dropped.
fn texts(content: Option<&MessageContent>, i: usize) -> Result<Vec<String>, GatewayError> {
    let mut out = Vec::new();
    match content {
        None => {}
        Some(MessageContent::Text(t)) => out.push(t.clone()),
        Some(MessageContent::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text, .. } => out.push(text.clone()),
                    _ => {
                        return Err(invalid_field(
                            format!("messages[{i}].content[{j}]"),
                            "must be text in this message",
                        ));
                    }
                }
            }
        }
    }
    out.retain(|t| !t.is_empty());
    Ok(out)
}

/// A user turn: text and inline images.
fn content_blocks(
    content: Option<&MessageContent>,
    i: usize,
) -> Result<Vec<ContentBlock>, GatewayError> {
    let Some(MessageContent::Parts(parts)) = content else {
        return Ok(texts(content, i)?
            .into_iter()
            .map(ContentBlock::Text)
            .collect());
    };
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let field = || format!("messages[{i}].content[{j}]");
        match part {
            ContentPart::Text { text, .. } if text.is_empty() => {}
            ContentPart::Text { text, .. } => out.push(ContentBlock::Text(text.clone())),
            ContentPart::ImageUrl { image_url } => {
                out.push(ContentBlock::Image(image(&image_url.url, &field)?));
            }
            _ => {
                return Err(invalid_field(
                    field(),
                    "is not supported by bedrock models (text and images only)",
                ));
            }
        }
    }
    Ok(out)
}

/// An inline image; Converse takes image bytes, not URLs.
fn image(url: &str, field: &dyn Fn() -> String) -> Result<ImageBlock, GatewayError> {
    let (media_type, data) = match parse_image(url) {
        Some(Image::Inline { media_type, data }) => (media_type, data),
        Some(Image::Url { .. }) => {
            return Err(invalid_field(
                format!("{}.image_url.url", field()),
                "must be a data: URI for bedrock models (Converse does not fetch URLs)",
            ));
        }
        None => {
            return Err(invalid_field(
                format!("{}.image_url.url", field()),
                "must be a base64 data: URI or an http(s) URL",
            ));
        }
    };
    let format = match media_type {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(invalid_field(
                format!("{}.image_url.url", field()),
                &format!("has media type {other}; bedrock takes png, jpeg, gif or webp"),
            ));
        }
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| invalid_field(format!("{}.image_url.url", field()), "is not valid base64"))?;
    ImageBlock::builder()
        .format(format)
        .source(ImageSource::Bytes(Blob::new(bytes)))
        .build()
        .map_err(|e| invalid_field(field(), &e.to_string()))
}

/// JSON as a Smithy document.
pub fn to_document(value: &serde_json::Value) -> Document {
    use serde_json::Value;
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Document::Number(Number::PosInt(u)),
            (None, Some(i)) => Document::Number(Number::NegInt(i)),
            _ => Document::Number(Number::Float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

/// A Smithy document as JSON.
pub fn to_json(document: &Document) -> serde_json::Value {
    use serde_json::Value;
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Document::Object(map) => {
            // Sorted, so tool arguments are stable across calls.
            let sorted: std::collections::BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, to_json(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
    }
}
