"""Engines for the MLX tests: a tiny random-weight llama and the embedded SmolLM2."""

from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlx.core")

from pensieve_core import (
    Finished,
    Generation,
    GenerationEvent,
    GenerationRequest,
    Message,
    SamplingParams,
    TextDelta,
    TextPart,
)
from pensieve_loader import ModelStore, validate_model_dir
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_mlx import MLXEngine, MLXEngineConfig, ServedModel
from tests.ggufs import qwen_vocab, smollm_vocab, write_tiny_llama


@pytest.fixture(name="tiny_model_path", scope="session")
def _tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-engine")
    write_tiny_llama(root / "tiny.gguf", smollm_vocab(), hidden=64, layers=2, seed=7)
    return convert_gguf(root / "tiny.gguf", root / "tiny")


@pytest.fixture(name="tiny_qwen_path", scope="session")
def _tiny_qwen_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random qwen2 with Qwen2.5's real vocabulary (151,936 tokens) and template."""
    root = tmp_path_factory.mktemp("tiny-qwen")
    write_tiny_llama(root / "tiny-qwen.gguf", qwen_vocab(), arch="qwen2", context=2048, seed=3)
    return convert_gguf(root / "tiny-qwen.gguf", root / "tiny-qwen")


@pytest.fixture(name="smol_path", scope="session")
def _smol_path() -> Path:
    return ModelStore().resolve(None).path


def load_engine(path: Path, config: MLXEngineConfig | None = None) -> MLXEngine:
    """The engine on ``path``, told what the loader found there (as the app does)."""
    summary = validate_model_dir(path)
    served = ServedModel(path.name, path, summary.context_length, summary.supports_tools)
    return MLXEngine.load(served, config)


def running_engine(path: Path, config: MLXEngineConfig | None = None) -> Iterator[MLXEngine]:
    """An engine for a fixture: loaded, yielded, its worker stopped after."""
    engine = load_engine(path, config)
    yield engine
    engine._worker.stop()


@pytest.fixture(name="tiny_engine", scope="session")
def _tiny_engine(tiny_model_path: Path) -> Iterator[MLXEngine]:
    yield from running_engine(tiny_model_path)


@pytest.fixture(name="smol_engine", scope="session")
def _smol_engine(smol_path: Path) -> Iterator[MLXEngine]:
    yield from running_engine(smol_path)


def ask(
    text: str, *, max_tokens: int = 16, system: str = "", **sampling: object
) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", (TextPart(text),)),),
        system=system,
        sampling=SamplingParams(max_tokens=max_tokens, temperature=0.0, **sampling),  # type: ignore[arg-type]
    )


async def collect(
    started: Awaitable[Generation],
) -> tuple[str, Finished, list[GenerationEvent]]:
    async with await started as generation:
        events = [e async for e in generation.events()]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.usage.prompt_tokens == generation.prompt_tokens
    return text, finished, events
