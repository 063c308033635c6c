"""Virtual keys through the OpenAI Python SDK, with the store on the DynamoDB
emulator: keys made through the admin API, used, refused for a model,
stopped by a spent budget (without an upstream call or SDK retries), their
own usage read, operator endpoints refused, revoked."""

import json
import os
import time
import urllib.error
import urllib.request
import uuid

import openai
import pytest

from conftest import ADMIN_KEY, CLIENT_KEY, settled, start_gateway, stop_gateway, upstream_calls


def call(url, key, method="GET", body=None):
    """An HTTP call; returns (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def keyed_gateway(mock_url, tmp_path_factory):
    dynamo = os.environ.get("DYNAMODB_TEST_URL")
    if not dynamo:
        pytest.skip("needs DYNAMODB_TEST_URL (scripts/test.sh starts the emulator)")
    log = tmp_path_factory.mktemp("keyed-gateway") / "gateway.log"
    proc, url = start_gateway(
        mock_url,
        log,
        {
            "DYNAMODB_TABLE": f"gw-sdk-{uuid.uuid4().hex[:10]}",
            "DYNAMODB_CREATE_TABLE": "true",
            "AWS_ENDPOINT_URL_DYNAMODB": dynamo,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "GATEWAY_KEY_CACHE_SECONDS": "1",
        },
    )
    try:
        deadline = time.monotonic() + 20
        while call(f"{url}/admin/keys", ADMIN_KEY)[0] != 200:
            assert time.monotonic() < deadline, "the table was never created"
            time.sleep(0.1)
        yield url
    finally:
        stop_gateway(proc, log)


def test_a_virtual_key_from_creation_to_revocation(keyed_gateway, mock_url):
    url = keyed_gateway
    status, made = call(
        f"{url}/admin/keys",
        ADMIN_KEY,
        "POST",
        {"name": "sdk", "models": ["gpt-4o-mini"], "budget_total_usd": "0.000001"},
    )
    assert status == 201, made
    key = made["key"]
    # The SDK retries 429s unless told not to: give it the chance.
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=2)

    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello key"}]
    )
    assert answer.choices[0].message.content == "Echo: hello key"
    settled(url)

    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "other model"}]
        )
    assert denied.value.code == "model_not_allowed"

    calls = upstream_calls(mock_url)
    with pytest.raises(openai.RateLimitError) as spent:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "over budget"}]
        )
    assert spent.value.code == "budget_exceeded"
    assert spent.value.response.headers["x-should-retry"] == "false"
    assert upstream_calls(mock_url) == calls, "no upstream call"

    status, usage = call(f"{url}/v1/usage", key)
    assert status == 200
    assert usage["total"]["requests"] == 1
    assert usage["total"]["by_model"]["gpt-4o-mini"]["tokens"] > 0
    assert usage["budgets"]["total"]["remaining_usd"] == "0"

    # Another key's usage is its own; operator endpoints are closed to both.
    status, theirs = call(f"{url}/v1/usage", CLIENT_KEY)
    assert status == 200 and theirs["total"]["requests"] == 0
    for client_key in (key, CLIENT_KEY):
        for path in ("/admin/keys", f"/admin/keys/{made['id']}", "/metrics"):
            status, body = call(f"{url}{path}", client_key)
            assert status == 403, (path, body)
            assert body["error"]["code"] == "operator_key_required"

    status, _ = call(f"{url}/admin/keys/{made['id']}", ADMIN_KEY, "DELETE")
    assert status == 200
    with pytest.raises(openai.AuthenticationError) as revoked:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "revoked"}]
        )
    assert "revoked" in revoked.value.message
