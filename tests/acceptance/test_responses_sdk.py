"""The Responses API through the official OpenAI Python SDK, for each
provider: plain and streamed answers (the typed event sequence), a tool
round trip with function_call_output, conversation state with
previous_response_id, retrieval and deletion, and clear errors."""

import json
import urllib.request

import openai
import pytest

from conftest import CLIENT_KEY, OTHER_KEY, settled

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_a_response_for_each_provider(client, model):
    response = client.responses.create(model=model, input="Say hello.", instructions="Be brief.")
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Echo: Say hello."
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_a_stream_for_each_provider_has_the_typed_events(client, model):
    with client.responses.stream(model=model, input="Stream three words please") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    for kind in ["response.output_item.added", "response.content_part.added", "response.output_text.delta",
                 "response.output_text.done", "response.content_part.done", "response.output_item.done"]:
        assert kind in kinds, kinds
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Echo: Stream three words please" == final.output_text
    assert final.status == "completed" and final.usage.output_tokens > 0


def test_a_tool_round_trip_with_previous_response_id(client, model):
    first = client.responses.create(model=model, input="Weather in Paris? mock:tool", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    json.loads(calls[0].arguments)
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"},
               {"role": "user", "content": "Summarise. mock:inspect"}],
        tools=[WEATHER],
    )
    seen = json.loads(second.output_text)
    # The stored turn came back: the first question and the call (an
    # assistant turn) before the result, in the shape of the provider that
    # answered (a failover may have chosen another; Gemini names results by
    # function, the others by call id).
    gemini = seen["provider"] == "gemini"
    assert seen["roles"][:2] == ["user", "model" if gemini else "assistant"], seen
    assert seen["tool_results"] == ["get_weather" if gemini else calls[0].call_id], seen


def test_streamed_tool_calls_are_function_call_items(client):
    with client.responses.stream(model="gpt-4o-mini", input="Weather in Oslo? mock:tool", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    call = [i for i in final.output if i.type == "function_call"][0]
    assert call.name == "get_weather" and json.loads(call.arguments)


def test_stored_responses_are_the_callers_own(client, gateway_url):
    made = client.responses.create(model="gpt-4o-mini", input="Remember me.")
    settled(gateway_url)
    got = client.responses.retrieve(made.id)
    assert got.id == made.id and got.output_text == made.output_text
    items = client.responses.input_items.list(made.id)
    assert items.data[0].type == "message"
    other = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=OTHER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(made.id)
    client.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    with pytest.raises(openai.BadRequestError) as gone:
        client.responses.create(model="gpt-4o-mini", input="Again.", previous_response_id=made.id)
    assert gone.value.param == "previous_response_id"


def test_store_false_stores_nothing(client, gateway_url):
    made = client.responses.create(model="gpt-4o-mini", input="Forget me.", store=False)
    settled(gateway_url)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def test_built_in_tools_are_refused_by_name(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-4o-mini", input="Search", tools=[{"type": "web_search"}])
    assert "web_search" in str(refused.value)


def post(url, body):
    """POSTs JSON with the client key; returns (content type, text)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.headers.get("content-type"), r.read().decode()


def sse_events(text):
    """(event name, data) pairs of a raw SSE body."""
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            events.append((lines.get("event"), json.loads(lines["data"])))
    return events


def test_objects_and_events_validate_against_openais_schema(client, gateway_url, model):
    """Every event and the response object pass the OpenAI SDK's own
    pydantic models with validation on (the SDK itself only constructs)."""
    import pydantic
    from openai.types.responses import Response, ResponseStreamEvent

    events_schema = pydantic.TypeAdapter(ResponseStreamEvent)
    for body in (
        {"model": model, "input": "Validate me", "stream": True},
        {"model": model, "input": "Weather in Rome? mock:tool", "stream": True, "tools": [WEATHER]},
    ):
        content_type, text = post(f"{gateway_url}/v1/responses", body)
        assert content_type.startswith("text/event-stream")
        events = sse_events(text)
        assert events, text
        for name, data in events:
            assert name == data["type"]
            events_schema.validate_python(data)
        Response.model_validate(events[-1][1]["response"])
    _, text = post(f"{gateway_url}/v1/responses", {"model": model, "input": "Validate me"})
    Response.model_validate(json.loads(text))
