"""The prefix KV cache: reuse, equality with an uncached run, and Claude Code's billing line."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pensieve_api import messages_decoder
from pensieve_core import GenerationRequest
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_server.anthropic.requests import to_domain
from pensieve_server.state import RequestDefaults
from tests.mlx.conftest import ask, collect, load_engine

pytestmark = pytest.mark.anyio

LONG_SYSTEM = "You are a careful assistant. " + " ".join(
    f"Rule {i}: be precise about item {i}." for i in range(60)
)


@pytest.fixture(name="uncached_engine", scope="module")
def _uncached_engine(smol_path: Path) -> Iterator[MLXEngine]:
    engine = load_engine(smol_path, MLXEngineConfig(prefix_cache_bytes=0))
    yield engine
    engine._worker.stop()


async def test_shared_prefix_is_reused(smol_engine: MLXEngine, uncached_engine: MLXEngine) -> None:
    await collect(
        smol_engine.start(ask("What is the capital of France?", system=LONG_SYSTEM, max_tokens=8))
    )
    hits_before = smol_engine.stats().prefix_cache_hits
    second = ask("What is the capital of Spain?", system=LONG_SYSTEM, max_tokens=12)
    text, finished, _ = await collect(smol_engine.start(second))
    prompt_tokens = finished.usage.prompt_tokens
    assert finished.usage.cached_tokens > 500
    assert prompt_tokens - finished.usage.cached_tokens < 30  # only the new question is prefilled
    assert smol_engine.stats().prefix_cache_hits == hits_before + 1
    uncached_text, uncached, _ = await collect(uncached_engine.start(second))
    assert uncached.usage.cached_tokens == 0
    assert text == uncached_text


async def test_billing_line_does_not_break_the_prefix(smol_engine: MLXEngine) -> None:
    # The Anthropic wing drops Claude Code's per-request billing line; the engine sees the rest.
    def request(version: str, nonce: str) -> GenerationRequest:
        billing = (
            f"x-anthropic-billing-header: cc_version={version}; cc_entrypoint=cli; cch={nonce};"
        )
        body = messages_decoder.decode(
            json.dumps(
                {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 4,
                    "temperature": 0,
                    "system": [
                        {"type": "text", "text": billing},
                        {"type": "text", "text": LONG_SYSTEM},
                    ],
                    "messages": [{"role": "user", "content": "Say one word."}],
                }
            )
        )
        return to_domain(body, RequestDefaults(temperature=0.0, openai_max_tokens=16))

    await collect(smol_engine.start(request("2.1.331.a1", "11111")))
    _, finished, _ = await collect(smol_engine.start(request("2.1.331.b7", "99999")))
    assert finished.usage.cached_tokens >= finished.usage.prompt_tokens - 1


async def test_prefix_cache_respects_byte_budget(smol_path: Path) -> None:
    engine = load_engine(smol_path, MLXEngineConfig(prefix_cache_bytes=64 * 1024 * 1024))
    try:
        for i in range(6):
            await collect(
                engine.start(ask(f"Question {i}: " + "tell me about rivers " * 40, max_tokens=2))
            )
        assert 0 < engine.stats().prefix_cache_bytes <= 64 * 1024 * 1024
    finally:
        await engine.aclose()
