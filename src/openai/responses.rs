//! The OpenAI Responses API wire format (`POST /v1/responses`): the request
//! as clients send it, translated to and from the canonical chat format.
//! Items and response objects are kept as JSON: the gateway reads the
//! fields it translates and echoes the rest.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::chat::{
    AssistantMessage, ChatCompletion, ChatCompletionRequest, ChatMessage, ContentPart,
    FinishReason, FunctionCall, FunctionDefinition, FunctionName, ImageUrl, MessageContent,
    NamedToolChoice, ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolChoiceMode, ToolType,
    Usage,
};

/// `POST /v1/responses` request body.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    pub reasoning: Option<Value>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub conversation: Option<Value>,
    #[serde(default)]
    pub prompt: Option<Value>,
    /// Accepted and ignored: `include`, `truncation`, `service_tier`,
    /// `prompt_cache_key`, `safety_identifier`, `stream_options`, …
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a request cannot be translated: the message and the offending
/// parameter.
pub type Invalid = (String, String);

fn invalid(param: impl Into<String>, message: impl Into<String>) -> Invalid {
    (message.into(), param.into())
}

impl ResponsesRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the response is to be stored (the default).
    pub fn stores(&self) -> bool {
        self.store != Some(false)
    }

    /// The new input as items: a string is one user message.
    pub fn input_items(&self) -> Result<Vec<Value>, Invalid> {
        match &self.input {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(text)) => Ok(vec![json!({
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}],
            })]),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(invalid("input", "must be a string or a list of items")),
        }
    }

    /// The canonical chat request: `history` (the stored conversation of
    /// `previous_response_id`) and then `input`, after the instructions.
    pub fn to_chat(
        &self,
        history: &[Value],
        input: &[Value],
    ) -> Result<ChatCompletionRequest, Invalid> {
        for (field, set) in [
            ("background", self.background == Some(true)),
            ("conversation", self.conversation.is_some()),
            ("prompt", self.prompt.is_some()),
        ] {
            if set {
                return Err(invalid(
                    field,
                    format!(
                        "'{field}' is not supported by this gateway; use previous_response_id for conversation state"
                    ),
                ));
            }
        }
        let mut messages = Vec::new();
        if let Some(instructions) = self.instructions.as_ref().filter(|i| !i.is_empty()) {
            messages.push(message(
                Role::System,
                MessageContent::Text(instructions.clone()),
            ));
        }
        for (i, item) in history.iter().chain(input).enumerate() {
            add_item(&mut messages, item).map_err(|(m, p)| {
                let at = i.checked_sub(history.len()).map_or_else(
                    || format!("previous_response_id (stored item {i})"),
                    |n| format!("input[{n}]{p}"),
                );
                (m, at)
            })?;
        }
        if messages.iter().all(|m| m.role == Role::System) {
            return Err(invalid("input", "there is no input to answer"));
        }
        let mut extra = Map::new();
        if let Some(effort) = self
            .reasoning
            .as_ref()
            .and_then(|r| r.get("effort"))
            .filter(|e| !e.is_null())
        {
            extra.insert("reasoning_effort".into(), effort.clone());
        }
        Ok(ChatCompletionRequest {
            model: self.model.clone(),
            messages,
            stream: self.stream,
            stream_options: None,
            max_tokens: None,
            max_completion_tokens: self.max_output_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            n: None,
            stop: None,
            tools: self.chat_tools()?,
            tool_choice: self.chat_tool_choice()?,
            parallel_tool_calls: self.parallel_tool_calls,
            response_format: self.chat_format()?,
            user: self.user.clone(),
            extra,
        })
    }

    fn chat_tools(&self) -> Result<Option<Vec<Tool>>, Invalid> {
        let Some(tools) = &self.tools else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for (i, tool) in tools.iter().enumerate() {
            let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
            if kind != "function" {
                return Err(invalid(
                    format!("tools[{i}].type"),
                    format!(
                        "the built-in tool '{kind}' is not available through this gateway: only function tools are"
                    ),
                ));
            }
            let name = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid(format!("tools[{i}].name"), "a function tool needs a name")
            })?;
            out.push(Tool {
                r#type: ToolType::Function,
                function: FunctionDefinition {
                    name: name.to_owned(),
                    description: tool
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    parameters: tool.get("parameters").filter(|p| !p.is_null()).cloned(),
                    strict: tool.get("strict").and_then(Value::as_bool),
                },
            });
        }
        Ok((!out.is_empty()).then_some(out))
    }

    fn chat_tool_choice(&self) -> Result<Option<ToolChoice>, Invalid> {
        let Some(choice) = &self.tool_choice else {
            return Ok(None);
        };
        let mode = |m| Ok(Some(ToolChoice::Mode(m)));
        match choice {
            Value::String(s) if s == "auto" => mode(ToolChoiceMode::Auto),
            Value::String(s) if s == "none" => mode(ToolChoiceMode::None),
            Value::String(s) if s == "required" => mode(ToolChoiceMode::Required),
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
                let name = o
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("tool_choice.name", "names the function to call"))?;
                Ok(Some(ToolChoice::Named(NamedToolChoice {
                    r#type: ToolType::Function,
                    function: FunctionName {
                        name: name.to_owned(),
                    },
                })))
            }
            _ => Err(invalid(
                "tool_choice",
                "must be auto, none, required or {\"type\":\"function\",\"name\":…}",
            )),
        }
    }

    fn chat_format(&self) -> Result<Option<ResponseFormat>, Invalid> {
        let Some(format) = self.text.as_ref().and_then(|t| t.get("format")) else {
            return Ok(None);
        };
        match format.get("type").and_then(Value::as_str) {
            None | Some("text") => Ok(None),
            Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
            Some("json_schema") => {
                let mut schema = Map::new();
                for key in ["name", "schema", "strict", "description"] {
                    if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                        schema.insert(key.into(), v.clone());
                    }
                }
                if !schema.contains_key("name") || !schema.contains_key("schema") {
                    return Err(invalid(
                        "text.format",
                        "a json_schema format needs name and schema",
                    ));
                }
                Ok(Some(ResponseFormat::JsonSchema {
                    json_schema: Value::Object(schema),
                }))
            }
            Some(other) => Err(invalid(
                "text.format.type",
                format!("'{other}' is not one of text, json_object, json_schema"),
            )),
        }
    }
}

fn message(role: Role, content: MessageContent) -> ChatMessage {
    ChatMessage {
        role,
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: None,
        extra: Map::new(),
    }
}

/// Adds one input item to the chat messages: messages as messages,
/// function calls onto the assistant turn before them, their outputs as
/// tool messages. Errors carry a suffix for the parameter path.
fn add_item(messages: &mut Vec<ChatMessage>, item: &Value) -> Result<(), Invalid> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = match item.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system") => Role::System,
                Some("developer") => Role::Developer,
                _ => {
                    return Err(invalid(
                        ".role",
                        "a message's role must be user, assistant, system or developer",
                    ));
                }
            };
            let content = content_of(item.get("content"), role)?;
            messages.push(message(role, content));
        }
        "function_call" => {
            let field = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        invalid(format!(".{name}"), format!("a function_call needs {name}"))
                    })
            };
            let call = ToolCall {
                id: field("call_id")?,
                r#type: ToolType::Function,
                function: FunctionCall {
                    name: field("name")?,
                    arguments: item
                        .get("arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}")
                        .to_owned(),
                },
                extra: Map::new(),
            };
            // Calls made in one turn belong to one assistant message.
            match messages.last_mut() {
                Some(last) if last.role == Role::Assistant => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => messages.push(ChatMessage {
                    role: Role::Assistant,
                    content: None,
                    name: None,
                    tool_calls: Some(vec![call]),
                    tool_call_id: None,
                    extra: Map::new(),
                }),
            }
        }
        "function_call_output" => {
            let call_id = item
                .get("call_id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(".call_id", "a function_call_output needs call_id"))?;
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => return Err(invalid(".output", "a function_call_output needs output")),
            };
            messages.push(ChatMessage {
                role: Role::Tool,
                content: Some(MessageContent::Text(output)),
                name: None,
                tool_calls: None,
                tool_call_id: Some(call_id.to_owned()),
                extra: Map::new(),
            });
        }
        // Reasoning summaries of an earlier turn carry nothing to resend.
        "reasoning" => {}
        other => {
            return Err(invalid(
                ".type",
                format!("the input item type '{other}' is not supported by this gateway"),
            ));
        }
    }
    Ok(())
}

/// A message's content: a string, or input/output parts.
fn content_of(content: Option<&Value>, role: Role) -> Result<MessageContent, Invalid> {
    let parts = match content {
        Some(Value::String(text)) => return Ok(MessageContent::Text(text.clone())),
        Some(Value::Array(parts)) => parts,
        _ => return Err(invalid(".content", "a message needs content")),
    };
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => out.push(ContentPart::Text {
                text: part
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                extra: Map::new(),
            }),
            Some("refusal") => out.push(ContentPart::Text {
                text: part
                    .get("refusal")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                extra: Map::new(),
            }),
            Some("input_image") => {
                let Some(url) = part.get("image_url").and_then(Value::as_str) else {
                    return Err(invalid(
                        format!(".content[{i}]"),
                        "images must be given as image_url (an https URL or a data URI); file_id is not supported",
                    ));
                };
                out.push(ContentPart::ImageUrl {
                    image_url: ImageUrl {
                        url: url.to_owned(),
                        detail: part
                            .get("detail")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    },
                });
            }
            other => {
                return Err(invalid(
                    format!(".content[{i}].type"),
                    format!(
                        "the content part type '{}' is not supported by this gateway",
                        other.unwrap_or("?")
                    ),
                ));
            }
        }
    }
    // Assistant turns are text for every provider.
    if role == Role::Assistant {
        return Ok(MessageContent::Text(MessageContent::Parts(out).text()));
    }
    Ok(MessageContent::Parts(out))
}

/// A new id with `prefix` (`resp`, `msg`, `fc`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The Responses API usage object of chat usage.
pub fn usage(usage: &Usage) -> Value {
    let cached = usage
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0);
    let reasoning = usage
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0);
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage.total_tokens,
    })
}

/// The output items of a complete answer (its first choice): the message,
/// if it has text, then its function calls.
pub fn output_items(message: &AssistantMessage) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
        items.push(message_item(&new_id("msg"), text, "completed"));
    }
    for call in message.tool_calls.iter().flatten() {
        items.push(function_call_item(
            &new_id("fc"),
            &call.id,
            &call.function.name,
            &call.function.arguments,
            "completed",
        ));
    }
    items
}

/// An assistant message output item.
pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    let content = if status == "in_progress" {
        json!([])
    } else {
        json!([text_part(text)])
    };
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

/// An `output_text` content part.
pub fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A function call output item.
pub fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status,
    })
}

/// The response object: `status` `in_progress` while streaming, then
/// `completed`, or `incomplete` when the answer was cut (length, filter).
#[derive(Debug, Clone)]
pub struct ResponseObject {
    /// `resp_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The request's echoed settings.
    pub request: ResponsesRequest,
}

impl ResponseObject {
    /// The object with `status`, `output` and `usage`.
    pub fn render(
        &self,
        model: &str,
        status: &str,
        output: &[Value],
        usage: Option<&Usage>,
        finish: Option<FinishReason>,
    ) -> Value {
        let r = &self.request;
        let incomplete = match finish {
            Some(FinishReason::Length) => json!({"reason": "max_output_tokens"}),
            Some(FinishReason::ContentFilter) => json!({"reason": "content_filter"}),
            _ => Value::Null,
        };
        let status = if status == "completed" && !incomplete.is_null() {
            "incomplete"
        } else {
            status
        };
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": (status != "in_progress").then_some(crate::clock::unix_seconds()),
            "error": null,
            "incomplete_details": incomplete,
            "instructions": r.instructions,
            "max_output_tokens": r.max_output_tokens,
            "model": model,
            "output": output,
            "parallel_tool_calls": r.parallel_tool_calls.unwrap_or(true),
            "previous_response_id": r.previous_response_id,
            "reasoning": {"effort": r.reasoning.as_ref().and_then(|v| v.get("effort")).cloned(), "summary": null},
            "store": r.stores(),
            "temperature": r.temperature.unwrap_or(1.0),
            "text": r.text.clone().unwrap_or_else(|| json!({"format": {"type": "text"}})),
            "tool_choice": r.tool_choice.clone().unwrap_or_else(|| json!("auto")),
            "tools": r.tools.clone().unwrap_or_default(),
            "top_p": r.top_p.unwrap_or(1.0),
            "truncation": "disabled",
            "usage": usage.map(self::usage),
            "user": r.user,
            "metadata": r.metadata.clone().unwrap_or_default(),
        })
    }

    /// The complete response of a complete chat answer.
    pub fn complete(&self, completion: &ChatCompletion) -> (Value, Vec<Value>) {
        let choice = completion.choices.first();
        let output = choice.map(|c| output_items(&c.message)).unwrap_or_default();
        let response = self.render(
            &completion.model,
            "completed",
            &output,
            completion.usage.as_ref(),
            choice.and_then(|c| c.finish_reason),
        );
        (response, output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ResponsesRequest {
        serde_json::from_value(body).expect("request")
    }

    #[test]
    fn items_become_chat_messages() {
        let r = request(json!({
            "model": "gpt-5.4-mini",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": "{\"city\":\"Lyon\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"type": "function_call_output", "call_id": "call_2", "output": "20C"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "And this?"},
                    {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}
                ]}
            ],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "weather"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
            "reasoning": {"effort": "low"},
            "max_output_tokens": 50
        }));
        let items = r.input_items().expect("items");
        let chat = r.to_chat(&[], &items).expect("translates");
        let roles: Vec<Role> = chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(chat.messages[2].tool_calls.as_ref().map(Vec::len), Some(2));
        assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(chat.max_completion_tokens, Some(50));
        assert_eq!(chat.extra["reasoning_effort"], "low");
        assert!(matches!(
            chat.response_format,
            Some(ResponseFormat::JsonSchema { .. })
        ));
        assert!(matches!(chat.tool_choice, Some(ToolChoice::Named(_))));
        assert_eq!(chat.tools.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn unsupported_tools_and_items_are_named() {
        let r = request(json!({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}));
        let err = r
            .to_chat(&[], &r.input_items().expect("items"))
            .expect_err("web search");
        assert_eq!(err.1, "tools[0].type");
        assert!(err.0.contains("web_search"), "{}", err.0);
        let r = request(json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}));
        let err = r
            .to_chat(&[], &r.input_items().expect("items"))
            .expect_err("reference");
        assert_eq!(err.1, "input[0].type");
        let r = request(json!({"model": "m", "input": "hi", "background": true}));
        assert_eq!(r.to_chat(&[], &[]).expect_err("background").1, "background");
    }

    #[test]
    fn a_cut_answer_is_incomplete() {
        let r = request(json!({"model": "m", "input": "hi"}));
        let object = ResponseObject {
            id: new_id("resp"),
            created_at: 1,
            request: r,
        };
        let value = object.render("m", "completed", &[], None, Some(FinishReason::Length));
        assert_eq!(value["status"], "incomplete");
        assert_eq!(value["incomplete_details"]["reason"], "max_output_tokens");
    }
}
