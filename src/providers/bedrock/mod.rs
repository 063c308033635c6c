//! AWS Bedrock through the Converse and ConverseStream APIs, signed with
//! the default credential chain (the function's role on Lambda). The SDK
//! client is built on the first call, so it costs the cold start nothing.

pub mod request;
pub mod response;

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::OnceCell;

use super::{ChunkStream, Provider, ProviderId};
use crate::config::{AwsSettings, ProviderConfig, Timeouts};
use crate::error::GatewayError;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use request::{ConverseInput, to_converse};
use response::{StreamState, to_completion};

/// The Bedrock provider.
pub struct Bedrock {
    id: ProviderId,
    aws: AwsSettings,
    timeouts: Timeouts,
    client: OnceCell<Client>,
    errors: ErrorMapper,
}

impl Bedrock {
    /// The adapter; no AWS call or credential lookup happens until the
    /// first request.
    pub fn new(id: ProviderId, config: &ProviderConfig) -> Self {
        Self {
            id,
            aws: config.aws.clone().unwrap_or_default(),
            timeouts: config.timeouts,
            client: OnceCell::new(),
            errors: ErrorMapper { id },
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let sdk = self.aws.sdk_config().await;
                // The gateway retries and fails over itself.
                let config = aws_sdk_bedrockruntime::config::Builder::from(&sdk)
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .build();
                Client::from_conf(config)
            })
            .await
    }

    fn timeout(&self) -> GatewayError {
        GatewayError::UpstreamTimeout { provider: self.id }
    }
}

/// HTTP-like status of a Bedrock exception, by its code.
pub fn error_status(code: &str) -> u16 {
    match code {
        "ValidationException" => 400,
        "AccessDeniedException" | "UnrecognizedClientException" => 403,
        "ResourceNotFoundException" => 404,
        "ModelTimeoutException" => 408,
        "ThrottlingException" | "ServiceQuotaExceededException" => 429,
        "ModelNotReadyException" | "ServiceUnavailableException" => 503,
        "ModelErrorException" | "ModelStreamErrorException" => 502,
        _ => 500,
    }
}

/// Sets the model and the translated input on a Converse or a
/// ConverseStream call (two builder types with the same setters).
macro_rules! with_input {
    ($call:expr, $request:expr, $input:expr) => {{
        let ConverseInput {
            system,
            messages,
            inference,
            tools,
        } = $input;
        $call
            .model_id(&$request.model)
            .set_system(Some(system).filter(|s| !s.is_empty()))
            .set_messages(Some(messages))
            .inference_config(inference)
            .set_tool_config(tools)
    }};
}

#[async_trait]
impl Provider for Bedrock {
    fn id(&self) -> ProviderId {
        self.id
    }

    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError> {
        let input = to_converse(request)?;
        let call = with_input!(self.client().await.converse(), request, input).send();
        let out = tokio::time::timeout(self.timeouts.total, call)
            .await
            .map_err(|_| self.timeout())?
            .map_err(|e| self.errors.sdk(e))?;
        Ok(to_completion(
            &request.model,
            out.output(),
            out.stop_reason(),
            out.usage(),
        ))
    }

    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        let input = to_converse(request)?;
        let call = with_input!(self.client().await.converse_stream(), request, input).send();
        let out = tokio::time::timeout(self.timeouts.first_byte, call)
            .await
            .map_err(|_| self.timeout())?
            .map_err(|e| self.errors.sdk(e))?;
        let reader = StreamReader {
            receiver: out,
            state: StreamState::new(&request.model),
            pending: VecDeque::new(),
            idle: self.timeouts.idle,
            deadline: tokio::time::Instant::now() + self.timeouts.total,
            done: false,
            errors: self.errors,
        };
        Ok(Box::pin(futures_util::stream::unfold(
            reader,
            StreamReader::next,
        )))
    }
}

/// Maps SDK failures to gateway errors naming the provider.
#[derive(Clone, Copy)]
struct ErrorMapper {
    id: ProviderId,
}

/// One ConverseStream being read: events become chunks; an exception
/// event, a silence past the idle limit, or an end before `messageStop`
/// ends the stream with an error.
struct StreamReader {
    receiver: aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput,
    state: StreamState,
    pending: VecDeque<ChatCompletionChunk>,
    idle: Duration,
    deadline: tokio::time::Instant,
    done: bool,
    errors: ErrorMapper,
}

impl StreamReader {
    async fn next(mut self) -> Option<(Result<ChatCompletionChunk, GatewayError>, Self)> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some((Ok(chunk), self));
            }
            if self.done {
                return None;
            }
            let wait = self.idle.min(
                self.deadline
                    .saturating_duration_since(tokio::time::Instant::now()),
            );
            let id = self.errors.id;
            let event = match tokio::time::timeout(wait, self.receiver.stream.recv()).await {
                Err(_) => Err(GatewayError::UpstreamTimeout { provider: id }),
                Ok(Ok(Some(event))) => Ok(Some(event)),
                Ok(Ok(None)) => Ok(None),
                Ok(Err(e)) => Err(self.errors.sdk(e)),
            };
            match event {
                Ok(Some(event)) => self.state.on_event(event, &mut self.pending),
                Ok(None) if self.state.stopped => self.done = true,
                Ok(None) => {
                    self.done = true;
                    return Some((
                        Err(GatewayError::UpstreamProtocol {
                            provider: id,
                            detail: "the stream ended before messageStop".to_owned(),
                        }),
                        self,
                    ));
                }
                Err(e) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
            }
        }
    }
}

impl ErrorMapper {
    /// Maps an SDK failure: service errors (and exception events in a
    /// stream) by their code, transport failures and timeouts like the
    /// HTTP adapters'.
    fn sdk<E, R>(self, e: SdkError<E, R>) -> GatewayError
    where
        E: ProvideErrorMetadata,
    {
        let provider = self.id;
        match e {
            SdkError::ServiceError(ctx) => {
                let err = ctx.err();
                let status = err.code().map_or(500, error_status);
                let message = err.message().or(err.code()).unwrap_or("Bedrock error");
                GatewayError::Upstream {
                    provider,
                    status,
                    message: super::http::client_text(status, message),
                    retry_after: None,
                }
            }
            SdkError::TimeoutError(_) => GatewayError::UpstreamTimeout { provider },
            SdkError::DispatchFailure(_) => GatewayError::UpstreamUnavailable {
                provider,
                detail: "connection failed".to_owned(),
            },
            SdkError::ResponseError(_) => GatewayError::UpstreamProtocol {
                provider,
                detail: "the response could not be read".to_owned(),
            },
            SdkError::ConstructionFailure(_) => GatewayError::UpstreamUnavailable {
                provider,
                detail: "the request could not be built or signed (are AWS credentials available?)"
                    .to_owned(),
            },
            _ => GatewayError::UpstreamUnavailable {
                provider,
                detail: "the request failed".to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
