//! Fixture tests of the Bedrock translation: requests, answers, stream events, errors.

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart,
    ContentBlockStartEvent, ConversationRole, ConverseOutput, ConverseStreamMetadataEvent,
    ConverseStreamOutput, Message, MessageStartEvent, MessageStopEvent, StopReason,
    SystemContentBlock, TokenUsage, Tool, ToolChoice, ToolResultContentBlock, ToolUseBlock,
    ToolUseBlockDelta, ToolUseBlockStart,
};
use serde_json::{Value, json};

use super::request::{to_converse, to_document, to_json};
use super::response::{StreamState, to_completion};
use super::*;

fn request(body: Value) -> ChatCompletionRequest {
    serde_json::from_value(body).expect("valid request")
}

fn err(body: Value) -> String {
    match to_converse(&request(body)) {
        Err(GatewayError::InvalidRequest { message, .. }) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn system_turns_tools_and_results_translate() {
    let input = to_converse(&request(json!({
        "model": "anthropic.claude-3-5-haiku-20241022-v1:0",
        "max_tokens": 50, "temperature": 0.5, "stop": ["END"],
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use metric."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\",\"days\":2}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "user", "content": "And tomorrow?"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required"
    })))
    .expect("translates");
    assert_eq!(
        input.system,
        vec![
            SystemContentBlock::Text("Be brief.".into()),
            SystemContentBlock::Text("Use metric.".into())
        ]
    );
    let roles: Vec<&ConversationRole> = input.messages.iter().map(Message::role).collect();
    assert_eq!(
        roles,
        [
            &ConversationRole::User,
            &ConversationRole::Assistant,
            &ConversationRole::User
        ],
        "the tool result and the next user turn merge into one user turn"
    );
    let ContentBlock::ToolUse(call) = &input.messages[1].content()[0] else {
        panic!("tool use expected");
    };
    assert_eq!(call.tool_use_id(), "call_1");
    assert_eq!(to_json(call.input()), json!({"city": "Paris", "days": 2}));
    let last = input.messages[2].content();
    let ContentBlock::ToolResult(result) = &last[0] else {
        panic!("tool result expected");
    };
    assert_eq!(result.tool_use_id(), "call_1");
    assert_eq!(
        result.content(),
        [ToolResultContentBlock::Text("18C".into())]
    );
    assert_eq!(last[1], ContentBlock::Text("And tomorrow?".into()));
    assert_eq!(input.inference.max_tokens(), Some(50));
    assert_eq!(input.inference.temperature(), Some(0.5));
    assert_eq!(input.inference.stop_sequences(), ["END".to_owned()]);
    let tools = input.tools.expect("tools");
    assert!(matches!(&tools.tools()[0], Tool::ToolSpec(spec) if spec.name() == "weather"));
    assert!(matches!(tools.tool_choice(), Some(ToolChoice::Any(_))));
}

#[test]
fn images_must_be_inline_and_of_a_known_type() {
    let with_image = |url: &str| {
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}}]}]})
    };
    let input = to_converse(&request(with_image("data:image/png;base64,iVBORw0KGgo=")))
        .expect("inline image");
    let ContentBlock::Image(image) = &input.messages[0].content()[1] else {
        panic!("image expected");
    };
    assert_eq!(
        image.format(),
        &aws_sdk_bedrockruntime::types::ImageFormat::Png
    );
    assert!(err(with_image("https://example.com/cat.png")).contains("data: URI"));
    assert!(err(with_image("data:image/tiff;base64,AAAA")).contains("image/tiff"));
}

#[test]
fn unsupported_fields_are_refused_by_name() {
    assert!(
        err(json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}))
            .contains("'n'")
    );
    assert!(
        err(
            json!({"model": "m", "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "x"}]})
        )
        .contains("response_format")
    );
    assert!(
        err(json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}))
            .contains("messages")
    );
    assert!(
        err(json!({"model": "m", "messages": [{"role": "assistant", "content": null,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}))
        .contains("arguments")
    );
}

#[test]
fn tool_choice_none_drops_tools_without_tool_history() {
    let input = to_converse(&request(json!({"model": "m", "tool_choice": "none",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]})))
    .expect("translates");
    assert!(input.tools.is_none());
}

fn usage(input: i32, output: i32, read: Option<i32>) -> TokenUsage {
    TokenUsage::builder()
        .input_tokens(input)
        .output_tokens(output)
        .total_tokens(input + output)
        .set_cache_read_input_tokens(read)
        .build()
        .expect("usage")
}

#[test]
fn answers_translate_text_tools_stop_reasons_and_usage() {
    let message = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text("Let me check.".into()))
        .content(ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id("tooluse_1")
                .name("weather")
                .input(to_document(&json!({"city": "Paris"})))
                .build()
                .expect("tool"),
        ))
        .build()
        .expect("message");
    let completion = to_completion(
        "amazon.nova-lite-v1:0",
        Some(&ConverseOutput::Message(message)),
        &StopReason::ToolUse,
        Some(&usage(10, 5, Some(4))),
    );
    let v = serde_json::to_value(&completion).expect("json");
    assert_eq!(v["model"], "amazon.nova-lite-v1:0");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["choices"][0]["message"]["content"], "Let me check.");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(v["usage"]["prompt_tokens"], 14);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(v["usage"]["total_tokens"], 19);
    for (reason, expected) in [
        (StopReason::EndTurn, "stop"),
        (StopReason::StopSequence, "stop"),
        (StopReason::MaxTokens, "length"),
        (StopReason::GuardrailIntervened, "content_filter"),
        (StopReason::ContentFiltered, "content_filter"),
    ] {
        let c = to_completion("m", None, &reason, None);
        assert_eq!(
            serde_json::to_value(&c).expect("json")["choices"][0]["finish_reason"],
            expected
        );
    }
}

#[test]
fn stream_events_become_chunks_with_dense_tool_indexes() {
    let mut state = StreamState::new("meta.llama3-3-70b-instruct-v1:0");
    let mut out = VecDeque::new();
    let events = vec![
        ConverseStreamOutput::MessageStart(
            MessageStartEvent::builder()
                .role(ConversationRole::Assistant)
                .build()
                .expect("start"),
        ),
        ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(0)
                .delta(ContentBlockDelta::Text("Checking".into()))
                .build()
                .expect("delta"),
        ),
        ConverseStreamOutput::ContentBlockStart(
            ContentBlockStartEvent::builder()
                .content_block_index(1)
                .start(ContentBlockStart::ToolUse(
                    ToolUseBlockStart::builder()
                        .tool_use_id("t1")
                        .name("weather")
                        .build()
                        .expect("tool start"),
                ))
                .build()
                .expect("start"),
        ),
        ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(1)
                .delta(ContentBlockDelta::ToolUse(
                    ToolUseBlockDelta::builder()
                        .input("{\"city\":")
                        .build()
                        .expect("tool delta"),
                ))
                .build()
                .expect("delta"),
        ),
        ConverseStreamOutput::MessageStop(
            MessageStopEvent::builder()
                .stop_reason(StopReason::ToolUse)
                .build()
                .expect("stop"),
        ),
        ConverseStreamOutput::Metadata(
            ConverseStreamMetadataEvent::builder()
                .usage(usage(7, 3, None))
                .build(),
        ),
    ];
    for e in events {
        state.on_event(e, &mut out);
    }
    assert!(state.stopped);
    let chunks: Vec<Value> = out
        .iter()
        .map(|c| serde_json::to_value(c).expect("json"))
        .collect();
    assert_eq!(chunks.len(), 6);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Checking");
    let start = &chunks[2]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(
        (start["index"].as_u64(), start["id"].as_str()),
        (Some(0), Some("t1"))
    );
    assert_eq!(
        chunks[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":"
    );
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
}

#[test]
fn exceptions_map_to_statuses() {
    assert_eq!(error_status("ThrottlingException"), 429);
    assert_eq!(error_status("ValidationException"), 400);
    assert_eq!(error_status("AccessDeniedException"), 403);
    assert_eq!(error_status("ModelTimeoutException"), 408);
    assert_eq!(error_status("ServiceUnavailableException"), 503);
    assert_eq!(error_status("ModelStreamErrorException"), 502);
    assert_eq!(error_status("SomethingNew"), 500);
}
