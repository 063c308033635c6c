"""The Vercel AI SDK's default OpenAI provider, `openai(model)`, which
speaks the Responses API: generateText, streamText and a tool call for
each provider, through tests/acceptance/vercel/check.mjs (Node.js)."""

import json
import shutil
import subprocess

import pytest

from conftest import CLIENT_KEY, ROOT

CHECK = ROOT / "tests" / "acceptance" / "vercel"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (scripts/test.sh installs the SDK with npm)")
def test_the_default_provider_works_for_each_provider(gateway_url, model):
    assert (CHECK / "node_modules" / "ai").is_dir(), "run npm ci in tests/acceptance/vercel (scripts/test.sh does)"
    out = subprocess.run(
        ["node", "check.mjs", f"{gateway_url}/v1", CLIENT_KEY, model],
        cwd=CHECK, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["text"] == "Echo: Say hello."
    assert seen["inputTokens"] > 0 and seen["outputTokens"] > 0
    assert seen["streamed"] == "Echo: Stream three words please"
    assert seen["streamFinish"] == "stop"
    assert [c["name"] for c in seen["toolCalls"]] == ["get_weather"]
    assert seen["urls"] and all(u.endswith("/v1/responses") for u in seen["urls"]), seen["urls"]
