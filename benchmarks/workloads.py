"""The measured workloads: decode overhead, concurrency, prefix-cache replay."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from benchmarks.common import API_KEY, median, pct, stream_message

STORY = "Write a long story about a dragon who learns to paint. Use many details."
PROMPTS = [
    "Describe the ocean in detail.",
    "Explain how a bicycle works.",
    "Write a poem about autumn.",
    "List facts about the moon.",
    "Describe a busy city market.",
    "Explain photosynthesis simply.",
    "Write a short story about a robot.",
    "Describe your ideal breakfast.",
]


def raw_decode_rate(model_dir: Path, max_tokens: int, runs: int) -> float:
    """Decode tokens/s of ``mlx_lm.stream_generate`` on the same weights, greedy."""
    from mlx_lm import load, stream_generate
    from mlx_lm.sample_utils import make_sampler

    model, tokenizer = load(str(model_dir))[:2]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": STORY}], add_generation_prompt=True, tokenize=False
    )
    rates = []
    for _ in range(runs + 1):  # the first run warms up
        stamps = [
            time.perf_counter()
            for _ in stream_generate(
                model, tokenizer, prompt, max_tokens=max_tokens, sampler=make_sampler(0.0)
            )
        ]
        if len(stamps) > 2:
            rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return median(rates[1:])


def http_decode_rate(url: str, max_tokens: int, runs: int) -> float:
    """Decode tokens/s streamed through ``POST /v1/messages``: output tokens over first-to-last delta."""
    rates = []
    with httpx.Client(base_url=url, headers={"x-api-key": API_KEY}, timeout=600) as client:
        for _ in range(runs + 1):
            streamed = stream_message(url, STORY, max_tokens, client)
            first, last = (streamed.stamps[0], streamed.stamps[-1]) if streamed.stamps else (0, 0)
            if streamed.output_tokens > 2 and last > first:
                rates.append((streamed.output_tokens - 1) / (last - first))
    return median(rates[1:])


async def _one_stream(
    client: openai.AsyncOpenAI, prompt: str, max_tokens: int, model: str
) -> tuple[float, int]:
    started = time.perf_counter()
    ttft = 0.0
    tokens = 0
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            ttft = ttft or time.perf_counter() - started
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return ttft, tokens or chunks


async def _wave(
    url: str, concurrency: int, max_tokens: int, model: str, wave: int
) -> dict[str, float]:
    # Retries: mlx_lm.server's listen backlog (5) refuses some of 32 simultaneous connections.
    async with openai.AsyncOpenAI(
        base_url=f"{url}/v1", api_key=API_KEY, max_retries=3, timeout=900
    ) as client:
        await _one_stream(client, f"Hello {wave}", 4, model)  # warm-up
        started = time.perf_counter()
        # A unique tag at the start of every prompt: no wave reuses another's prefix cache.
        results = await asyncio.gather(
            *[
                _one_stream(client, f"[{wave}-{i}] " + PROMPTS[i % len(PROMPTS)], max_tokens, model)
                for i in range(concurrency)
            ]
        )
        wall = time.perf_counter() - started
    ttfts = sorted(r[0] for r in results)
    return {
        "tok_s": sum(r[1] for r in results) / wall,
        "ttft_p50": pct(ttfts, 0.5),
        "ttft_p95": pct(ttfts, 0.95),
        # A burst's shape (benchmarks/burst.py): its first, middle and last first token.
        "ttft_first": ttfts[0],
        "ttft_mid": ttfts[len(ttfts) // 2],
        "ttft_last": ttfts[-1],
    }


def concurrency(
    url: str, levels: list[int], max_tokens: int, model: str, waves: int
) -> dict[int, dict[str, float]]:
    """Aggregate tokens/s and TTFT percentiles at each level: the wave with the median tokens/s."""
    results: dict[int, dict[str, float]] = {}
    for level in levels:
        runs = sorted(
            (asyncio.run(_wave(url, level, max_tokens, model, w)) for w in range(waves)),
            key=lambda r: r["tok_s"],
        )
        results[level] = runs[len(runs) // 2]
    return results


def _recorded_bare(recordings: Path) -> dict[str, Any]:
    record = json.loads((recordings / "f07_bare" / "001_POST_v1_messages.json").read_text())
    body: dict[str, Any] = record["body_json"]
    return body


def _billing(system: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A fresh billing line, as each Claude Code request has."""
    first = {
        **system[0],
        "text": f"x-anthropic-billing-header: cc_version=2.1.331.{secrets.token_hex(2)}; cc_entrypoint=sdk-cli; cch={secrets.token_hex(3)};",
    }
    return [first, *system[1:]]


def _turns(recordings: Path, count: int) -> list[dict[str, Any]]:
    base = _recorded_bare(recordings)
    messages = [m for m in base["messages"] if m["role"] != "system" or m["content"]]
    bodies = []
    for turn in range(count):
        bodies.append(
            {
                **base,
                "system": _billing(base["system"]),
                "messages": list(messages),
                "max_tokens": 16,
                "temperature": 0,
                "stream": True,
            }
        )
        messages += [
            {
                "role": "assistant",
                "content": [{"type": "text", "text": f"Answer number {turn + 1}."}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"Thanks. Question {turn + 2}: tell me one more fact."}
                ],
            },
        ]
    return bodies


def _anthropic_ttft(client: httpx.Client, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    with client.stream("POST", "/v1/messages", json=body) as response:
        for line in response.iter_lines():
            if '"content_block_delta"' in line or '"message_delta"' in line:
                return time.perf_counter() - started
    return time.perf_counter() - started


def _to_openai(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The same conversation for an OpenAI server, with the same tool text Pensieve renders.

    (The default model's template ignores ``tools``, so they go into the system prompt in
    Pensieve's fallback format; the billing line stays, as a client would send it.)
    """
    from pensieve_mlx.prompt import FALLBACK_TOOLS_HEADER

    tools = "\n".join(
        json.dumps(
            {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
            ensure_ascii=False,
        )
        for t in body.get("tools", [])
    )
    system = "\n\n".join(
        [*(b["text"] for b in body["system"]), FALLBACK_TOOLS_HEADER.format(tools=tools)]
    )
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for m in body["messages"]:
        text = (
            m["content"]
            if isinstance(m["content"], str)
            else "\n".join(b.get("text", "") for b in m["content"])
        )
        if m["role"] == "system":
            messages[0]["content"] += "\n\n" + text
        else:
            messages.append({"role": m["role"], "content": text})
    return {
        "model": model,
        "messages": messages,
        "max_tokens": 16,
        "temperature": 0,
        "stream": True,
    }


def _openai_ttft(client: httpx.Client, body: dict[str, Any], model: str = "default_model") -> float:
    started = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=_to_openai(body, model)) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"delta"' in line and line != "data: [DONE]":
                payload = json.loads(line[6:])
                if payload.get("choices") and (
                    payload["choices"][0]["delta"].get("content")
                    or payload["choices"][0].get("finish_reason")
                ):
                    return time.perf_counter() - started
    # No token streamed (random weights can end at once): the whole request bounds the TTFT.
    return time.perf_counter() - started


def prefix_replay(url: str, recordings: Path, turns: int, *, dialect: str) -> list[float]:
    """TTFT of each turn of a growing Claude-Code-shaped conversation (billing line differs)."""
    bodies = _turns(recordings, turns)
    ttft = _anthropic_ttft if dialect == "anthropic" else _openai_ttft
    with httpx.Client(
        base_url=url,
        headers={"x-api-key": API_KEY, "authorization": f"Bearer {API_KEY}"},
        timeout=900,
    ) as client:
        return [ttft(client, body) for body in bodies]
