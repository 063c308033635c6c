"""The mock upstreams speak the real wire formats: the providers' own SDKs
(OpenAI's Azure client and boto3 for Bedrock included) accept what they
send (plain, streamed, tool calls, errors)."""

import anthropic
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from conftest import PROVIDER_KEY

WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


@pytest.fixture()
def claude(mock_url):
    return anthropic.Anthropic(api_key=PROVIDER_KEY, base_url=mock_url, max_retries=0)


@pytest.fixture()
def gemini(mock_url):
    return genai.Client(
        api_key=PROVIDER_KEY,
        http_options=types.HttpOptions(base_url=mock_url, api_version="v1beta"),
    )


def test_anthropic_sdk_plain_and_streamed(claude):
    message = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, system="Be brief.",
        messages=[{"role": "user", "content": "hello sdk"}],
    )
    assert message.content[0].text == "Echo: hello sdk"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3

    with claude.messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "stream this"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: stream this"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


def test_anthropic_sdk_tool_use_streamed(claude):
    with claude.messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, tools=[WEATHER],
        messages=[{"role": "user", "content": "weather? mock:tool"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"location": "Paris", "unit": "celsius"}


def test_anthropic_sdk_errors(claude):
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=10,
                               messages=[{"role": "user", "content": "mock:status=429"}])
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=0,
                               messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.APIStatusError) as err:
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=10,
                               messages=[{"role": "user", "content": "mock:status=529"}])
    assert err.value.status_code == 529


def test_gemini_sdk_plain_and_streamed(gemini):
    response = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="hello sdk",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=100),
    )
    assert response.text == "Echo: hello sdk"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.candidates_token_count == 3

    chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="stream this"))
    assert "".join(c.text or "" for c in chunks) == "Echo: stream this"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 3


def test_gemini_sdk_function_call(gemini):
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Current weather",
        parameters=types.Schema(type="OBJECT", properties={"location": types.Schema(type="STRING")}),
    )])
    response = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="weather? mock:tool",
        config=types.GenerateContentConfig(tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)),
    )
    call = response.function_calls[0]
    assert call.name == "get_weather"
    assert call.args == {"location": "Paris", "unit": "celsius"}
    assert response.candidates[0].content.parts[0].thought_signature


def test_gemini_sdk_errors(gemini):
    with pytest.raises(genai_errors.ClientError) as err:
        gemini.models.generate_content(model="gemini-2.5-flash", contents="mock:status=429")
    assert err.value.code == 429
    with pytest.raises(genai_errors.ServerError) as err:
        gemini.models.generate_content(model="gemini-2.5-flash", contents="mock:status=503")
    assert err.value.code == 503


@pytest.fixture()
def azure(mock_url):
    import openai

    return openai.AzureOpenAI(
        api_key=PROVIDER_KEY, azure_endpoint=mock_url, api_version="2024-10-21", max_retries=0,
    )


def test_azure_sdk_deployments_plain_streamed_and_content_filter(azure):
    import openai

    completion = azure.chat.completions.create(
        model="deploy-gpt4o", messages=[{"role": "user", "content": "hello azure sdk"}],
    )
    assert completion.choices[0].message.content == "Echo: hello azure sdk"
    chunks = list(azure.chat.completions.create(
        model="deploy-gpt4o", messages=[{"role": "user", "content": "stream azure"}], stream=True,
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: stream azure"
    with pytest.raises(openai.BadRequestError) as refused:
        azure.chat.completions.create(
            model="deploy-gpt4o", messages=[{"role": "user", "content": "x mock:filter=prompt"}],
        )
    assert refused.value.code == "content_filter"
    with pytest.raises(openai.NotFoundError):
        azure.chat.completions.create(model="no-such", messages=[{"role": "user", "content": "x"}])


@pytest.fixture()
def bedrock(mock_url):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=mock_url,
        aws_access_key_id="AKIDMOCK", aws_secret_access_key="mock-secret",
        config=Config(retries={"max_attempts": 1}),
    )


BEDROCK_TOOL = {"toolSpec": {"name": "get_weather", "description": "Current weather",
                             "inputSchema": {"json": {"type": "object", "properties": {"location": {"type": "string"}}}}}}


def test_boto3_converse_plain_tools_and_errors(bedrock):
    answer = bedrock.converse(
        modelId="anthropic.claude-3-5-haiku-20241022-v1:0",
        system=[{"text": "Be brief."}],
        messages=[{"role": "user", "content": [{"text": "hello boto"}]}],
        inferenceConfig={"maxTokens": 50},
    )
    assert answer["output"]["message"]["content"][0]["text"] == "Echo: hello boto"
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["outputTokens"] == 3

    called = bedrock.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=[{"role": "user", "content": [{"text": "weather? mock:tool"}]}],
        toolConfig={"tools": [BEDROCK_TOOL]},
    )
    assert called["stopReason"] == "tool_use"
    use = called["output"]["message"]["content"][1]["toolUse"]
    assert use["name"] == "get_weather" and use["input"]["location"] == "Paris"

    with pytest.raises(bedrock.exceptions.ThrottlingException):
        bedrock.converse(modelId="amazon.nova-lite-v1:0",
                         messages=[{"role": "user", "content": [{"text": "x mock:status=429"}]}])
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.converse(modelId="amazon.nova-lite-v1:0",
                         messages=[{"role": "assistant", "content": [{"text": "starts wrong"}]}])


def test_boto3_converse_stream_events_and_exceptions(bedrock):
    response = bedrock.converse_stream(
        modelId="us.meta.llama3-3-70b-instruct-v1:0",
        messages=[{"role": "user", "content": [{"text": "weather please mock:tool"}]}],
        toolConfig={"tools": [BEDROCK_TOOL]},
    )
    kinds, text, tool_input, stop, usage = [], "", "", None, None
    for event in response["stream"]:
        kind = next(iter(event))
        kinds.append(kind)
        if kind == "contentBlockDelta":
            delta = event[kind]["delta"]
            text += delta.get("text", "")
            tool_input += delta.get("toolUse", {}).get("input", "")
        elif kind == "messageStop":
            stop = event[kind]["stopReason"]
        elif kind == "metadata":
            usage = event[kind]["usage"]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata"
    assert "contentBlockStart" in kinds
    assert text == "Let me check."
    assert stop == "tool_use" and usage["outputTokens"] > 0
    assert '"location": "Paris"' in tool_input.replace('":"', '": "')

    response = bedrock.converse_stream(
        modelId="amazon.nova-lite-v1:0",
        messages=[{"role": "user", "content": [{"text": "a b c mock:mid_error"}]}],
    )
    from botocore.exceptions import EventStreamError

    with pytest.raises(EventStreamError) as cut:
        for _ in response["stream"]:
            pass
    assert cut.value.response["Error"]["Code"] == "serviceUnavailableException"
