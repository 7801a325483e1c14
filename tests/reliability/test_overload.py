"""An overload burst: refusals come at once in the right shape, and everything admitted completes."""

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.reliability.conftest import API_KEY, FULL, Report
from tests.servers import running_server

ACTIVE, QUEUED = 4, 8


def test_a_burst_over_capacity(tmp_path: Path, report: Report) -> None:
    burst = 200 if FULL else 60
    limits = (
        "--set",
        f"engine.max-active-sequences={ACTIVE}",
        "--set",
        f"engine.max-queued-requests={QUEUED}",
    )
    with running_server(tmp_path, "--api-key", API_KEY, *limits) as server:
        results: list[tuple[int, float, str]] = []
        lock = threading.Lock()
        start = threading.Barrier(burst)

        def one(n: int) -> None:
            body = {
                "model": "claude-x",
                "max_tokens": 8,
                "stream": n % 2 == 0,
                "messages": [{"role": "user", "content": f"Say a word about {n}."}],
            }
            start.wait()
            began = time.monotonic()
            response = httpx.post(
                f"{server.url}/v1/messages",
                json=body,
                headers={"x-api-key": API_KEY},
                timeout=300,
            )
            with lock:
                results.append((response.status_code, time.monotonic() - began, response.text))
            if response.status_code == 529:
                assert response.headers["retry-after"] == "2"
                assert response.json()["error"]["type"] == "overloaded_error"

        threads = [threading.Thread(target=one, args=(n,)) for n in range(burst)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    statuses = Counter(status for status, _, _ in results)
    assert len(results) == burst
    assert set(statuses) <= {200, 529}, statuses
    assert statuses[529] > 0
    assert statuses[200] >= QUEUED  # at least a full queue was admitted
    slowest_refusal = max(t for status, t, _ in results if status == 529)
    assert slowest_refusal < 5
    # Every admitted request ran to its end (a stream ends with message_stop).
    for status, _, text in results:
        if status == 200:
            assert "message_stop" in text or '"stop_reason"' in text
    report.add(
        f"{burst} requests at once against {ACTIVE} slots and a queue of {QUEUED}",
        f"{statuses[200]} x 200, {statuses[529]} x 529 (overloaded_error, retry-after: 2), "
        f"slowest refusal after {slowest_refusal:.2f} s",
        "nothing: every admitted request completed",
    )
