"""Metrics of the real server: counters match responses, cache hits move on a reused prefix."""

import httpx

from tests.e2e.conftest import API_KEY
from tests.server.test_metrics import sample

SYSTEM = "You are a precise assistant. " + " ".join(
    f"Fact {i}: the number {i} is {i}." for i in range(80)
)


def test_counters_and_cache_hits(server_url: str) -> None:
    with httpx.Client(base_url=server_url, headers={"x-api-key": API_KEY}, timeout=120) as client:
        before = client.get("/metrics").text
        usages = []
        for question in ("What is fact 3?", "What is fact 7?", "What is fact 9?"):
            body = {
                "model": "claude-x",
                "max_tokens": 8,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": question}],
            }
            usages.append(client.post("/v1/messages", json=body).json()["usage"])
        after = client.get("/metrics").text

    def delta(name: str) -> float:
        return sample(after, name) - sample(before, name, default=0.0)

    assert delta('pensieve_requests_total{route="/v1/messages",status="200"}') == 3
    assert delta("pensieve_generated_tokens_total") == sum(u["output_tokens"] for u in usages)
    prompt = sum(u["input_tokens"] + u["cache_read_input_tokens"] for u in usages)
    assert delta("pensieve_prompt_tokens_total") == prompt
    assert delta("pensieve_cached_tokens_total") == sum(
        u["cache_read_input_tokens"] for u in usages
    )
    assert usages[1]["cache_read_input_tokens"] > 500
    assert delta("pensieve_prefix_cache_hits") >= 2
    assert 0 < sample(after, "pensieve_prefix_cache_hit_ratio") <= 1
    assert sample(after, "pensieve_model_load_seconds") > 0
