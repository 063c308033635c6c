"""The official OpenAI Python SDK pointed at the gateway (acceptance)."""

import json

import openai
import pytest


def test_non_streaming(client):
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello gateway"},
        ],
        seed=3,
        max_completion_tokens=20,
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "Echo: hello gateway"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_raw_response_carries_gateway_headers(client):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "headers please"}],
        extra_headers={"x-request-id": "sdk-req-42"},
    )
    assert raw.headers["x-request-id"] == "sdk-req-42"
    assert raw.headers["x-gateway-provider"] == "openai"
    assert raw.headers["x-gateway-model"] == "gpt-4o-mini"
    assert raw.parse().choices[0].message.content == "Echo: headers please"


def test_streaming_with_usage(client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "count one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: count one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 5


def test_streaming_without_usage(client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "no usage"}],
        stream=True,
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_tool_calls(client):
    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
        },
    }]
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris? mock:tool"}],
        tools=tools,
        tool_choice="auto",
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["location"] == "Paris"

    followup = client.chat.completions.create(
        model="gpt-4o",
        tools=tools,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
        ],
    )
    assert followup.choices[0].message.content.startswith("Echo:")

    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris? mock:tool"}],
        tools=tools,
        stream=True,
    )
    args, names = "", []
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            assert tc.index == 0
            if tc.function.name:
                names.append(tc.function.name)
            args += tc.function.arguments or ""
    assert names == ["get_weather"]
    assert json.loads(args) == {"location": "Paris", "unit": "celsius"}


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids
    assert not any(i.startswith("claude") for i in ids)
    assert client.models.retrieve("gpt-4o").owned_by == "openai"


def test_bad_request_is_typed(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert err.value.status_code == 400
    assert err.value.body["param"] == "messages"


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="mystery-model", messages=[{"role": "user", "content": "x"}])
    assert err.value.body["code"] == "model_not_found"


def test_wrong_key_is_authentication_error(gateway_url):
    bad = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="not-the-key-0000000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.models.list()
    assert err.value.status_code == 401


def test_upstream_rate_limit_is_typed(client):
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "mock:status=429"}])
    assert err.value.response.headers["retry-after"] == "1"


def test_upstream_outage_is_a_server_error(client):
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "mock:status=500"}])
    assert err.value.status_code == 502


def test_mid_stream_cut_raises(client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "a b c d e mock:cut_after=2"}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("Echo:")
