"""The release binary as a Lambda function under `cargo lambda watch`
(Runtime API and Function URL emulation): the OpenAI SDK through the
Function URL, streamed and not, the stream arriving chunk by chunk; every
payload in events/ invoked with `cargo lambda invoke`."""

import json
import os
import subprocess
import time
from pathlib import Path

import openai
import pytest

from conftest import PROVIDER_KEY, ROOT, TARGET, free_port

CARGO_LAMBDA = Path(os.environ.get("CARGO_LAMBDA", ROOT / ".tools" / "cargo-lambda-venv" / "bin" / "cargo-lambda"))
RELEASE_BIN = Path(os.environ.get("GATEWAY_RELEASE_BIN", TARGET / "release" / "llm-gateway"))
# The key the payloads in events/ carry.
EVENT_KEY = "gw-local-client-key-0123456789"
# With --only-lambda-apis, cargo lambda names the one external function "_".
FUNCTION = "_"


@pytest.fixture(scope="module")
def lambda_watch(mock_url, tmp_path_factory):
    if not CARGO_LAMBDA.exists() or not RELEASE_BIN.exists():
        pytest.fail(f"needs {CARGO_LAMBDA} and {RELEASE_BIN} (scripts/test.sh installs and builds them)")
    port = free_port()
    logs = tmp_path_factory.mktemp("lambda")
    watch = subprocess.Popen(
        [str(CARGO_LAMBDA), "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
        cwd=ROOT, stdout=open(logs / "watch.log", "wb"), stderr=subprocess.STDOUT,
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "GATEWAY_API_KEYS": EVENT_KEY,
        "OPENAI_API_KEY": PROVIDER_KEY,
        "OPENAI_BASE_URL": f"{mock_url}/v1",
        "CACHE_ENABLED": "false",
        "EMF_METRICS": "true",
    }
    gateway = None
    try:
        deadline = time.monotonic() + 30
        while b"starting Runtime server" not in (logs / "watch.log").read_bytes():
            if time.monotonic() > deadline or watch.poll() is not None:
                raise RuntimeError((logs / "watch.log").read_text())
            time.sleep(0.05)
        gateway = subprocess.Popen([str(RELEASE_BIN)], env=env, stdout=open(logs / "gateway.log", "wb"),
                                   stderr=subprocess.STDOUT)
        yield {"port": port, "url": f"http://127.0.0.1:{port}/lambda-url/{FUNCTION}", "logs": logs}
    finally:
        if gateway:
            gateway.terminate()
            gateway.wait(timeout=10)
        watch.terminate()
        watch.wait(timeout=10)


@pytest.fixture()
def lambda_client(lambda_watch):
    return openai.OpenAI(base_url=f"{lambda_watch['url']}/v1", api_key=EVENT_KEY, max_retries=2)


def test_sdk_through_the_function_url(lambda_client):
    completion = lambda_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello function url"}]
    )
    assert completion.choices[0].message.content == "Echo: hello function url"
    assert completion.usage.total_tokens > 0


def test_stream_arrives_chunk_by_chunk(lambda_client):
    stream = lambda_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "one two three four mock:chunk_delay_ms=150"}],
        stream=True,
    )
    arrivals = []
    text = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            text += chunk.choices[0].delta.content
    assert text.startswith("Echo: one two three four")
    assert len(arrivals) >= 4
    # Buffered, they would arrive together; streamed, ~150 ms apart.
    assert arrivals[-1] - arrivals[0] > 0.3, arrivals
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert sum(g > 0.1 for g in gaps) >= 3, gaps


def test_wrong_key_is_refused(lambda_watch):
    client = openai.OpenAI(base_url=f"{lambda_watch['url']}/v1", api_key="wrong-key-000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


@pytest.mark.parametrize("event", sorted(p.name for p in (ROOT / "events").glob("*.json")))
def test_event_payloads_invoke(lambda_watch, event):
    out = subprocess.run(
        [str(CARGO_LAMBDA), "lambda", "invoke", "-A", "127.0.0.1", "-P", str(lambda_watch["port"]),
         "--data-file", str(ROOT / "events" / event), FUNCTION],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    body = out.stdout
    # HTTP APIs and ALB get the buffered format; Function URLs and REST APIs a stream.
    buffered = event.startswith(("http-api", "alb"))
    if buffered:
        reply = json.loads(body)
        assert reply["statusCode"] == 200, reply
        body = reply["body"]
    if "stream" in event:
        data = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
        assert data[-1] == "[DONE]", body
        assert any(json.loads(d).get("usage") for d in data[:-1]), body
    elif "health" in event:
        assert json.loads(body)["status"] == "ok"
    elif "models" in event:
        assert json.loads(body)["object"] == "list"
    else:
        assert json.loads(body)["choices"][0]["message"]["content"] == "Echo: Say hello."
