"""A soak at 8 clients of mixed traffic: no 5xx, no leaked slot, memory at rest within the bound."""

import random
import threading
import time
from collections import Counter

import httpx

from tests.reliability.conftest import API_KEY, FULL, Report
from tests.reliability.test_memory import SLACK, WORDS

CLIENTS = 8
SECONDS = 600 if FULL else 20
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _one(http: httpx.Client, url: str, rnd: random.Random) -> int | str:
    prompt = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 400)))
    messages = [{"role": "user", "content": prompt}]
    kind = rnd.choice(["message", "stream", "tools", "count", "chat", "abandon"])
    body: dict[str, object] = {"model": "claude-x", "max_tokens": rnd.randint(4, 32)}
    if kind == "count":
        return http.post(
            f"{url}/v1/messages/count_tokens", json={"model": "x", "messages": messages}
        ).status_code
    if kind == "chat":
        chat = {
            "model": "gpt-4o",
            "max_tokens": 16,
            "messages": messages,
            "stream": rnd.random() < 0.5,
        }
        return http.post(f"{url}/v1/chat/completions", json=chat).status_code
    body["messages"] = messages
    if kind == "tools":
        body |= {"tools": [TOOL], "tool_choice": {"type": rnd.choice(["any", "auto"])}}
    if kind == "abandon":
        try:
            http.post(f"{url}/v1/messages", json={**body, "max_tokens": 400}, timeout=0.5)
        except httpx.TimeoutException:
            return "abandoned"
        return "finished before leaving"
    if kind == "stream":
        with http.stream("POST", f"{url}/v1/messages", json={**body, "stream": True}) as r:
            text = "".join(r.iter_text())
            if "event: error" in text:
                return "stream error"
            return r.status_code
    return http.post(f"{url}/v1/messages", json=body).status_code


def test_soak_at_eight_clients(server_url: str, report: Report) -> None:
    outcomes: Counter[int | str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(seed: int) -> None:
        rnd = random.Random(seed)
        with httpx.Client(headers={"x-api-key": API_KEY}, timeout=300) as http:
            while time.monotonic() < deadline:
                outcome = _one(http, server_url, rnd)
                with lock:
                    outcomes[outcome] += 1

    before = httpx.get(f"{server_url}/health").json()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    idle_by = time.monotonic() + 30
    while (
        time.monotonic() < idle_by and httpx.get(f"{server_url}/health").json()["active_sequences"]
    ):
        time.sleep(0.2)
    after = httpx.get(f"{server_url}/health").json()
    failures = {
        k: n
        for k, n in outcomes.items()
        if k == "stream error" or (isinstance(k, int) and k >= 500)
    }
    assert not failures, outcomes
    assert after["active_sequences"] == 0
    assert after["queued_requests"] == 0
    bound = after["model_bytes"] + after["prefix_cache_bytes"] + SLACK
    assert after["active_memory_bytes"] <= bound, after
    total = sum(outcomes.values())
    spread = ", ".join(f"{n} x {k}" for k, n in sorted(outcomes.items(), key=str))
    report.add(
        f"{SECONDS / 60:.0f}-minute soak, {CLIENTS} clients of mixed traffic (messages, streams, "
        "forced and auto tool calls, count_tokens, OpenAI chat, clients that leave)",
        f"{total} requests: {spread}; 0 x 5xx; 0 active after; MLX active memory "
        f"{before['active_memory_bytes'] / 1e9:.2f} GB before, "
        f"{after['active_memory_bytes'] / 1e9:.2f} GB at rest after (bound: weights "
        f"{after['model_bytes'] / 1e9:.2f} + prefix cache {after['prefix_cache_bytes'] / 1e9:.2f} "
        "+ 0.07 GB), peak "
        f"{after['peak_memory_bytes'] / 1e9:.2f} GB",
        "nothing (0 leaked slots)",
    )
