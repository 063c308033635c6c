"""Embeddings through the official OpenAI Python SDK for each backend:
OpenAI (passed through), Gemini (batchEmbedContents, translated) and the
local static table (no upstream call): floats, base64 decoded back to the
same floats, dimensions, cost, and clear errors."""

import base64
import math
import struct
import urllib.request

import openai
import pytest

from conftest import CLIENT_KEY, upstream_calls

BACKENDS = ["text-embedding-3-small", "gemini-embedding-001", "local/minilm-static"]


@pytest.fixture(params=BACKENDS)
def embedding_model(request):
    return request.param


def test_floats_and_base64_agree(client, embedding_model):
    texts = ["the cat sat on the mat", "quarterly revenue grew"]
    floats = client.embeddings.create(model=embedding_model, input=texts, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1]
    first, second = floats.data[0].embedding, floats.data[1].embedding
    assert len(first) == len(second) > 0 and first != second
    assert math.isclose(math.sqrt(sum(x * x for x in first)), 1.0, rel_tol=1e-3)
    assert floats.usage.prompt_tokens > 0
    raw = client.embeddings.create(model=embedding_model, input=texts, encoding_format="base64")
    decoded = base64.b64decode(raw.data[0].embedding)
    back = list(struct.unpack(f"<{len(decoded) // 4}f", decoded))
    assert back == pytest.approx(first, abs=1e-6)
    # The SDK's default asks for base64 and decodes it itself.
    default = client.embeddings.create(model=embedding_model, input=texts)
    assert default.data[1].embedding == pytest.approx(second, abs=1e-6)


def test_dimensions(client, embedding_model):
    out = client.embeddings.create(model=embedding_model, input="shorter please", dimensions=16, encoding_format="float")
    vector = out.data[0].embedding
    assert len(vector) == 16
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)


def test_the_local_model_calls_nothing_and_costs_nothing(client, mock_url, gateway_url):
    before = upstream_calls(mock_url)
    raw = client.embeddings.with_raw_response.create(model="local/minilm-static", input="free and local")
    assert raw.headers.get("x-gateway-cost-usd") in (None, "0")
    assert upstream_calls(mock_url) == before
    priced = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="priced")
    assert float(priced.headers["x-gateway-cost-usd"]) > 0
    assert priced.headers["x-gateway-provider"] == "openai"


def test_models_without_embeddings_are_refused(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="anthropic/claude-haiku-4-5", input="x")
    assert "no embeddings" in str(refused.value)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-embedder", input="x")
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="local/minilm-static", input="x", dimensions=100000)
