"""The official OpenAI Python SDK through the gateway to providers declared
in its configuration file: an OpenAI-compatible server with quirks, Azure
OpenAI deployments, and AWS Bedrock models (Converse, signed with SigV4),
streamed and not, with tools."""

import json

import openai
import pytest

from conftest import CLIENT_KEY, PROVIDER_KEY, start_gateway, stop_gateway

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}]

MODELS = [
    ("groq", "groq/llama-3.3-70b-versatile"),
    ("azure", "azure/gpt-4o"),
    ("bedrock", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("bedrock", "bedrock/amazon.nova-lite-v1:0"),
    ("bedrock", "bedrock/us.meta.llama3-3-70b-instruct-v1:0"),
]


@pytest.fixture(scope="module")
def declared_client(mock_url, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("declared")
    config = workdir / "gateway.toml"
    config.write_text(f"""
[providers.groq]
kind = "openai"
base_url = "{mock_url}/v1"
api_key_env = "GROQ_API_KEY"
models = ["llama-3.3-70b-versatile"]
stream_options = false

[providers.azure]
kind = "azure"
base_url = "{mock_url}"
api_key_env = "AZURE_OPENAI_API_KEY"
deployments = {{ "gpt-4o" = "deploy-gpt4o" }}

[providers.bedrock]
kind = "bedrock"
region = "us-west-2"
models = ["anthropic.claude-3-5-haiku-20241022-v1:0", "amazon.nova-lite-v1:0", "us.meta.llama3-3-70b-instruct-v1:0"]
""")
    log = workdir / "gateway.log"
    proc, url = start_gateway(mock_url, log, {
        "GATEWAY_CONFIG": str(config),
        "GROQ_API_KEY": PROVIDER_KEY,
        "AZURE_OPENAI_API_KEY": PROVIDER_KEY,
        # The standard endpoint override points the Bedrock client at the mock.
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": mock_url,
        "AWS_ACCESS_KEY_ID": "AKIDACCEPTANCE",
        "AWS_SECRET_ACCESS_KEY": "acceptance-secret-key",
        "UPSTREAM_MAX_RETRIES": "0",
    })
    try:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0)
    finally:
        stop_gateway(proc, log)
        assert "acceptance-secret-key" not in log.read_text()


@pytest.mark.parametrize("provider,model", MODELS)
def test_non_streaming(declared_client, provider, model):
    raw = declared_client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello declared"}],
        max_tokens=20,
    )
    assert raw.headers["x-gateway-provider"] == provider
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Echo: hello declared"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


@pytest.mark.parametrize("provider,model", MODELS)
def test_streaming(declared_client, provider, model):
    stream = declared_client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "count one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: count one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("provider,model", MODELS)
def test_tool_round_trip(declared_client, provider, model):
    messages = [{"role": "user", "content": "weather in Paris? mock:tool"}]
    first = declared_client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["location"] == "Paris"

    stream = declared_client.chat.completions.create(model=model, messages=messages, tools=TOOLS, stream=True)
    arguments = ""
    finish = None
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            arguments += delta.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert json.loads(arguments)["location"] == "Paris"

    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
                 {"role": "user", "content": "thanks"}]
    final = declared_client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert final.choices[0].message.content == "Echo: thanks"


def test_errors_are_openai_errors(declared_client):
    with pytest.raises(openai.RateLimitError):
        declared_client.chat.completions.create(
            model="bedrock/amazon.nova-lite-v1:0",
            messages=[{"role": "user", "content": "x mock:status=429"}],
        )
    with pytest.raises(openai.BadRequestError) as refused:
        declared_client.chat.completions.create(
            model="azure/gpt-4o",
            messages=[{"role": "user", "content": "x mock:filter=prompt"}],
        )
    assert refused.value.code == "content_filter"
