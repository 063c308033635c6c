"""Starts the mock upstream and the gateway binaries on free loopback ports."""

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
GATEWAY_BIN = Path(os.environ.get("GATEWAY_BIN", TARGET / "debug" / "llm-gateway"))
MOCK_BIN = Path(os.environ.get("MOCK_BIN", TARGET / "debug" / "mock-upstream"))

PROVIDER_KEY = "sk-provider-acceptance-0123456789"
CLIENT_KEY = "gw-acceptance-client-key-01"
# A second client of the same gateway (another tenant).
OTHER_KEY = "gw-acceptance-other-key-02"
ADMIN_KEY = "gw-acceptance-admin-key-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def mock_url():
    port = free_port()
    proc = subprocess.Popen(
        [str(MOCK_BIN), "--port", str(port), "--key", PROVIDER_KEY, "--record"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/__mock/requests")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def start_gateway(mock_url, log, extra_env):
    """Starts the gateway binary in front of the mock; returns (process, url)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GATEWAY_API_KEYS": f"{CLIENT_KEY},{OTHER_KEY}",
        "GATEWAY_ADMIN_KEY": ADMIN_KEY,
        "OPENAI_API_KEY": PROVIDER_KEY,
        "OPENAI_BASE_URL": f"{mock_url}/v1",
        "ANTHROPIC_API_KEY": PROVIDER_KEY,
        "ANTHROPIC_BASE_URL": mock_url,
        "GEMINI_API_KEY": PROVIDER_KEY,
        "GEMINI_BASE_URL": mock_url,
        "UPSTREAM_TIMEOUT_SECONDS": "5",
        "RETRY_BACKOFF_MS": "20",
        "CACHE_ENABLED": "false",
        "CACHE_MODEL_DIR": str(ROOT / "models" / "cache"),
        "RETRY_MAX_BACKOFF_MS": "80",
        **extra_env,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(GATEWAY_BIN)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health")
    return proc, url


def stop_gateway(proc, log):
    proc.terminate()
    proc.wait(timeout=30)
    text = log.read_text()
    # Secrets never reach the logs.
    assert PROVIDER_KEY not in text and CLIENT_KEY not in text and ADMIN_KEY not in text


@pytest.fixture(scope="session")
def gateway_url(mock_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    proc, url = start_gateway(mock_url, log, {})
    try:
        yield url
    finally:
        stop_gateway(proc, log)


@pytest.fixture(scope="session")
def cached_gateway_url(mock_url, tmp_path_factory):
    """A gateway with the semantic cache on (in-memory index, local model),
    once the model has loaded."""
    log = tmp_path_factory.mktemp("cached-gateway") / "gateway.log"
    model_dir = os.environ.get("CACHE_MODEL_DIR", str(ROOT / "models" / "cache"))
    proc, url = start_gateway(
        mock_url, log, {"CACHE_ENABLED": "true", "CACHE_MODEL_DIR": model_dir, "CACHE_SEMANTIC": "true", "CACHE_VERIFIER_PRELOAD": "true"}
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as r:
                if json.load(r)["checks"].get("cache") == "ok":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cache never became ready: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        stop_gateway(proc, log)


@pytest.fixture()
def client(gateway_url):
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=CLIENT_KEY, max_retries=0)


MODELS = ["gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash"]


@pytest.fixture(params=MODELS)
def model(request):
    """Each test taking `model` runs once per provider."""
    return request.param


@pytest.fixture()
def cached_client(cached_gateway_url):
    return openai.OpenAI(base_url=f"{cached_gateway_url}/v1", api_key=CLIENT_KEY, max_retries=0)


def upstream_calls(mock_url) -> int:
    """How many requests the mock upstream has received."""
    with urllib.request.urlopen(f"{mock_url}/__mock/requests", timeout=5) as r:
        return len(json.load(r))


def settled(gateway_url, timeout: float = 10.0) -> None:
    """Waits until the gateway's writes after responses (cache stores, cost
    records) are done: a JSON answer reaches the client before them."""
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(
            f"{gateway_url}/metrics?format=json", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            if json.load(r)["costs"]["writes_in_flight"] == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("writes still in flight")
        time.sleep(0.01)
