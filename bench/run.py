#!/usr/bin/env python3
"""Gateway overhead benchmark.

Builds the release binaries, starts the mock OpenAI upstream and the gateway
in front of it on loopback, then, in one run, drives both at fixed request
rates with `oha` (non-streaming chat completions) and reports p50/p99 latency
of each, the gateway's overhead (difference and ratio), success rates, the
gateway's start-to-first-answer time and its idle and peak RSS.

Usage: bench/run.py [--rates 1000,2000,5000] [--duration 10] [--connections 64]
Needs `oha` on PATH or under bench/.tools (installed with cargo if missing).
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
TOOLS = ROOT / "bench" / ".tools"
CLIENT_KEY = "bench-client-key-0123456789"
ADMIN_KEY = "bench-admin-key-0123456789"
PROVIDER_KEY = "sk-bench-provider-0123456789"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to the benchmark"}]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oha_path() -> str:
    found = shutil.which("oha") or (str(TOOLS / "bin" / "oha") if (TOOLS / "bin" / "oha").exists() else None)
    if found:
        return found
    print("installing oha with cargo (one time)...", file=sys.stderr)
    subprocess.run(["cargo", "install", "oha", "--locked", "--root", str(TOOLS)], check=True)
    return str(TOOLS / "bin" / "oha")


def post(port: int, path: str, body: str, headers: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def start_gateway(gateway_bin: Path, mock_port: int, extra_env: dict | None = None):
    """Starts the gateway and measures the time from spawn to the first answered chat request."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(port),
        "GATEWAY_API_KEYS": CLIENT_KEY,
        "GATEWAY_ADMIN_KEY": ADMIN_KEY,
        "OPENAI_API_KEY": PROVIDER_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
        "ANTHROPIC_API_KEY": PROVIDER_KEY,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{mock_port}",
        "GOOGLE_API_KEY": PROVIDER_KEY,
        "GEMINI_BASE_URL": f"http://127.0.0.1:{mock_port}",
        "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        "CACHE_ENABLED": "false",
        **(extra_env or {}),
    }
    log = open(ROOT / "bench" / "results" / "gateway.log", "wb")
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"}
    started = time.perf_counter()
    proc = subprocess.Popen([str(gateway_bin)], env=env, stdout=log, stderr=subprocess.STDOUT)
    while True:
        try:
            if post(port, "/v1/chat/completions", BODY, headers) == 200:
                break
        except OSError:
            time.sleep(0.0005)
        if time.perf_counter() - started > 10:
            proc.kill()
            raise RuntimeError("gateway did not answer within 10 s")
    first_answer_ms = (time.perf_counter() - started) * 1000
    return proc, port, first_answer_ms


def load(oha: str, url: str, rate: int, duration: int, connections: int, auth: bool,
         headers: list | None = None) -> dict:
    cmd = [oha, "-z", f"{duration}s", "-q", str(rate), "-c", str(connections), "--latency-correction",
           "--no-tui", "--output-format", "json", "-m", "POST", "-H", "content-type: application/json",
           "-d", BODY]
    if auth:
        cmd += ["-H", f"authorization: Bearer {CLIENT_KEY}"]
    for header in headers or []:
        cmd += ["-H", header]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    codes = data.get("statusCodeDistribution", {})
    ok = codes.get("200", 0)
    # Requests oha itself cut at the end of the run are not answers.
    errors = {k: v for k, v in data.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
    total = sum(codes.values()) + sum(errors.values())
    return {
        "rps": data["summary"]["requestsPerSec"],
        "p50_ms": data["latencyPercentiles"]["p50"] * 1000,
        "p99_ms": data["latencyPercentiles"]["p99"] * 1000,
        "ok": ok,
        "total": total,
        "errors": errors,
    }


def timed_posts(port: int, model: str, text: str, n: int) -> list:
    """Sequential requests on one keep-alive connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"}
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out


def pct(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p))]


def failover_overhead(gateway_bin: Path, mock_port: int, n: int = 300) -> dict:
    """Failover cost: a request whose first provider fails (no retries) against
    the failed attempt alone plus a healthy request to the second provider."""
    proc, port, _ = start_gateway(gateway_bin, mock_port, {"UPSTREAM_MAX_RETRIES": "0"})
    try:
        timed_posts(port, "claude-haiku-4-5", "warm up", 50)
        failed = timed_posts(port, "openai/gpt-3.5-turbo", "fail mock:status=503", n)
        healthy = timed_posts(port, "claude-haiku-4-5", "healthy", n)
        failover = timed_posts(port, "gpt-4o-mini", "fail over mock:status=503@openai", n)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        p: {"failed": pct(failed, q), "healthy": pct(healthy, q), "failover": pct(failover, q),
            "extra": pct(failover, q) - pct(healthy, q)}
        for p, q in (("p50", 0.5), ("p99", 0.99))
    }


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    data = json.loads(conn.getresponse().read())
    conn.close()
    return data


def start_redis():
    """Redis Stack on a free loopback port (infra/local/redis-stack.sh); returns (url, dir)."""
    script = ROOT / "infra" / "local" / "redis-stack.sh"
    subprocess.run([str(script), "install"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    work = ROOT / "bench" / "results" / "redis"
    subprocess.run([str(script), "start", str(port), str(work)], check=True, stdout=subprocess.DEVNULL)
    return f"redis://127.0.0.1:{port}", work


def timed_posts_direct(mock_port: int, text: str, n: int) -> list:
    """The same request straight to the mock upstream; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", mock_port, timeout=10)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
        conn.getresponse().read()
        out.append((time.perf_counter() - started) * 1000)
    conn.close()
    return out


def wait_cache_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while get_json(port, "/ready")["checks"].get("cache") != "ok":
        if time.monotonic() > deadline:
            raise RuntimeError("cache not ready")
        time.sleep(0.05)


def cache_hits(gateway_bin: Path, mock_port: int, redis_url, n: int = 300, verified_n: int = 30) -> dict:
    """Exact and verified (paraphrase) cache hits served sequentially on one
    connection, against the same question sent straight to the mock. The
    paraphrase is never stored, so each of its `verified_n` requests (50 ms
    apart, as hits come between other traffic) is a verified hit."""
    env = {"CACHE_ENABLED": "true", "CACHE_SEMANTIC": "true", "CACHE_VERIFIER_PRELOAD": "true",
           "CACHE_MODEL_DIR": str(ROOT / "models" / "cache")}
    if redis_url:
        env["REDIS_URL"] = redis_url
    proc, port, _ = start_gateway(gateway_bin, mock_port, env)
    try:
        wait_cache_ready(port)
        tag = uuid.uuid4().hex[:6]
        question = f"How do I rotate the API keys of my {tag} service account?"
        paraphrase = f"How can I rotate the API keys of my {tag} service account?"
        timed_posts(port, "gpt-4o-mini", question, 1)  # a miss, stored
        time.sleep(0.2)
        exact = timed_posts(port, "gpt-4o-mini", question, n)
        verified = []
        for _ in range(verified_n):
            time.sleep(0.05)
            verified += timed_posts(port, "gpt-4o-mini", paraphrase, 1)
        cache = get_json(port, "/metrics?format=json")["cache"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if cache["exact_hits"] < n:
        raise RuntimeError(f"expected {n} exact hits: {cache}")
    direct = timed_posts_direct(mock_port, question, n)
    return {"hit_p50": pct(exact, 0.5), "hit_p99": pct(exact, 0.99), "verified_first_ms": verified[0],
            "verified_p50": pct(verified, 0.5), "verified_max": max(verified),
            "verified_hits": cache["hits"] - cache["exact_hits"], "verified_n": verified_n,
            "direct_p50": pct(direct, 0.5), "verify_ms_mean": cache["verify_ms_mean"]}


def cache_section(mock_port: int) -> dict:
    redis_url, redis_dir = start_redis()
    try:
        return {
            "memory": cache_hits(TARGET / "release" / "llm-gateway", mock_port, None),
            "redis (loopback)": cache_hits(TARGET / "release" / "llm-gateway", mock_port, redis_url),
        }
    finally:
        subprocess.run([str(ROOT / "infra" / "local" / "redis-stack.sh"), "stop", str(redis_dir)], check=False)


def build_load_tool() -> None:
    """Builds examples/load.rs, which `load_prompts` runs."""
    subprocess.run(["cargo", "build", "--release", "--example", "load", "--locked"], cwd=ROOT, check=True)


def load_prompts(url: str, rate: int, seconds: int, connections: int, mode: str, key: str) -> dict:
    """examples/load.rs: open-loop load with a new prompt per request."""
    binary = TARGET / "release" / "examples" / "load"
    out = subprocess.run([str(binary), url, str(rate), str(seconds), str(connections), mode, key],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def cache_load_section(gateway_bin: Path, mock_port: int, duration: int, connections: int) -> dict:
    """Cache off against cache on (in-memory index, defaults), one run: every
    request a miss (distinct prompts), every request a hit (one repeated
    prompt), every request a near neighbour the verifier must read; latency
    at a light rate, throughput when offered more than the machine serves,
    and RSS idle and under load."""
    build_load_tool()
    direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    out = {"direct": {
        "light": load_prompts(direct_url, 100, duration, connections, "distinct", ""),
    }}
    for name, enabled, semantic in (("cache off", "false", "false"), ("cache on, exact only", "true", "false"),
                                    ("cache on (default: exact + semantic)", "true", "true")):
        env = {"CACHE_ENABLED": enabled, "CACHE_SEMANTIC": semantic, "CACHE_MODEL_DIR": str(ROOT / "models" / "cache")}
        proc, port, _ = start_gateway(gateway_bin, mock_port, env)
        try:
            if enabled == "true":
                wait_cache_ready(port)
            time.sleep(0.5)
            row = {"idle_rss_kb": rss_kb(proc.pid, "VmRSS")}
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            load_prompts(url, 500, 2, connections, "distinct", CLIENT_KEY)  # warm
            row["distinct light"] = load_prompts(url, 100, duration, connections, "distinct", CLIENT_KEY)
            row["distinct max"] = load_prompts(url, 8000, duration, connections, "distinct", CLIENT_KEY)
            row["distinct 2000"] = load_prompts(url, 2000, duration, connections, "distinct", CLIENT_KEY)
            row["repeat light"] = load_prompts(url, 100, duration, connections, "repeat", CLIENT_KEY)
            row["repeat max"] = load_prompts(url, 8000, duration, connections, "repeat", CLIENT_KEY)
            row["near light"] = load_prompts(url, 100, duration, connections, "near", CLIENT_KEY)
            row["near max"] = load_prompts(url, 8000, duration, connections, "near", CLIENT_KEY)
            row["near 2000"] = load_prompts(url, 2000, duration, connections, "near", CLIENT_KEY)
            row["peak_rss_kb"] = rss_kb(proc.pid, "VmHWM")
            row["cache"] = get_json(port, "/metrics?format=json").get("cache")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        out[name] = row
    return out


def cache_miss_section(gateway_bin: Path, mock_port: int, duration: int, connections: int,
                       rounds: int = 6) -> list:
    """What a miss costs: the cache off and on (the default) side by side,
    driven in turn with distinct prompts at 100 req/s for `rounds` rounds,
    so that the machine's drift falls on both alike; p50 of each."""
    build_load_tool()
    urls, procs = {}, []
    try:
        for name, enabled in (("off", "false"), ("on", "true")):
            env = {"CACHE_ENABLED": enabled, "CACHE_MODEL_DIR": str(ROOT / "models" / "cache")}
            proc, port, _ = start_gateway(gateway_bin, mock_port, env)
            procs.append(proc)
            if enabled == "true":
                wait_cache_ready(port)
            urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
        for url in urls.values():
            load_prompts(url, 500, 2, connections, "distinct", CLIENT_KEY)  # warm
        rows = []
        for _ in range(rounds):
            rows.append({name: load_prompts(url, 100, duration, connections, "distinct", CLIENT_KEY)["p50_ms"]
                         for name, url in urls.items()})
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def print_cache_miss(rows: list) -> None:
    print("\nwhat a miss costs (distinct prompts, 100 req/s, cache off and on driven in turn; p50 ms)")
    print("| round | cache off | cache on (default) | added |")
    print("|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['off']:.3f} | {r['on']:.3f} | {r['on'] - r['off']:+.3f} |")
    added = sorted(r["on"] - r["off"] for r in rows)
    print(f"median added: {statistics.median(added):+.3f} ms (range {added[0]:+.3f} to {added[-1]:+.3f})")


def print_cache_load(r: dict) -> None:
    d = r["direct"]["light"]
    print(f"\ncache off vs on (open loop, new prompt per request; direct mock at 100 req/s: p50 {d['p50_ms']:.3f} ms)")
    print("| gateway | idle RSS (MiB) | peak RSS (MiB) | workload | offered (req/s) | achieved (req/s) | p50 / p99 (ms) | hits |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("cache off", "cache on, exact only", "cache on (default: exact + semantic)"):
        row = r[name]
        for w in ("distinct light", "distinct max", "distinct 2000", "repeat light", "repeat max", "near light",
                  "near max", "near 2000"):
            x = row[w]
            print(f"| {name} | {row['idle_rss_kb'] / 1024:.1f} | {row['peak_rss_kb'] / 1024:.1f} | {w} "
                  f"| {x['offered_rps']} | {x['achieved_rps']:.0f} | {x['p50_ms']:.3f} / {x['p99_ms']:.3f} "
                  f"| {x['hits']} of {x['ok']} |")


def start_dynamodb():
    """The DynamoDB emulator on a free loopback port; returns (url, dir)."""
    script = ROOT / "infra" / "local" / "dynamodb-emulator.sh"
    port = free_port()
    work = ROOT / "bench" / "results" / "dynamodb"
    subprocess.run([str(script), "start", str(port), str(work)], check=True, stdout=subprocess.DEVNULL)
    return f"http://127.0.0.1:{port}", work


def emulator_round_trip(url: str, table: str, n: int = 300) -> list:
    """One UpdateItem (ADD) per call with boto3 from the emulator's venv; ms."""
    python = ROOT / ".tools" / "moto-venv" / "bin" / "python"
    code = f"""
import boto3, time, json
c = boto3.client("dynamodb", endpoint_url="{url}", region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
out = []
for i in range({n}):
    t = time.perf_counter()
    c.update_item(TableName="{table}", Key={{"pk": {{"S": "BENCH"}}, "sk": {{"S": "RTT"}}}},
                  UpdateExpression="ADD n :one", ExpressionAttributeValues={{":one": {{"N": "1"}}}})
    out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""
    return json.loads(subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout)


def limits_section(gateway_bin: Path, mock_port: int, n: int = 300) -> dict:
    """Request latency with a provider rate limit kept in DynamoDB (the
    emulator) against the same gateway without limits, and the emulator's
    own round trip."""
    url, work = start_dynamodb()
    table = f"bench-{uuid.uuid4().hex[:8]}"
    config = ROOT / "bench" / "results" / "limits.toml"
    config.write_text("[limits.openai]\nrequests_per_minute = 1000000\ntokens_per_minute = 1000000000\n")
    dynamo = {"DYNAMODB_TABLE": table, "DYNAMODB_CREATE_TABLE": "true", "AWS_ENDPOINT_URL_DYNAMODB": url,
              "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    try:
        plain, port, _ = start_gateway(gateway_bin, mock_port)
        try:
            timed_posts(port, "gpt-4o-mini", "warm up", 50)
            without = timed_posts(port, "gpt-4o-mini", "no limits", n)
            ttfb_without = first_byte_posts(port, n)
        finally:
            plain.terminate()
            plain.wait(timeout=30)
        limited, port, _ = start_gateway(gateway_bin, mock_port, {**dynamo, "GATEWAY_CONFIG": str(config)})
        try:
            time.sleep(1.0)  # the table is created in the background
            timed_posts(port, "gpt-4o-mini", "warm up", 50)
            with_limits = timed_posts(port, "gpt-4o-mini", "limited", n)
            ttfb = first_byte_posts(port, n)
        finally:
            limited.terminate()
            limited.wait(timeout=30)
        rtt = emulator_round_trip(url, table, n)
    finally:
        subprocess.run([str(ROOT / "infra" / "local" / "dynamodb-emulator.sh"), "stop", str(work)], check=False)
    return {"without_p50": pct(without, 0.5), "with_p50": pct(with_limits, 0.5),
            "without_p99": pct(without, 0.99), "with_p99": pct(with_limits, 0.99),
            "rtt_p50": pct(rtt, 0.5), "rtt_p99": pct(rtt, 0.99), "ttfb_p50": pct(ttfb, 0.5),
            "ttfb_p99": pct(ttfb, 0.99), "ttfb_without_p50": pct(ttfb_without, 0.5),
            "ttfb_without_p99": pct(ttfb_without, 0.99)}


def wait_writes(port: int) -> None:
    """Waits until the gateway's writes after responses are done."""
    while get_json(port, "/metrics?format=json")["costs"]["writes_in_flight"]:
        time.sleep(0.001)


def first_byte_posts(port: int, n: int, key: str = CLIENT_KEY) -> list:
    """Time to the response headers (the first byte) of non-streamed
    requests, each sent once the previous one's writes are done (the
    emulator serves one call at a time, so overlapping writes would queue
    the next request's bucket check behind them); ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "first byte"}]})
    out = []
    while len(out) < n:
        wait_writes(port)
        started = time.perf_counter()
        try:
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The gateway closes a connection idle past its header timeout
            # (a slow emulator can keep the writes going that long): open
            # another and leave this sample out.
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        out.append((time.perf_counter() - started) * 1000)
        response.read()
    conn.close()
    return out


def print_limits(r: dict) -> None:
    print("\nrate limits and costs in DynamoDB (emulator on loopback; sequential, one connection; ms)")
    print("| | p50 | p99 |")
    print("|---|---|---|")
    print(f"| first byte, no limits (memory store) | {r['ttfb_without_p50']:.3f} | {r['ttfb_without_p99']:.3f} |")
    print(f"| first byte, provider limit in DynamoDB | {r['ttfb_p50']:.3f} | {r['ttfb_p99']:.3f} |")
    print(f"| added before the first byte | {r['ttfb_p50'] - r['ttfb_without_p50']:+.3f} | {r['ttfb_p99'] - r['ttfb_without_p99']:+.3f} |")
    print(f"| one emulator UpdateItem (boto3) | {r['rtt_p50']:.3f} | {r['rtt_p99']:.3f} |")
    print(f"| back-to-back requests, no limits | {r['without_p50']:.3f} | {r['without_p99']:.3f} |")
    print(f"| back-to-back requests, limits + cost records in DynamoDB | {r['with_p50']:.3f} | {r['with_p99']:.3f} |")


def create_key(port: int, fields: dict) -> str:
    """A virtual key made through the admin API; returns its secret."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/admin/keys", body=json.dumps(fields),
                 headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"key not created: {body}")
    return body["key"]


def first_byte_direct(mock_port: int, n: int) -> list:
    """Time to the response headers from the mock upstream itself; ms."""
    conn = http.client.HTTPConnection("127.0.0.1", mock_port, timeout=10)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "first byte"}]})
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        out.append((time.perf_counter() - started) * 1000)
        response.read()
    conn.close()
    return out


def keys_section(gateway_bin: Path, mock_port: int, n: int = 2000) -> dict:
    """What key resolution and budget checks add on the hot path: time to
    the first byte with a static key, with a virtual key that has budgets
    and a model list, and straight from the mock; memory store and the
    DynamoDB emulator (fewer requests there: the emulator copies its whole
    table for every transaction, so each cost write slows as it grows);
    measured in alternating rounds."""
    url, work = start_dynamodb()
    dynamo = {"DYNAMODB_TABLE": f"bench-{uuid.uuid4().hex[:8]}", "DYNAMODB_CREATE_TABLE": "true",
              "AWS_ENDPOINT_URL_DYNAMODB": url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
              "AWS_SECRET_ACCESS_KEY": "test"}
    out = {}
    try:
        for store, extra, rows in (("memory", {}, n), ("dynamodb", dynamo, n // 4)):
            proc, port, _ = start_gateway(gateway_bin, mock_port, extra)
            try:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        key = create_key(port, {"models": ["gpt-4o-mini"], "budget_daily_usd": 1000,
                                                "budget_monthly_usd": 10000, "budget_total_usd": 100000})
                        break
                    except RuntimeError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)  # the table is created in the background
                first_byte_posts(port, 100)
                first_byte_posts(port, 100, key)
                direct, static, virtual = [], [], []
                for _ in range(10):
                    direct += first_byte_direct(mock_port, rows // 10)
                    static += first_byte_posts(port, rows // 10)
                    virtual += first_byte_posts(port, rows // 10, key)
                out[store] = {name: {"p50": pct(v, 0.5), "p99": pct(v, 0.99)}
                              for name, v in (("direct", direct), ("static", static), ("virtual", virtual))}
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        subprocess.run([str(ROOT / "infra" / "local" / "dynamodb-emulator.sh"), "stop", str(work)], check=False)
    return out


def print_keys(r: dict) -> None:
    print("\nkey resolution and budget checks (time to first byte, sequential, one connection;"
          " 2,000 requests a row in memory, 500 on the emulator; ms)")
    print("| store | direct to mock p50 / p99 | static key p50 / p99 | virtual key with budgets p50 / p99 "
          "| added by the virtual key at p50 | ratio to direct (static / virtual) |")
    print("|---|---|---|---|---|---|")
    for store, x in r.items():
        d, s, v = x["direct"], x["static"], x["virtual"]
        print(f"| {store} | {d['p50']:.3f} / {d['p99']:.3f} | {s['p50']:.3f} / {s['p99']:.3f} "
              f"| {v['p50']:.3f} / {v['p99']:.3f} | {v['p50'] - s['p50']:+.3f} "
              f"| {s['p50'] / d['p50']:.2f} / {v['p50'] / d['p50']:.2f} |")


def lambda_cold_start(gateway_bin: Path, runs: int = 20) -> dict:
    """Process spawn → the runtime's first `GET …/invocation/next`, against
    a minimal Runtime API stub (it never hands out an invocation): the time
    a cold start spends before it can take the first request."""
    import http.server
    import threading

    first = {}
    ready = threading.Event()

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            if self.path.endswith("/runtime/invocation/next") and "t" not in first:
                first["t"] = time.perf_counter()
                ready.set()
            time.sleep(0.5)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "gateway", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "1", "GATEWAY_API_KEYS": CLIENT_KEY,
        "OPENAI_API_KEY": PROVIDER_KEY, "ANTHROPIC_API_KEY": PROVIDER_KEY, "GEMINI_API_KEY": PROVIDER_KEY,
        "CACHE_ENABLED": "true", "EMBEDDING_MODEL_DIR": str(ROOT / "models" / "all-MiniLM-L6-v2"),
        "DYNAMODB_TABLE": "gateway", "AWS_REGION": "us-east-1",
        # Declared providers, Bedrock's SDK client among them, cost nothing
        # until first used.
        "GATEWAY_CONFIG_TOML": '[providers.bedrock]\nkind = "bedrock"\nmodels = ["amazon.nova-lite-v1:0"]\n'
                               '[providers.groq]\nkind = "openai"\nbase_url = "https://api.groq.com/openai/v1"\n'
                               'models = ["llama-3.3-70b-versatile"]\n',
    }
    samples = []
    try:
        for _ in range(runs):
            first.clear()
            ready.clear()
            started = time.perf_counter()
            proc = subprocess.Popen([str(gateway_bin)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not ready.wait(10):
                proc.kill()
                raise RuntimeError("the runtime never asked for an invocation")
            samples.append((first["t"] - started) * 1000)
            proc.kill()
            proc.wait()
    finally:
        server.shutdown()
    return {"p50": pct(samples, 0.5), "max": max(samples), "size_mib": gateway_bin.stat().st_size / 1048576}


def tracing_section(gateway_bin: Path, mock_port: int, oha: str, rate: int, duration: int, connections: int,
                    rounds: int = 4) -> dict:
    """Overhead at one rate with tracing off and on (OTLP/HTTP to the mock's
    trace sink, which accepts every export), interleaved over `rounds`, each
    beside a direct run in the same round."""
    modes = {
        "off": {},
        "on": {"OTEL_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{mock_port}",
               **({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": os.environ["BSP_BATCH"]} if "BSP_BATCH" in os.environ else {})},
    }
    out = {"off": [], "on": [], "direct": []}
    direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    for _ in range(rounds):
        for mode, env in modes.items():
            proc, port, _ = start_gateway(gateway_bin, mock_port, env)
            try:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                load(oha, url, 500, 2, connections, True)
                out["direct"].append(load(oha, direct_url, rate, duration, connections, False))
                out[mode].append(load(oha, url, rate, duration, connections, True))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    received = get_json(mock_port, "/__mock/traces")
    out["exports"] = received["exports"]
    out["export_bytes"] = received["bytes"]
    out["rate"] = rate
    return out


def print_tracing(r: dict) -> None:
    print(f"\ntracing off / on at {r['rate']} req/s (gateway p99 − direct p99 of the same round, ms); "
          f"{r['exports']} OTLP exports, {r['export_bytes'] / 1024:.0f} KiB received")
    print("| round | tracing | direct p50 / p99 | gateway p50 / p99 | overhead p99 | success |")
    print("|---|---|---|---|---|---|")
    directs = iter(r["direct"])
    deltas = {"off": [], "on": []}
    for i in range(len(r["off"])):
        for mode in ("off", "on"):
            d, g = next(directs), r[mode][i]
            overhead = g["p99_ms"] - d["p99_ms"]
            deltas[mode].append(overhead)
            success = g["ok"] / g["total"] * 100 if g["total"] else 0.0
            errors = ", ".join(f"{k}: {v}" for k, v in g["errors"].items())
            print(f"| {i + 1} | {mode} | {d['p50_ms']:.3f} / {d['p99_ms']:.3f} | {g['p50_ms']:.3f} / {g['p99_ms']:.3f} "
                  f"| {overhead:+.3f} | {success:.2f}% {errors} |")
    off = sum(deltas["off"]) / len(deltas["off"])
    on = sum(deltas["on"]) / len(deltas["on"])
    print(f"mean overhead p99: off {off:+.3f} ms, on {on:+.3f} ms; tracing adds {(on - off) * 1000:+.0f} µs")


def soak_section(gateway_bin: Path, mock_port: int, oha: str, rate: int, seconds: int, connections: int) -> dict:
    """Sustained non-streaming load for `seconds` with the gateway's RSS
    sampled every 5 s, then 1,000 concurrent streaming clients with RSS
    sampled while they are held open (`streams_section`)."""
    import threading

    extra = dict(item.split("=", 1) for item in os.environ.get("SOAK_GATEWAY_ENV", "").split() if "=" in item)
    proc, port, _ = start_gateway(gateway_bin, mock_port, extra)
    out = {"rate": rate, "seconds": seconds}
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        load(oha, url, 500, 3, connections, True)
        out["rss_warm_kb"] = rss_kb(proc.pid, "VmRSS")
        # RSS follows the highest concurrency seen, not the request count:
        # each request in flight at once needs its own upstream connection
        # (and buffers), and glibc keeps the freed pages for reuse. Warm the
        # pools at the run's full concurrency (every connection busy) so a
        # client hiccup mid-run cannot raise it, then hold the rate.
        out["burst"] = load(oha, url, 100_000, 5, connections, True)
        out["rss_burst_kb"] = rss_kb(proc.pid, "VmRSS")
        out["direct"] = load(oha, f"http://127.0.0.1:{mock_port}/v1/chat/completions", rate, 30, connections, False)
        samples = []
        upstream = []
        stop = threading.Event()

        def sample():
            while not stop.wait(5.0):
                samples.append(rss_kb(proc.pid, "VmRSS"))
                upstream.append(upstream_connections(mock_port))

        sampler = threading.Thread(target=sample)
        sampler.start()
        out["load"] = load(oha, url, rate, seconds, connections, True)
        stop.set()
        sampler.join()
        out["rss_kb"] = samples
        out["upstream_connections"] = upstream
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out["streams"] = streams_section(gateway_bin, mock_port, oha)
    return out


def upstream_connections(mock_port: int) -> int:
    """Established TCP connections to the mock upstream."""
    out = subprocess.run(["ss", "-tnH", "state", "established", f"dport = :{mock_port}"],
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def streams_section(gateway_bin: Path, mock_port: int, oha: str) -> dict:
    """1,000 concurrent streaming clients, each ~4 s long (40 words, 100 ms
    apart), with the gateway's RSS sampled every 0.25 s: once with the
    upstream over HTTP/1.1 (one connection per stream) and once over h2c,
    as providers are reached over HTTP/2 (many streams per connection)."""
    import resource
    import threading

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    out = {}
    for name, extra in [("http1", {}), ("h2", {"UPSTREAM_HTTP2_PRIOR_KNOWLEDGE": "true"})]:
        connections_before = get_json(mock_port, "/__mock/streams")["connections"]
        proc, port, _ = start_gateway(gateway_bin, mock_port, extra)
        try:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            body = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [
                {"role": "user", "content": "hold the line mock:words=40 mock:chunk_delay_ms=100"}]})
            stream_rss = []
            open_max = [0]

            def upstream_open():
                open_max[0] = max(open_max[0], get_json(mock_port, "/__mock/streams")["open"])

            stop = threading.Event()

            def sample():
                while not stop.wait(0.25):
                    stream_rss.append(rss_kb(proc.pid, "VmRSS"))
                    upstream_open()

            sampler = threading.Thread(target=sample)
            before = rss_kb(proc.pid, "VmRSS")
            sampler.start()
            cmd = [oha, "-n", "1000", "-c", "1000", "--no-tui", "--output-format", "json", "-m", "POST",
                   "-H", "content-type: application/json", "-H", f"authorization: Bearer {CLIENT_KEY}",
                   "-d", body, "-t", "60s", url]
            data = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            stop.set()
            sampler.join()
            out[name] = {
                "ok": data.get("statusCodeDistribution", {}).get("200", 0),
                "errors": data.get("errorDistribution", {}),
                "p50_s": data["latencyPercentiles"]["p50"],
                "p99_s": data["latencyPercentiles"]["p99"],
                "rss_before_kb": before,
                "rss_peak_kb": max(stream_rss) if stream_rss else before,
                "upstream_open_max": open_max[0],
                "upstream_connections": get_json(mock_port, "/__mock/streams")["connections"] - connections_before,
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def print_soak(r: dict) -> None:
    d, g, rss = r["direct"], r["load"], r["rss_kb"]
    success = g["ok"] / g["total"] * 100 if g["total"] else 0.0
    first, last = rss[1] if len(rss) > 1 else rss[0], rss[-1]
    print(f"\nsoak: {r['rate']} req/s for {r['seconds']} s: gateway p50 / p99 {g['p50_ms']:.3f} / {g['p99_ms']:.3f} ms "
          f"(direct {d['p50_ms']:.3f} / {d['p99_ms']:.3f}; p99 overhead {g['p99_ms'] - d['p99_ms']:+.3f} ms), "
          f"{g['rps']:.0f} req/s, success {success:.3f}% {g['errors'] or ''}")
    if "rss_burst_kb" in r:
        print(f"RSS after warm-up {r['rss_warm_kb'] / 1024:.1f} MiB, after 5 s at full concurrency "
              f"({r['burst']['rps']:.0f} req/s) {r['rss_burst_kb'] / 1024:.1f} MiB")
    lo, hi = min(rss[1:] or rss), max(rss[1:] or rss)
    print(f"RSS every 5 s (MiB): first {first / 1024:.1f} (after 10 s), min {lo / 1024:.1f}, "
          f"max {hi / 1024:.1f}, last {last / 1024:.1f}: {(last - first) / first * 100:+.1f}% over the run, "
          f"band {(lo - first) / first * 100:+.1f}% / {(hi - first) / first * 100:+.1f}%")
    series = ", ".join(f"{kb / 1024:.1f}" for kb in rss[::12])
    print(f"RSS each minute (MiB): {series}")
    if r.get("upstream_connections"):
        conns = r["upstream_connections"]
        print(f"upstream connections each minute: {', '.join(str(c) for c in conns[::12])} (max {max(conns)})")
    if os.environ.get("SOAK_ALL_SAMPLES"):
        print("RSS every 5 s (MiB): " + ", ".join(f"{kb / 1024:.1f}" for kb in rss))
        print("upstream connections every 5 s: " + ", ".join(str(c) for c in r.get("upstream_connections", [])))
    print_streams(r["streams"])


def print_streams(r: dict) -> None:
    for name, s in r.items():
        print(f"1,000 concurrent streams (~4 s each), upstream {name}: {s['ok']} ok {s['errors'] or ''}, "
              f"upstream streams open at once (max seen) {s['upstream_open_max']} over {s.get('upstream_connections', '?')} "
              f"connections, latency p50 / p99 "
              f"{s['p50_s']:.2f} / {s['p99_s']:.2f} s, gateway RSS {s['rss_before_kb'] / 1024:.1f} MiB before, "
              f"{s['rss_peak_kb'] / 1024:.1f} MiB ({s['rss_peak_kb'] * 1024 / 1e6:.1f} MB) peak")


def print_cold(r: dict) -> None:
    print(f"\nLambda cold start (spawn → first GET /invocation/next; cache, DynamoDB, a Bedrock and an "
          f"OpenAI-compatible provider configured): "
          f"p50 {r['p50']:.1f} ms, max {r['max']:.1f} ms; release binary {r['size_mib']:.1f} MiB")


def print_cache(rows: dict) -> None:
    print("\ncache hits (sequential, one connection; ms): the same question stored once, then asked again")
    print("| index | exact hit p50 / p99 | verified hits | verified hit first / p50 / max | verifier mean "
          "| direct mock p50 |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['hit_p50']:.3f} / {r['hit_p99']:.3f} | {r['verified_hits']} of {r['verified_n']} "
              f"| {r['verified_first_ms']:.1f} / {r['verified_p50']:.1f} / {r['verified_max']:.1f} "
              f"| {r['verify_ms_mean']:.3f} | {r['direct_p50']:.3f} |")


# The newest release whose `proxy` extra installs from PyPI alone.
LITELLM_VERSION = "1.106.0"
PORTKEY_VERSION = "1.15.2"


def compare_tools() -> dict:
    """Installs the compared gateways once under bench/.tools (pinned)."""
    venv = TOOLS / "litellm-venv"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    portkey = TOOLS / "portkey"
    start = portkey / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not start.exists():
        portkey.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "init", "-y"], cwd=portkey, check=True, capture_output=True)
        subprocess.run(["npm", "install", "--silent", f"@portkey-ai/gateway@{PORTKEY_VERSION}"], cwd=portkey,
                       check=True)
    return {"litellm": venv / "bin" / "litellm", "portkey": start}


def tree_rss_kb(pid: int, field: str) -> int:
    """`field` of a process and all its descendants, summed (multi-process servers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_kb(current, field)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return total


def start_and_time(cmd: list, env: dict, port: int, headers: dict, log_name: str, timeout: float = 120):
    """Starts a proxy; returns (process, ms from spawn to its first answered chat request)."""
    log = open(ROOT / "bench" / "results" / log_name, "wb")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    while True:
        try:
            if post(port, "/v1/chat/completions", BODY, headers) == 200:
                return proc, (time.perf_counter() - started) * 1000
        except OSError:
            time.sleep(0.01)
        if proc.poll() is not None or time.perf_counter() - started > timeout:
            proc.kill()
            raise RuntimeError(f"{cmd[0]} did not answer within {timeout} s (see bench/results/{log_name})")


def compare_section(gateway_bin: Path, mock_port: int, oha: str, rates: list, duration: int,
                    connections: int) -> dict:
    """The same mock, the same load, in one run: direct, this gateway, LiteLLM's proxy and Portkey's
    gateway, each configured for one OpenAI-compatible upstream with nothing optional on."""
    tools = compare_tools()
    base = f"http://127.0.0.1:{mock_port}/v1"
    path = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    results = {}
    direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    load(oha, direct_url, 200, 2, connections, False)
    results["direct"] = {"rows": [load(oha, direct_url, r, duration, connections, False) for r in rates]}

    def run(name: str, cmd: list, env: dict, port: int, headers: dict) -> None:
        log = "compare-" + "".join(c if c.isalnum() else "-" for c in name) + ".log"
        proc, first_ms = start_and_time(cmd, {**path, **env}, port, headers, log)
        try:
            time.sleep(1.0)
            idle = tree_rss_kb(proc.pid, "VmRSS")
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            hdrs = [f"{k}: {v}" for k, v in headers.items() if k != "content-type"]
            load(oha, url, 100, 2, connections, False, hdrs)
            rows = [load(oha, url, r, duration, connections, False, hdrs) for r in rates]
            results[name] = {"first_answer_ms": first_ms, "idle_rss_mib": idle / 1024,
                             "peak_rss_mib": tree_rss_kb(proc.pid, "VmHWM") / 1024, "rows": rows}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    port = free_port()
    run("llm-gateway", [str(gateway_bin)],
        {"PORT": str(port), "GATEWAY_API_KEYS": CLIENT_KEY, "OPENAI_API_KEY": PROVIDER_KEY,
         "OPENAI_BASE_URL": base, "CACHE_ENABLED": "false", "RUST_LOG": "warn"},
        port, {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"})

    config = ROOT / "bench" / "results" / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
        f"      api_base: {base}\n      api_key: {PROVIDER_KEY}\n"
        f"general_settings:\n  master_key: sk-{CLIENT_KEY}\n"
        "litellm_settings:\n  telemetry: false\n  drop_params: true\n")
    for workers in (1, os.cpu_count() or 1):
        port = free_port()
        name = "litellm" if workers == 1 else f"litellm ({workers} workers)"
        run(name, [str(tools["litellm"]), "--config", str(config), "--port", str(port), "--num_workers",
                   str(workers)],
            {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"},
            port, {"authorization": f"Bearer sk-{CLIENT_KEY}", "content-type": "application/json"})

    port = free_port()
    run("portkey", ["node", str(tools["portkey"]), f"--port={port}", "--headless"], {},
        port, {"x-portkey-provider": "openai", "x-portkey-custom-host": base,
               "authorization": f"Bearer {PROVIDER_KEY}", "content-type": "application/json"})
    return {"rates": rates, "results": results}


def print_compare(r: dict) -> None:
    print(f"\ncompared gateways in front of one mock (same load, one run; LiteLLM {LITELLM_VERSION}, "
          f"Portkey gateway {PORTKEY_VERSION}; RSS summed over a server's processes):")
    print("| | " + " | ".join(f"{rate} req/s: achieved, p50 / p99 ms" for rate in r["rates"])
          + " | start → first answer | RSS idle → peak |")
    print("|---|" + "---|" * (len(r["rates"]) + 2))
    for name, res in r["results"].items():
        cells = []
        for row in res["rows"]:
            share = row["ok"] / max(row["total"], 1) * 100
            cells.append(f"{row['rps']:,.0f} ({share:.0f} % ok), {row['p50_ms']:.2f} / {row['p99_ms']:.2f}")
        start = f"{res['first_answer_ms']:,.0f} ms" if "first_answer_ms" in res else "–"
        rss = f"{res['idle_rss_mib']:.0f} → {res['peak_rss_mib']:.0f} MiB" if "idle_rss_mib" in res else "–"
        print(f"| {name} | " + " | ".join(cells) + f" | {start} | {rss} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,2000,5000")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", choices=["cache", "cache-load", "cache-miss", "limits", "keys", "cold", "tracing", "soak",
                                           "streams", "compare"],
                        help="run one section only")
    parser.add_argument("--soak-seconds", type=int, default=600, help="length of the soak run")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--locked"], cwd=ROOT, check=True)
    oha = oha_path()
    mock_port = free_port()
    # HTTP/2 servers cap the streams on one connection (providers: 100-256);
    # the mock's 100 makes the gateway spread 1,000 h2 streams over lanes.
    mock = subprocess.Popen([str(TARGET / "release" / "mock-upstream"), "--port", str(mock_port),
                             "--h2-max-streams", "100"], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    if args.only:
        try:
            if args.only == "cache":
                print_cache(cache_section(mock_port))
            elif args.only == "cache-load":
                print_cache_load(cache_load_section(TARGET / "release" / "llm-gateway", mock_port,
                                                    args.duration, args.connections))
            elif args.only == "cache-miss":
                print_cache_miss(cache_miss_section(TARGET / "release" / "llm-gateway", mock_port,
                                                    args.duration, args.connections))
            elif args.only == "keys":
                print_keys(keys_section(TARGET / "release" / "llm-gateway", mock_port))
            elif args.only == "cold":
                print_cold(lambda_cold_start(TARGET / "release" / "llm-gateway"))
            elif args.only == "compare":
                print_compare(compare_section(TARGET / "release" / "llm-gateway", mock_port, oha, rates,
                                              args.duration, args.connections))
            elif args.only == "soak":
                print_soak(soak_section(TARGET / "release" / "llm-gateway", mock_port, oha, rates[0],
                                        args.soak_seconds, args.connections))
            elif args.only == "streams":
                print_streams(streams_section(TARGET / "release" / "llm-gateway", mock_port, oha))
            elif args.only == "tracing":
                print_tracing(tracing_section(TARGET / "release" / "llm-gateway", mock_port, oha, rates[0],
                                              args.duration, args.connections))
            else:
                print_limits(limits_section(TARGET / "release" / "llm-gateway", mock_port))
        finally:
            mock.terminate()
            mock.wait(timeout=10)
        return
    gateway, port, first_answer_ms = start_gateway(TARGET / "release" / "llm-gateway", mock_port)
    try:
        time.sleep(0.5)
        idle_rss = rss_kb(gateway.pid, "VmRSS")
        direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        gateway_url = f"http://127.0.0.1:{port}/v1/chat/completions"
        # Warm both paths (connection pools, page cache).
        load(oha, direct_url, 500, 2, args.connections, False)
        load(oha, gateway_url, 500, 2, args.connections, True)
        rows = []
        for rate in rates:
            direct = load(oha, direct_url, rate, args.duration, args.connections, False)
            via = load(oha, gateway_url, rate, args.duration, args.connections, True)
            rows.append({"rate": rate, "direct": direct, "gateway": via})
        peak_rss = rss_kb(gateway.pid, "VmHWM")
        gateway.terminate()
        gateway.wait(timeout=30)
        failover = failover_overhead(TARGET / "release" / "llm-gateway", mock_port)
        cache = cache_section(mock_port)
        cache_load = cache_load_section(TARGET / "release" / "llm-gateway", mock_port, args.duration,
                                        args.connections)
        limits = limits_section(TARGET / "release" / "llm-gateway", mock_port)
        cold = lambda_cold_start(TARGET / "release" / "llm-gateway")
        tracing = tracing_section(TARGET / "release" / "llm-gateway", mock_port, oha, rates[0], args.duration,
                                  args.connections)
    finally:
        gateway.terminate()
        mock.terminate()
        gateway.wait(timeout=30)
        mock.wait(timeout=10)

    print(f"\nstart to first answered request: {first_answer_ms:.1f} ms (release binary)")
    print(f"gateway RSS: idle {idle_rss / 1024:.1f} MiB, peak {peak_rss / 1024:.1f} MiB\n")
    print("| rate (req/s) | direct p50 / p99 (ms) | gateway p50 / p99 (ms) | overhead p50 / p99 (ms) | p99 ratio | gateway achieved (req/s) | gateway success |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        d, g = row["direct"], row["gateway"]
        success = g["ok"] / g["total"] * 100 if g["total"] else 0.0
        print(f"| {row['rate']} | {d['p50_ms']:.3f} / {d['p99_ms']:.3f} | {g['p50_ms']:.3f} / {g['p99_ms']:.3f} "
              f"| {g['p50_ms'] - d['p50_ms']:+.3f} / {g['p99_ms'] - d['p99_ms']:+.3f} "
              f"| {g['p99_ms'] / d['p99_ms']:.2f}x | {g['rps']:.0f} | {success:.2f}% |")
    print("\nfailover (sequential, one connection; ms): first provider answers 503, no retries")
    print("| percentile | failing request alone | healthy request to the fallback | failover request | failover − healthy |")
    print("|---|---|---|---|---|")
    for p, v in failover.items():
        print(f"| {p} | {v['failed']:.3f} | {v['healthy']:.3f} | {v['failover']:.3f} | {v['extra']:+.3f} |")
    print_cache(cache)
    print_cache_load(cache_load)
    print_limits(limits)
    print_cold(cold)
    print_tracing(tracing)
    result = {"tracing": tracing, "first_answer_ms": first_answer_ms, "idle_rss_kb": idle_rss, "peak_rss_kb": peak_rss, "rows": rows,
              "failover": failover, "cache": cache, "cache_load": cache_load,
              "limits": limits, "cold_start": cold}
    (ROOT / "bench" / "results" / "latest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
