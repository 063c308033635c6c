"""The semantic cache through the official OpenAI SDK: a paraphrase is
answered from the cache without calling the upstream, an unrelated question
is not, and a streamed hit parses as a normal stream."""

import uuid

from conftest import settled, upstream_calls


def ask(client, system, text, **kwargs):
    response = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
        **kwargs,
    )
    # The answer is stored just after it is sent.
    settled(str(client.base_url).removesuffix("/v1/"))
    return response


def test_paraphrase_hits_without_an_upstream_call(cached_client, mock_url):
    system = f"You answer account questions. Session {uuid.uuid4()}"
    first = ask(cached_client, system, "How do I reset my password?")
    assert first.headers["x-cache"] == "MISS"
    answer = first.parse()
    before = upstream_calls(mock_url)

    hit = ask(cached_client, system, "How can I reset my password?")
    assert hit.headers["x-cache"] == "HIT"
    assert float(hit.headers["x-cache-similarity"]) > 0.85
    assert hit.headers["x-gateway-cost-usd"] == "0"
    parsed = hit.parse()
    assert parsed.choices[0].message.content == answer.choices[0].message.content
    assert parsed.usage.total_tokens == 0
    assert upstream_calls(mock_url) == before, "the hit made no upstream call"


def test_unrelated_question_misses(cached_client, mock_url):
    system = f"You answer account questions. Session {uuid.uuid4()}"
    ask(cached_client, system, "How do I reset my password?").parse()
    before = upstream_calls(mock_url)
    other = ask(cached_client, system, "What are your opening hours on Sunday?")
    assert other.headers["x-cache"] == "MISS"
    assert "opening hours" in other.parse().choices[0].message.content
    assert upstream_calls(mock_url) == before + 1
    # A near neighbour with another number is a different question.
    number = ask(cached_client, system, "How do I reset my password for 2 accounts?")
    assert number.headers["x-cache"] == "MISS"


def test_streamed_hit_parses(cached_client, mock_url):
    system = f"You answer account questions. Session {uuid.uuid4()}"
    answer = ask(cached_client, system, "How do I change my email address?").parse()
    before = upstream_calls(mock_url)
    with cached_client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": "How can I change my email address?"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-cache"] == "HIT"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 0
    assert upstream_calls(mock_url) == before
