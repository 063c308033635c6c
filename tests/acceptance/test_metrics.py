"""`/metrics` as Prometheus sees it: the OpenMetrics text parsed by the
official Python client's parser after requests through the OpenAI SDK, and
the JSON document still at `?format=json`."""

import json
import urllib.error
import urllib.request

import openai
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import ADMIN_KEY, CLIENT_KEY, settled, start_gateway, stop_gateway


def fetch(url):
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return r.headers.get("content-type"), r.read().decode()


@pytest.fixture(scope="module")
def metered_gateway(mock_url, tmp_path_factory):
    """A gateway of this module's own, so its counters start at zero."""
    log = tmp_path_factory.mktemp("metered-gateway") / "gateway.log"
    proc, url = start_gateway(mock_url, log, {})
    try:
        yield url
    finally:
        stop_gateway(proc, log)


def samples(families, name):
    return [s for f in families.values() for s in f.samples if s.name == name]


def test_prometheus_text_parses_and_counts_what_happened(metered_gateway):
    client = openai.OpenAI(base_url=f"{metered_gateway}/v1", api_key=CLIENT_KEY, max_retries=0)
    for i in range(3):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"metrics {i}"}]
        )
    stream = client.chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "metrics stream"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{metered_gateway}/v1", api_key="wrong-key-0000000000", max_retries=0).models.list()
    settled(metered_gateway)

    content_type, text = fetch(f"{metered_gateway}/metrics")
    assert content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in text_string_to_metric_families(text)}

    requests = samples(families, "llm_gateway_requests_total")
    by_labels = {(s.labels["provider"], s.labels["model"], s.labels["status"]): s.value for s in requests}
    assert by_labels[("openai", "gpt-4o-mini", "200")] == 3
    assert by_labels[("anthropic", "claude-sonnet-4-6", "200")] == 1
    assert by_labels[("none", "none", "401")] == 1

    tokens = samples(families, "llm_gateway_tokens_total")
    assert any(s.labels["type"] == "input" and s.labels["provider"] == "openai" and s.value > 0 for s in tokens)
    assert any(s.labels["type"] == "output" and s.labels["provider"] == "anthropic" and s.value > 0 for s in tokens)
    cost = {s.labels["model"]: s.value for s in samples(families, "llm_gateway_cost_usd_total")}
    assert cost["gpt-4o-mini"] > 0 and cost["claude-sonnet-4-6"] > 0

    # Histograms: cumulative buckets ending in +Inf = count.
    assert families["llm_gateway_request_duration_seconds"].type == "histogram"
    buckets = [s for s in samples(families, "llm_gateway_request_duration_seconds_bucket") if s.labels["provider"] == "openai"]
    counts = [s.value for s in sorted(buckets, key=lambda s: float(s.labels["le"]))]
    assert counts == sorted(counts) and counts[-1] == 3
    ttft = samples(families, "llm_gateway_time_to_first_token_seconds_count")
    assert {s.labels["provider"]: s.value for s in ttft}["anthropic"] == 1
    assert samples(families, "llm_gateway_overhead_seconds_count")[0].value == 5
    assert samples(families, "llm_gateway_writes_in_flight")[0].value == 0

    # The JSON document is where it was, behind ?format=json.
    content_type, body = fetch(f"{metered_gateway}/metrics?format=json")
    assert content_type.startswith("application/json")
    assert json.loads(body)["overhead_ms"]["requests"] == 5


def test_metrics_need_the_operator_key(metered_gateway):
    request = urllib.request.Request(f"{metered_gateway}/metrics", headers={"authorization": f"Bearer {CLIENT_KEY}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403
