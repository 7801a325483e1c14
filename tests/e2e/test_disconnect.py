"""A client that goes away frees its slot."""

import time

import httpx

from tests.e2e.conftest import API_KEY


def test_disconnect_cancels_generation(server_url: str) -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 2000,
        "stream": True,
        "messages": [
            {"role": "user", "content": "Write a very long essay about the history of Europe."}
        ],
    }
    with httpx.Client(base_url=server_url, headers={"x-api-key": API_KEY}, timeout=60) as client:
        with client.stream("POST", "/v1/messages", json=body) as response:
            seen = 0
            for line in response.iter_lines():
                if line.startswith("event: content_block_delta"):
                    seen += 1
                    if seen == 3:
                        break
        assert client.get("/health").json()["active_sequences"] <= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(f"{server_url}/health").json()["active_sequences"] == 0:
            break
        time.sleep(0.1)
    assert httpx.get(f"{server_url}/health").json()["active_sequences"] == 0
