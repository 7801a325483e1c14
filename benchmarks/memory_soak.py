"""Memory at rest after a burst: ``python benchmarks/memory_soak.py URL [REQUESTS CLIENTS]``.

Each of CLIENTS sends REQUESTS requests (8 and 8 by default) with prompts of 20 to 600 words and
5 to 60 output tokens, half of them streamed, then the script prints ``/health``'s memory figures
before and after. The figures in docs/engine.md come from this against `make serve` on the CPU.
"""

import random
import sys
import threading
import time

import httpx

WORDS = [
    "apple", "river", "stone", "cloud", "music", "paper",
    "light", "dream", "ocean", "forest", "garden", "window",
]  # fmt: skip
FIELDS = (
    "active_memory_bytes",
    "peak_memory_bytes",
    "cache_memory_bytes",
    "model_bytes",
    "prefix_cache_bytes",
    "prefix_cache_entries",
)


def client(url: str, seed: int, requests: int) -> None:
    rnd = random.Random(seed)
    for _ in range(requests):
        prompt = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(20, 600)))
        body = {
            "model": "claude-x",
            "max_tokens": rnd.randint(5, 60),
            "stream": rnd.random() < 0.5,
            "messages": [{"role": "user", "content": prompt}],
        }
        httpx.post(f"{url}/v1/messages", json=body, timeout=300)


def figures(url: str) -> dict[str, float]:
    health = httpx.get(f"{url}/health").json()
    return {k: round(health[k] / 1e9, 3) if k.endswith("bytes") else health[k] for k in FIELDS}


def main() -> None:
    url = sys.argv[1]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    print("before (GB)", figures(url))
    started = time.time()
    threads = [threading.Thread(target=client, args=(url, n, requests)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(2)
    print(f"after {time.time() - started:.0f}s (GB)", figures(url))


if __name__ == "__main__":
    main()
