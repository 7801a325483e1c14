"""Mixed load: long prompts are prefilled in slices beside the batch, short requests go first."""

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pensieve_core import PromptProgress, TextDelta
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_mlx.prefill import PrefillLane
from pensieve_mlx.worker import Worker
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.mlx.conftest import ask, collect, running_engine

pytestmark = pytest.mark.anyio

LONG = " ".join(f"Item {i} is a {('red', 'green', 'blue')[i % 3]} box." for i in range(300))


@pytest.fixture(name="wide_path", scope="module")
def _wide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wide")
    write_tiny_llama(root / "w.gguf", smollm_vocab(), hidden=64, layers=2, seed=5, context=8192)
    return convert_gguf(root / "w.gguf", root / "w")


@pytest.fixture(name="sliced", scope="module")
def _sliced(wide_path: Path) -> Iterator[MLXEngine]:
    """Long prompts in the prefill lane, in small slices."""
    yield from running_engine(wide_path, MLXEngineConfig(prefill_slice_s=0.001))


@pytest.fixture(name="batch_only", scope="module")
def _batch_only(wide_path: Path) -> Iterator[MLXEngine]:
    """Every prompt prefilled inside the batch generator, as before the prefill lane."""
    yield from running_engine(wide_path, MLXEngineConfig(long_prompt_tokens=1_000_000))


async def test_a_sliced_prefill_gives_the_batch_prefills_output(
    sliced: MLXEngine, batch_only: MLXEngine
) -> None:
    request = ask(f"{LONG}\nWhich item is blue?", max_tokens=24)
    lane, finished, _ = await collect(sliced.start(request))
    whole, _, _ = await collect(batch_only.start(request))
    assert finished.usage.prompt_tokens > 2_000
    assert lane == whole
    # Concurrently too: three long prompts and two short ones, each as it is alone.
    requests = [ask(f"[{i}] {LONG}\nWhich item is red?", max_tokens=12) for i in range(3)]
    requests += [ask(f"Say {w}.", max_tokens=12) for w in ("yes", "no")]
    alone = [(await collect(batch_only.start(r)))[0] for r in requests]
    together = await asyncio.gather(*[collect(sliced.start(r)) for r in requests])
    assert [t[0] for t in together] == alone


async def test_a_short_request_is_answered_while_a_long_prompt_prefills(
    smol_engine: MLXEngine,
) -> None:
    long_request = ask(f"[short-first] {LONG}\nWhich item is green?", max_tokens=8)
    firsts: dict[str, float] = {}

    async def long_one() -> None:
        async with await smol_engine.start(long_request) as generation:
            async for event in generation.events():
                if isinstance(event, TextDelta):
                    firsts.setdefault("long", time.perf_counter())

    long_started = time.perf_counter()
    task = asyncio.create_task(long_one())
    while smol_engine.stats().active_sequences == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # well into the prefill's slices
    started = time.perf_counter()
    _, finished, _ = await collect(smol_engine.start(ask("Say hi.", max_tokens=4)))
    firsts["short"] = time.perf_counter()
    assert "long" not in firsts, "the short request finished before the long one's first token"
    assert finished.usage.completion_tokens == 4
    await task
    assert firsts["long"] > firsts["short"] > started
    # Bounded: a slice and its own prefill, not the long prompt's prefill (0.8 s against 51 s
    # on an idle 2-core CPU). Relative, so a machine slowed by other work slows both alike.
    assert finished.timings.ttft_s < 0.1 * (firsts["long"] - long_started), finished.timings


async def test_a_cancelled_long_prefill_frees_its_slot_and_keeps_what_it_read(
    smol_engine: MLXEngine,
) -> None:
    request = ask(f"[cancel] {LONG}\nWhich item is red?", max_tokens=4)
    async with await smol_engine.start(request) as generation:
        async for event in generation.events():
            if isinstance(event, PromptProgress) and event.processed > event.total // 4:
                break
    while smol_engine.stats().active_sequences:
        await asyncio.sleep(0.01)
    _, finished, _ = await collect(smol_engine.start(request))
    assert finished.usage.cached_tokens > finished.usage.prompt_tokens // 4


async def test_a_running_stream_keeps_its_share_while_a_long_prompt_prefills(
    smol_engine: MLXEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``engine.prefill-share`` (0.5): between two slices, decode steps run as long as a slice."""
    timeline: list[tuple[str, float]] = []
    recording = True

    def timed(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                if recording:
                    timeline.append((kind, time.perf_counter() - started))

        return wrapper

    monkeypatch.setattr(PrefillLane, "advance", timed("slice", PrefillLane.advance))
    monkeypatch.setattr(Worker, "_step", timed("step", Worker._step))
    monkeypatch.setattr(Worker, "_solo_step", timed("step", Worker._solo_step))
    # More than short-request-tokens: a short request would pause the lane altogether.
    stream = asyncio.create_task(
        collect(smol_engine.start(ask("Count from one to a hundred.", max_tokens=48)))
    )
    while not timeline:
        await asyncio.sleep(0.01)
    long_request = ask(f"[share] {LONG}\nWhich item is green?", max_tokens=4)
    async with await smol_engine.start(long_request):  # left (cancelled) once the stream ends
        text, finished, _ = await stream
        recording = False
    assert finished.usage.completion_tokens == 48, text
    slices = [i for i, (kind, _) in enumerate(timeline) if kind == "slice"]
    assert len(slices) >= 3, timeline
    for first, second in itertools.pairwise(slices):
        stepped = sum(s for kind, s in timeline[first + 1 : second] if kind == "step")
        # The worker owes the steps what it timed inside the slice, a little less than here.
        assert stepped >= 0.9 * timeline[first][1] - 0.01, (first, timeline)
