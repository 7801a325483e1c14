"""Draft-model speculation: the served model's own greedy tokens, whatever the draft proposes."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from pensieve_core import ModelLoadError
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_mlx import MLXEngine, MLXEngineConfig
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.mlx.conftest import ask, collect, load_engine, running_engine
from tests.mlx.test_fast_path import QUOTED, _requests

pytestmark = pytest.mark.anyio


@pytest.fixture(name="plain", scope="module")
def _plain(smol_path: Path) -> Iterator[MLXEngine]:
    yield from running_engine(smol_path)


@pytest.fixture(name="self_drafted", scope="module")
def _self_drafted(smol_path: Path) -> Iterator[MLXEngine]:
    # SmolLM2 drafting for itself: every draft is what the model would say.
    yield from running_engine(smol_path, MLXEngineConfig(draft_model=str(smol_path)))


@pytest.fixture(name="badly_drafted", scope="module")
def _badly_drafted(smol_path: Path, tiny_model_path: Path) -> Iterator[MLXEngine]:
    # A random-weight model with SmolLM2's vocabulary: its drafts are mostly wrong.
    config = MLXEngineConfig(speculation="draft-model", draft_model=str(tiny_model_path))
    yield from running_engine(smol_path, config)


async def test_a_good_draft_is_accepted_and_the_tokens_are_the_models(
    self_drafted: MLXEngine, plain: MLXEngine
) -> None:
    edit = ask(f"Repeat this code exactly, then stop:\n\n{QUOTED}", max_tokens=60)
    worker = self_drafted._worker
    drafted, accepted = worker.drafted_tokens, worker.accepted_draft_tokens
    ours = await collect(self_drafted.start(edit))
    assert ours[0] == (await collect(plain.start(edit)))[0]
    drafted, accepted = worker.drafted_tokens - drafted, worker.accepted_draft_tokens - accepted
    # How many are drafted depends on the pacing (drafting with the model itself is no faster
    # than decoding, so it pauses); what is drafted, the model agrees with.
    assert drafted >= 8
    assert accepted >= 0.9 * drafted, f"the model agrees with itself: {accepted} of {drafted}"
    # The next turn shares the prompt: the draft keeps its cache and drafts again.
    again = await collect(self_drafted.start(edit))
    assert again[0] == ours[0]


async def test_a_bad_draft_changes_nothing(badly_drafted: MLXEngine, plain: MLXEngine) -> None:
    prompt = ask("Write a short poem about rivers.", max_tokens=40)
    assert (await collect(badly_drafted.start(prompt)))[0] == (await collect(plain.start(prompt)))[
        0
    ]
    # Sampled, constrained and ordinary requests: the same tokens as without a draft.
    for request in _requests():
        ours = (await collect(badly_drafted.start(request)))[0]
        assert ours == (await collect(plain.start(request)))[0]


def test_a_draft_of_another_vocabulary_is_refused_at_load(smol_path: Path, tmp_path: Path) -> None:
    # SmolLM2's tokens with two ids swapped: the same count, another vocabulary (and 4x faster
    # to build than a real other one, Qwen's 152k tokens).
    vocab = smollm_vocab()
    tokens = vocab["tokens"]
    assert isinstance(tokens, list)
    tokens[1000], tokens[1001] = tokens[1001], tokens[1000]
    write_tiny_llama(tmp_path / "other.gguf", {**vocab, "tokens": tokens}, hidden=64, layers=1)
    other = convert_gguf(tmp_path / "other.gguf", tmp_path / "other")
    with pytest.raises(ModelLoadError, match="another vocabulary"):
        load_engine(smol_path, MLXEngineConfig(draft_model=str(other)))


def test_draft_model_speculation_needs_a_draft(smol_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"needs engine\.draft-model"):
        load_engine(smol_path, MLXEngineConfig(speculation="draft-model"))
