"""The prefix KV cache: reuse, equality with an uncached run, and Claude Code's billing line."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from pensieve_mlx import MLXEngine, MLXEngineConfig
from tests.mlx.conftest import ask, collect

pytestmark = pytest.mark.anyio

LONG_SYSTEM = "You are a careful assistant. " + " ".join(
    f"Rule {i}: be precise about item {i}." for i in range(60)
)


@pytest.fixture(name="uncached_engine", scope="module")
def _uncached_engine(smol_path: Path) -> Iterator[MLXEngine]:
    engine = MLXEngine.load(smol_path, name="smol", config=MLXEngineConfig(prefix_cache_bytes=0))
    yield engine
    engine._worker.stop()


async def test_shared_prefix_is_reused(smol_engine: MLXEngine, uncached_engine: MLXEngine) -> None:
    await collect(
        smol_engine.generate(
            ask("What is the capital of France?", system=LONG_SYSTEM, max_tokens=8)
        )
    )
    hits_before = smol_engine.stats().prefix_cache_hits
    second = ask("What is the capital of Spain?", system=LONG_SYSTEM, max_tokens=12)
    text, finished, _ = await collect(smol_engine.generate(second))
    prompt_tokens = finished.usage.prompt_tokens
    assert finished.usage.cached_tokens > 500
    assert prompt_tokens - finished.usage.cached_tokens < 30  # only the new question is prefilled
    assert smol_engine.stats().prefix_cache_hits == hits_before + 1
    uncached_text, uncached, _ = await collect(uncached_engine.generate(second))
    assert uncached.usage.cached_tokens == 0
    assert text == uncached_text


async def test_billing_line_does_not_break_the_prefix(smol_engine: MLXEngine) -> None:
    def system(version: str, nonce: str) -> str:
        return f"x-anthropic-billing-header: cc_version={version}; cc_entrypoint=cli; cch={nonce};\n{LONG_SYSTEM} Session."

    await collect(
        smol_engine.generate(
            ask("Say one word.", system=system("2.1.331.a1", "11111"), max_tokens=4)
        )
    )
    _, finished, _ = await collect(
        smol_engine.generate(
            ask("Say one word.", system=system("2.1.331.b7", "99999"), max_tokens=4)
        )
    )
    assert finished.usage.cached_tokens >= finished.usage.prompt_tokens - 1


async def test_prefix_cache_respects_byte_budget(smol_path: Path) -> None:
    engine = MLXEngine.load(
        smol_path, name="smol", config=MLXEngineConfig(prefix_cache_bytes=64 * 1024 * 1024)
    )
    try:
        for i in range(6):
            await collect(
                engine.generate(ask(f"Question {i}: " + "tell me about rivers " * 40, max_tokens=2))
            )
        assert 0 < engine.stats().prefix_cache_bytes <= 64 * 1024 * 1024
    finally:
        await engine.aclose()
