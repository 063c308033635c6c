"""The official OpenAI Python SDK pointed at the gateway (acceptance), once
per provider behind it."""

import json

import openai
import pytest

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}]


def test_non_streaming(client, model):
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hello gateway"}],
        max_completion_tokens=20,
    )
    assert completion.id
    assert completion.object == "chat.completion"
    assert completion.model == model
    assert completion.choices[0].message.content == "Echo: hello gateway"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_raw_response_carries_gateway_headers(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "headers please"}],
        extra_headers={"x-request-id": "sdk-req-42"},
    )
    assert raw.headers["x-request-id"] == "sdk-req-42"
    assert raw.headers["x-gateway-provider"] in ("openai", "anthropic", "google")
    assert raw.headers["x-gateway-model"] == model
    assert raw.parse().choices[0].message.content == "Echo: headers please"


def test_streaming_with_usage(client, model):
    stream = client.chat.completions.create(
        model=model,
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


def test_streaming_without_usage(client, model):
    chunks = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "no usage"}], stream=True,
    ))
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_tool_call_and_tool_result_turn(client, model):
    completion = client.chat.completions.create(
        model=model, tools=TOOLS, tool_choice="auto",
        messages=[{"role": "user", "content": "weather in Paris? mock:tool"}],
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris", "unit": "celsius"}

    followup = client.chat.completions.create(
        model=model, tools=TOOLS,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
            {"role": "user", "content": "so? mock:inspect"},
        ],
    )
    summary = json.loads(followup.choices[0].message.content)
    assert len(summary["tool_results"]) == 1


def test_streamed_tool_call(client, model):
    stream = client.chat.completions.create(
        model=model, tools=TOOLS, stream=True,
        messages=[{"role": "user", "content": "weather in Paris? mock:tool"}],
    )
    args, names, finish = "", [], None
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            assert tc.index == 0
            if tc.function.name:
                names.append(tc.function.name)
            args += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert names == ["get_weather"]
    assert json.loads(args) == {"location": "Paris", "unit": "celsius"}
    assert finish == "tool_calls"


def test_system_prompt_multi_turn_and_image(client, model):
    completion = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this? mock:inspect"},
                {"type": "image_url", "image_url": {"url": PIXEL}},
            ]},
        ],
    )
    summary = json.loads(completion.choices[0].message.content)
    assert summary["system"] == "You are terse."
    assert summary["images"] == 1
    assert len(summary["roles"]) == 3


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert {"gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash"} <= set(ids)
    assert client.models.retrieve("gpt-4o").owned_by == "openai"


def test_bad_request_is_typed(client, model):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=model, messages=[])
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


def test_upstream_rate_limit_is_typed(client, model):
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "mock:status=429"}])
    assert err.value.response.headers["retry-after"] == "1"


def test_upstream_outage_is_a_server_error(client, model):
    # Every provider fails (the fault is in the prompt): after retries and
    # failover the client gets 503 naming each provider tried.
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "mock:status=500"}])
    assert err.value.status_code == 503
    assert err.value.body["code"] == "all_providers_failed"
    for provider in ("openai/", "anthropic/", "google/"):
        assert provider in err.value.body["message"]
    # Up to 3 attempts per provider; fewer once earlier failures in this
    # session have opened a circuit.
    assert 3 <= int(err.value.response.headers["x-gateway-attempts"]) <= 9


def test_mid_stream_cut_raises(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "a b c d e mock:cut_after=2"}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("Echo:")
