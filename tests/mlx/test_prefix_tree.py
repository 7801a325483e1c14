"""The prefix cache as a tree: branches share their prefix, side requests do not push the main
session out, snapshots survive a restart, and a bad snapshot file is skipped."""

from collections.abc import Iterator
from pathlib import Path

import mlx.core as mx
import pytest
from mlx_lm.models.cache import KVCache, RotatingKVCache

from pensieve_core import GenerationRequest, Message, SamplingParams, TextPart
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_mlx.prefix_cache import KVCodec, PrefixCache
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.mlx.conftest import collect, load_engine

pytestmark = pytest.mark.anyio


def kv(tokens: list[int], layers: int = 2) -> list[KVCache]:
    """A cache whose KV at position i is the token id there (so a cut can be checked)."""
    cache = []
    for _ in range(layers):
        layer = KVCache()
        rows = mx.array(tokens, dtype=mx.float32).reshape(1, 1, -1, 1)
        layer.update_and_fetch(mx.broadcast_to(rows, (1, 2, len(tokens), 4)), rows * 0 + rows)
        cache.append(layer)
    return cache


def positions(cache: list[KVCache]) -> list[int]:
    return [int(x) for x in cache[0].keys[0, 0, : cache[0].offset, 0].tolist()]


SETUP = list(range(1000, 1400))  # a shared system prompt and tools


def test_branches_share_their_prefix() -> None:
    tree = PrefixCache(max_bytes=1 << 30, max_entries=16)
    main = [*SETUP, *range(1, 60)]
    side = [*SETUP, *range(500, 520)]
    tree.store(main, kv(main))
    alone = tree.nbytes
    tree.store(side, kv(side))
    assert tree.nbytes < alone * 1.2, "the 400-token setup is held once"
    assert len(tree) == 2
    for tokens in (main, side):
        cache, cached = tree.fetch([*tokens, 7])
        assert cached == len(tokens)
        assert positions(cache) == tokens


def test_a_cut_inside_a_segment() -> None:
    tree = PrefixCache(max_bytes=1 << 30, max_entries=16)
    tree.store(SETUP, kv(SETUP))
    cache, cached = tree.fetch([*SETUP[:250], 9, 9])
    assert cached == 250
    assert positions(cache) == SETUP[:250]
    assert tree.fetch(SETUP)[1] == len(SETUP) - 1, "one prompt token is always left"


def test_side_requests_evict_themselves_before_the_shared_prefix() -> None:
    per_token = sum(c.nbytes for c in kv([0]))
    tree = PrefixCache(max_bytes=per_token * 520, max_entries=64)
    main = [*SETUP, *range(1, 60)]
    tree.store(main, kv(main))
    for i in range(5):  # side requests (count_tokens bursts, subagent probes)
        side = [*SETUP, 9000 + i, *range(20)]
        tree.store(side, kv(side))
        tree.fetch([*main, 1])  # the main session keeps going
    assert tree.nbytes <= per_token * 520
    assert tree.fetch([*main, 1])[1] == len(main), "the main session's branch is intact"
    assert tree.fetch([*SETUP, 1])[1] == len(SETUP)


def test_snapshot_caches_reuse_whole_boundaries() -> None:
    """Sliding-window caches cannot be cut: a prompt reuses a stored boundary that prefixes it."""
    tree = PrefixCache(max_bytes=1 << 30, max_entries=16)

    def rotating(tokens: list[int]) -> list[RotatingKVCache]:
        layer = RotatingKVCache(max_size=64, keep=0)
        x = mx.ones((1, 2, len(tokens), 4))
        layer.update_and_fetch(x, x)
        return [layer]

    tree.store(SETUP[:300], rotating(SETUP[:300]))  # the setup boundary
    tree.store(SETUP, rotating(SETUP))  # a whole earlier sequence
    cache, cached = tree.fetch([*SETUP[:300], 5, 6, 7])
    assert cached == 300
    assert isinstance(cache[0], RotatingKVCache)
    assert cache[0].offset == 300
    assert tree.fetch([*SETUP, 1])[1] == len(SETUP)
    assert tree.fetch([*SETUP[:299], 1, 2])[1] == 0, "no boundary is a prefix of it"


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_kv_takes_a_fraction_of_the_memory(bits: int) -> None:
    tokens = list(range(300))
    cache = []
    for _ in range(2):
        layer = KVCache()
        x = mx.random.normal((1, 2, len(tokens), 64))
        layer.update_and_fetch(x, x * 0.5)
        cache.append(layer)
    plain = PrefixCache(max_bytes=1 << 30, max_entries=8)
    packed = PrefixCache(max_bytes=1 << 30, max_entries=8, codec=KVCodec(bits=bits))
    plain.store(tokens, cache)
    packed.store(tokens, cache)
    assert packed.nbytes < plain.nbytes * (0.3 if bits == 8 else 0.17)
    back, cached = packed.fetch([*tokens, 1])
    assert cached == len(tokens)
    error = mx.abs(back[0].keys - cache[0].keys[..., : len(tokens), :]).max().item()
    assert error < (0.05 if bits == 8 else 0.8), error


@pytest.fixture(name="long_model", scope="module")
def _long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prefix-tree")
    write_tiny_llama(root / "t.gguf", smollm_vocab(), hidden=64, layers=2, seed=5, context=4096)
    return convert_gguf(root / "t.gguf", root / "t")


SYSTEM = "You are a careful coding agent. " + " ".join(
    f"Rule {i}: keep it short." for i in range(60)
)


def turn(*texts: str, max_tokens: int = 4) -> GenerationRequest:
    messages = tuple(
        Message("user" if i % 2 == 0 else "assistant", (TextPart(t),)) for i, t in enumerate(texts)
    )
    return GenerationRequest(
        messages=messages,
        system=SYSTEM,
        sampling=SamplingParams(max_tokens=max_tokens, temperature=0.0),
    )


@pytest.fixture(name="disk_engine")
def _disk_engine(long_model: Path, tmp_path: Path) -> Iterator[tuple[MLXEngine, Path]]:
    config = MLXEngineConfig(prefix_cache_dir=str(tmp_path / "cache"))
    engine = load_engine(long_model, config)
    yield engine, tmp_path / "cache"
    engine._worker.stop()


async def test_a_side_request_does_not_truncate_the_main_session(
    disk_engine: tuple[MLXEngine, Path],
) -> None:
    engine, _ = disk_engine
    first_text, first, _ = await collect(engine.start(turn("Fix the bug in parser.py")))
    await collect(engine.start(turn("Summarise this session in five words.")))  # a side request
    follow = turn("Fix the bug in parser.py", first_text, "Now add a test.")
    _, second, _ = await collect(engine.start(follow))
    assert second.usage.cached_tokens >= first.usage.prompt_tokens, (second.usage, first.usage)
    # Anthropic's accounting: what was read, what was written, and the rest.
    assert (
        second.usage.cache_write_tokens == second.usage.prompt_tokens - second.usage.cached_tokens
    )


async def test_the_setup_survives_a_restart(long_model: Path, tmp_path: Path) -> None:
    config = MLXEngineConfig(prefix_cache_dir=str(tmp_path / "cache"))
    engine = load_engine(long_model, config)
    text, cold, _ = await collect(engine.start(turn("What does main.py do?")))
    engine._worker.stop()  # waits for the snapshot writes
    files = list((tmp_path / "cache").glob("*/*.safetensors"))
    assert files, "the end of the system prompt was written to disk"
    restarted = load_engine(long_model, config)
    try:
        again, warm, _ = await collect(restarted.start(turn("What does main.py do?")))
        assert warm.usage.cached_tokens >= 0.8 * cold.usage.prompt_tokens, warm.usage
        assert again == text, "the snapshot gives the same greedy answer as a cold prefill"
        _, other, _ = await collect(restarted.start(turn("And utils.py?")))
        assert other.usage.cached_tokens > 0
        assert restarted._worker.disk is not None
        assert restarted._worker.disk.loads == 1, "loaded once, then served from memory"
    finally:
        restarted._worker.stop()


async def test_a_corrupt_snapshot_is_skipped(long_model: Path, tmp_path: Path) -> None:
    config = MLXEngineConfig(prefix_cache_dir=str(tmp_path / "cache"))
    engine = load_engine(long_model, config)
    text, _, _ = await collect(engine.start(turn("Hello")))
    engine._worker.stop()
    (file,) = list((tmp_path / "cache").glob("*/*.safetensors"))
    size = file.stat().st_size
    file.write_bytes(file.read_bytes()[: size // 2])  # cut short, as by a crash or a full disk
    (file.parent / "7-notahash.safetensors").write_bytes(b"not a snapshot")
    restarted = load_engine(long_model, config)
    try:
        again, warm, _ = await collect(restarted.start(turn("Hello")))
        assert again == text
        assert warm.usage.cached_tokens == 0, "the bad file was not used"
    finally:
        restarted._worker.stop()
    assert file.stat().st_size == size, "the snapshot was written again, whole"
