"""The mock upstreams speak the real wire formats: the providers' own SDKs
accept what they send (plain, streamed, tool calls, errors)."""

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
