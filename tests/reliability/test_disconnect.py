"""No work for clients that left: streaming or not, an abandoned request frees its slot."""

import threading
import time

import httpx
import pytest

from tests.reliability.conftest import API_KEY, FULL, Report

LONG = [{"role": "user", "content": "Write a very long essay about the history of Europe."}]


def _active(url: str) -> int:
    return int(httpx.get(f"{url}/health").json()["active_sequences"])


def _wait_idle(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _active(url):
        time.sleep(0.1)
    assert _active(url) == 0, "a slot stayed busy after its client left"


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_abandoned_non_streaming_requests_are_cancelled(server_url: str, path: str) -> None:
    body = {"model": "claude-x", "max_tokens": 2000, "messages": LONG}
    if path == "/v1/chat/completions":
        body.pop("max_tokens")  # the OpenAI default applies
    seen_active = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen_active.is_set():
            if _active(server_url):
                seen_active.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server_url}{path}", json=body, headers={"x-api-key": API_KEY}, timeout=1.5)
    watcher.join()
    assert seen_active.is_set()
    _wait_idle(server_url, timeout=10)


def test_a_storm_of_abandoned_requests_leaks_no_slot(server_url: str, report: Report) -> None:
    body = {"model": "claude-x", "max_tokens": 500, "messages": LONG}

    def abandon(stream: bool) -> None:
        with httpx.Client(timeout=1.0, headers={"x-api-key": API_KEY}) as client:
            try:
                if stream:
                    with client.stream(
                        "POST", f"{server_url}/v1/messages", json={**body, "stream": True}
                    ) as response:
                        for _ in response.iter_lines():
                            break
                else:
                    client.post(f"{server_url}/v1/messages", json=body)
            except httpx.HTTPError:
                pass

    count = 100 if FULL else 12
    started = time.monotonic()
    for wave in range(0, count, 12):  # a dozen clients at a time, each leaving after 1 s
        threads = [
            threading.Thread(target=abandon, args=(n % 2 == 0,))
            for n in range(wave, min(wave + 12, count))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    _wait_idle(server_url, timeout=30)
    report.add(
        f"{count} clients that leave after 1 s (half streaming, half not; 500-token answers)",
        f"every slot freed: 0 active {time.monotonic() - started:.0f} s later; the next request "
        "answered 200",
        "nothing (0 leaked slots)",
    )
    reply = httpx.post(
        f"{server_url}/v1/messages",
        json={"model": "claude-x", "max_tokens": 5, "messages": LONG},
        headers={"x-api-key": API_KEY},
        timeout=60,
    )
    assert reply.status_code == 200


@pytest.mark.parametrize("after_deltas", [1, 3])
def test_a_stream_left_early_frees_its_slot_at_once(server_url: str, after_deltas: int) -> None:
    body = {"model": "claude-x", "max_tokens": 2000, "stream": True, "messages": LONG}
    with (
        httpx.Client(timeout=60, headers={"x-api-key": API_KEY}) as client,
        client.stream("POST", f"{server_url}/v1/messages", json=body) as response,
    ):
        seen = 0
        for line in response.iter_lines():
            if line.startswith("event: content_block_delta"):
                seen += 1
                if seen == after_deltas:
                    break
    # 2,000 tokens would take minutes here: a freed slot within 3 s means the work stopped.
    _wait_idle(server_url, timeout=3)


def test_a_stream_left_early_is_cached_before_the_next_turn(server_url: str) -> None:
    # Claude Code interrupts answers and sends the next turn at once: the left turn's prompt
    # must already be in the prefix cache when the next request is admitted.
    words = " ".join(f"fact{n}" for n in range(300))
    first = [{"role": "user", "content": f"Here are facts: {words}. Summarise them at length."}]
    body = {"model": "claude-x", "max_tokens": 500, "stream": True, "messages": first}
    with httpx.Client(timeout=120, headers={"x-api-key": API_KEY}) as client:
        with client.stream("POST", f"{server_url}/v1/messages", json=body) as response:
            for line in response.iter_lines():
                if line.startswith("event: content_block_delta"):
                    break
        second = [
            *first,
            {"role": "assistant", "content": "The facts"},
            {"role": "user", "content": "Stop. Just count them."},
        ]
        reply = client.post(
            f"{server_url}/v1/messages",
            json={"model": "claude-x", "max_tokens": 1, "messages": second},
        ).json()
    usage = reply["usage"]
    assert usage["cache_read_input_tokens"] > 300, usage
