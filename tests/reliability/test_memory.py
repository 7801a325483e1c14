"""Memory at rest is bounded by what the config says: the model, the prefix cache, a slack."""

import random
import threading

import httpx

from tests.reliability.conftest import API_KEY, Report

SLACK = 64 * 2**20
"""Allowed beyond the weights and the prefix cache's own bytes, at 0 active requests."""
WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "music",
    "paper",
    "light",
    "dream",
    "ocean",
    "forest",
    "garden",
    "window",
]


def test_memory_at_rest_after_a_burst_is_model_plus_cache(server_url: str, report: Report) -> None:
    def client(seed: int) -> None:
        rnd = random.Random(seed)
        with httpx.Client(headers={"x-api-key": API_KEY}, timeout=300) as http:
            for _ in range(4):
                prompt = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(20, 300)))
                body = {
                    "model": "claude-x",
                    "max_tokens": rnd.randint(5, 25),
                    "stream": rnd.random() < 0.5,
                    "messages": [{"role": "user", "content": prompt}],
                }
                assert http.post(f"{server_url}/v1/messages", json=body).status_code == 200

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    health = httpx.get(f"{server_url}/health").json()
    assert health["active_sequences"] == 0
    assert health["prefix_cache_entries"] > 0
    bound = health["model_bytes"] + health["prefix_cache_bytes"] + SLACK
    assert health["active_memory_bytes"] <= bound, health
    metrics = httpx.get(f"{server_url}/metrics", headers={"x-api-key": API_KEY}).text
    assert "pensieve_memory_cache_bytes" in metrics
    assert "pensieve_memory_model_bytes" in metrics
    report.add(
        "16 varied requests from 4 clients, then rest",
        f"MLX active memory {health['active_memory_bytes'] / 1e9:.2f} GB at rest: weights "
        f"{health['model_bytes'] / 1e9:.2f} + prefix cache {health['prefix_cache_bytes'] / 1e9:.2f}"
        " GB (within the bound of weights + cache + 64 MiB)",
    )
