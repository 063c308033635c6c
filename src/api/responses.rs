//! `/v1/responses`: the OpenAI Responses API over the same pipeline as
//! chat. A request is translated to the canonical chat request (with the
//! stored conversation of `previous_response_id` before its input), the
//! answer back into a response object or its typed SSE events, and the
//! response is stored per client key for later turns, `GET` and `DELETE`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::api::pipeline::{self, Format};
use crate::app::AppState;
use crate::auth::Tenant;
use crate::clock::unix_seconds;
use crate::error::GatewayError;
use crate::openai::responses::{
    ResponseObject, ResponsesRequest, function_call_item, message_item, new_id, text_part,
};
use crate::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, FinishReason, Usage,
};
use crate::store::Store;

/// How long a stored response is kept (as OpenAI keeps them).
const STORED_FOR: Duration = Duration::from_secs(30 * 86_400);

/// `POST /v1/responses`.
pub async fn create(State(state): State<AppState>, request: Request) -> Response {
    let store = state.ledger.store().clone();
    pipeline::handle(state, request, ResponsesFormat::new(store)).await
}

/// `GET /v1/responses/{id}`: a stored response of the caller's.
pub async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    tenant: Option<Extension<Tenant>>,
) -> Response {
    match load(state.ledger.store(), &tenant_id(tenant), &id).await {
        Ok(doc) => Json(doc["response"].clone()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    tenant: Option<Extension<Tenant>>,
) -> Response {
    let tenant = tenant_id(tenant);
    match state.ledger.store().delete_response(&tenant, &id).await {
        Ok(true) => Json(json!({"id": id, "object": "response", "deleted": true})).into_response(),
        Ok(false) => GatewayError::ResponseNotFound { id }.into_response(),
        Err(e) => unavailable(&e.to_string()).into_response(),
    }
}

/// `?limit=&order=` of the input items list.
#[derive(Debug, serde::Deserialize)]
pub struct ItemsQuery {
    limit: Option<usize>,
    order: Option<String>,
}

/// `GET /v1/responses/{id}/input_items`: the items the response answered
/// (its own input after the conversation before it), newest first unless
/// `order=asc`; `limit` 1–100 (20).
pub async fn input_items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ItemsQuery>,
    tenant: Option<Extension<Tenant>>,
) -> Response {
    let doc = match load(state.ledger.store(), &tenant_id(tenant), &id).await {
        Ok(doc) => doc,
        Err(e) => return e.into_response(),
    };
    let mut items: Vec<Value> = doc["input"].as_array().cloned().unwrap_or_default();
    if query.order.as_deref() != Some("asc") {
        items.reverse();
    }
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let has_more = items.len() > limit;
    items.truncate(limit);
    Json(json!({
        "object": "list",
        "data": items,
        "first_id": items.first().and_then(|i| i.get("id")).cloned(),
        "last_id": items.last().and_then(|i| i.get("id")).cloned(),
        "has_more": has_more,
    }))
    .into_response()
}

fn tenant_id(tenant: Option<Extension<Tenant>>) -> String {
    tenant.map_or_else(String::new, |Extension(t)| t.id)
}

fn unavailable(detail: &str) -> GatewayError {
    GatewayError::StoreUnavailable {
        what: "stored responses",
        detail: detail.to_owned(),
    }
}

/// A stored response document of `tenant`: `response`, `input` (this
/// turn's items) and `conversation` (every item up to and including the
/// response's output).
async fn load(store: &Arc<dyn Store>, tenant: &str, id: &str) -> Result<Value, GatewayError> {
    let not_found = || GatewayError::ResponseNotFound {
        id: id.chars().take(100).collect(),
    };
    if !id.starts_with("resp_") || id.len() > 100 {
        return Err(not_found());
    }
    let doc = store
        .get_response(tenant, id)
        .await
        .map_err(|e| unavailable(&e.to_string()))?
        .ok_or_else(not_found)?;
    serde_json::from_str(&doc).map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Gives each input item an id, as listed by `input_items`.
fn with_ids(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut item| {
            if let Some(object) = item.as_object_mut() {
                object
                    .entry("id")
                    .or_insert_with(|| Value::String(new_id("msg")));
                object
                    .entry("type")
                    .or_insert_with(|| Value::String("message".into()));
            }
            item
        })
        .collect()
}

/// The Responses API around the pipeline.
pub struct ResponsesFormat {
    store: Arc<dyn Store>,
    tenant: String,
    object: Option<ResponseObject>,
    /// The conversation before this turn, and this turn's input.
    history: Vec<Value>,
    input: Vec<Value>,
    stream: StreamState,
    /// The finished response and its output, to store.
    finished: Option<(Value, Vec<Value>)>,
}

impl ResponsesFormat {
    /// A format storing responses in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            tenant: String::new(),
            object: None,
            history: Vec::new(),
            input: Vec::new(),
            stream: StreamState::default(),
            finished: None,
        }
    }

    fn object(&self) -> Result<&ResponseObject, GatewayError> {
        self.object
            .as_ref()
            .ok_or_else(|| GatewayError::Internal("response answered before it was parsed".into()))
    }
}

impl Format for ResponsesFormat {
    fn route(&self) -> &'static str {
        "POST /v1/responses"
    }

    async fn parse(
        &mut self,
        _state: &AppState,
        tenant: &str,
        body: &[u8],
    ) -> Result<ChatCompletionRequest, GatewayError> {
        let deserializer = &mut serde_json::Deserializer::from_slice(body);
        let request: ResponsesRequest =
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                GatewayError::invalid(
                    format!("invalid request body: {inner}"),
                    (path != ".").then_some(path),
                )
            })?;
        if request.model.is_empty() {
            return Err(GatewayError::invalid(
                "'model' is required",
                Some("model".into()),
            ));
        }
        tenant.clone_into(&mut self.tenant);
        if let Some(previous) = &request.previous_response_id {
            let doc = load(&self.store, tenant, previous).await.map_err(|e| match e {
                GatewayError::ResponseNotFound { id } => GatewayError::invalid(
                    format!("previous response '{id}' is not stored for this API key (never stored, store: false, deleted or expired)"),
                    Some("previous_response_id".into()),
                ),
                other => other,
            })?;
            self.history = doc["conversation"].as_array().cloned().unwrap_or_default();
        }
        let input = request
            .input_items()
            .map_err(|(message, param)| GatewayError::invalid(message, Some(param)))?;
        let chat = request
            .to_chat(&self.history, &input)
            .map_err(|(message, param)| GatewayError::invalid(message, Some(param)))?;
        self.input = with_ids(input);
        self.object = Some(ResponseObject {
            id: new_id("resp"),
            created_at: unix_seconds(),
            request,
        });
        Ok(chat)
    }

    fn json(&mut self, completion: &ChatCompletion) -> Result<Vec<u8>, GatewayError> {
        let (response, output) = self.object()?.complete(completion);
        let body =
            serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
        self.finished = Some((response, output));
        Ok(body)
    }

    fn events(&mut self, chunk: ChatCompletionChunk) -> Vec<Bytes> {
        let Some(object) = &self.object else {
            return Vec::new();
        };
        self.stream.chunk(object, chunk)
    }

    fn finish(&mut self) -> Vec<Bytes> {
        let Some(object) = &self.object else {
            return Vec::new();
        };
        let (events, response, output) = self.stream.finish(object);
        self.finished = Some((response, output));
        events
    }

    fn failure(&mut self, error: &GatewayError) -> Vec<Bytes> {
        let Some(object) = &self.object else {
            return Vec::new();
        };
        self.stream.failure(object, error)
    }

    fn store(&mut self) -> Option<BoxFuture<'static, ()>> {
        let object = self.object.as_ref()?;
        if !object.request.stores() {
            return None;
        }
        let (response, output) = self.finished.take()?;
        let mut conversation = std::mem::take(&mut self.history);
        conversation.extend(self.input.iter().cloned());
        conversation.extend(output);
        let doc = json!({
            "response": response,
            "input": self.input,
            "conversation": conversation,
        })
        .to_string();
        let store = self.store.clone();
        let tenant = std::mem::take(&mut self.tenant);
        let id = object.id.clone();
        let expires_at = unix_seconds() + STORED_FOR.as_secs();
        Some(Box::pin(async move {
            if let Err(e) = store.put_response(&tenant, &id, &doc, expires_at).await {
                tracing::warn!(response_id = %id, error = %e, bytes = doc.len(), "response not stored; previous_response_id will not find it");
            }
        }))
    }
}

/// An output item being streamed.
#[derive(Debug)]
enum Open {
    Message {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// The typed events of one streamed response, from chat chunks.
#[derive(Debug, Default)]
struct StreamState {
    sequence: u64,
    started: bool,
    model: String,
    /// Output items in order; the last may still be open.
    items: Vec<(Open, bool)>,
    /// Chat tool-call index → position in `items`.
    calls: BTreeMap<u32, usize>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl StreamState {
    fn event(&mut self, kind: &str, mut body: Value) -> Bytes {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        Bytes::from(format!("event: {kind}\ndata: {body}\n\n"))
    }

    fn start(&mut self, object: &ResponseObject, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = object.render(&self.model, "in_progress", &[], None, None);
        out.push(self.event("response.created", json!({"response": response})));
        out.push(self.event("response.in_progress", json!({"response": response})));
    }

    /// Closes the last item if it is an open message (text ends when a
    /// call begins).
    fn close_message(&mut self, out: &mut Vec<Bytes>) {
        let Some(index) = self.items.len().checked_sub(1) else {
            return;
        };
        if matches!(self.items[index], (Open::Message { .. }, false)) {
            self.close(index, out);
        }
    }

    fn close(&mut self, index: usize, out: &mut Vec<Bytes>) {
        let item = match &self.items[index] {
            (_, true) => return,
            (Open::Message { id, text }, false) => {
                let (id, text) = (id.clone(), text.clone());
                let at = json!({"item_id": id, "output_index": index, "content_index": 0});
                let mut done = at.clone();
                done["text"] = json!(text);
                done["logprobs"] = json!([]);
                out.push(self.event("response.output_text.done", done));
                let mut part = at;
                part["part"] = text_part(&text);
                out.push(self.event("response.content_part.done", part));
                message_item(&id, &text, "completed")
            }
            (
                Open::Call {
                    id,
                    call_id,
                    name,
                    arguments,
                },
                false,
            ) => {
                let item = function_call_item(id, call_id, name, arguments, "completed");
                let done = json!({"item_id": id, "output_index": index, "arguments": arguments});
                out.push(self.event("response.function_call_arguments.done", done));
                item
            }
        };
        self.items[index].1 = true;
        out.push(self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
    }

    fn chunk(&mut self, object: &ResponseObject, chunk: ChatCompletionChunk) -> Vec<Bytes> {
        let mut out = Vec::new();
        if self.model.is_empty() {
            chunk.model.clone_into(&mut self.model);
        }
        self.start(object, &mut out);
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                let open = matches!(self.items.last(), Some((Open::Message { .. }, false)));
                if !open {
                    let id = new_id("msg");
                    let index = self.items.len();
                    self.items.push((
                        Open::Message {
                            id: id.clone(),
                            text: String::new(),
                        },
                        false,
                    ));
                    out.push(self.event(
                        "response.output_item.added",
                        json!({"output_index": index, "item": message_item(&id, "", "in_progress")}),
                    ));
                    out.push(self.event(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "part": text_part("")}),
                    ));
                }
                let index = self.items.len() - 1;
                if let (Open::Message { id, text: all }, _) = &mut self.items[index] {
                    all.push_str(&text);
                    let id = id.clone();
                    out.push(self.event(
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []}),
                    ));
                }
            }
            for call in choice.delta.tool_calls.into_iter().flatten() {
                let index = match self.calls.get(&call.index) {
                    Some(index) => *index,
                    None => {
                        self.close_message(&mut out);
                        let function = call.function.as_ref();
                        let id = new_id("fc");
                        let call_id = call.id.clone().unwrap_or_else(|| new_id("call"));
                        let name = function.and_then(|f| f.name.clone()).unwrap_or_default();
                        let index = self.items.len();
                        out.push(self.event(
                            "response.output_item.added",
                            json!({"output_index": index, "item": function_call_item(&id, &call_id, &name, "", "in_progress")}),
                        ));
                        self.items.push((
                            Open::Call {
                                id,
                                call_id,
                                name,
                                arguments: String::new(),
                            },
                            false,
                        ));
                        self.calls.insert(call.index, index);
                        index
                    }
                };
                let delta = call
                    .function
                    .and_then(|f| f.arguments)
                    .filter(|a| !a.is_empty());
                if let (Some(delta), (Open::Call { id, arguments, .. }, false)) =
                    (delta, &mut self.items[index])
                {
                    arguments.push_str(&delta);
                    let id = id.clone();
                    out.push(self.event(
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": index, "delta": delta}),
                    ));
                }
            }
            if choice.finish_reason.is_some() {
                self.finish = choice.finish_reason;
            }
        }
        out
    }

    fn output(&self) -> Vec<Value> {
        self.items
            .iter()
            .map(|(item, done)| {
                let status = if *done { "completed" } else { "incomplete" };
                match item {
                    Open::Message { id, text } => message_item(id, text, status),
                    Open::Call {
                        id,
                        call_id,
                        name,
                        arguments,
                    } => function_call_item(id, call_id, name, arguments, status),
                }
            })
            .collect()
    }

    /// The closing events of a complete stream, the response and its output.
    fn finish(&mut self, object: &ResponseObject) -> (Vec<Bytes>, Value, Vec<Value>) {
        let mut out = Vec::new();
        self.start(object, &mut out);
        for index in 0..self.items.len() {
            self.close(index, &mut out);
        }
        let output = self.output();
        let response = object.render(
            &self.model,
            "completed",
            &output,
            self.usage.as_ref(),
            self.finish,
        );
        let kind = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        out.push(self.event(kind, json!({"response": response})));
        (out, response, output)
    }

    /// A stream that failed after it started: `response.failed`.
    fn failure(&mut self, object: &ResponseObject, error: &GatewayError) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.start(object, &mut out);
        let mut response = object.render(&self.model, "failed", &self.output(), None, None);
        let body = error.body();
        response["error"] = json!({
            "code": body.error.code.unwrap_or("server_error"),
            "message": body.error.message,
        });
        out.push(self.event("response.failed", json!({"response": response})));
        out
    }
}
