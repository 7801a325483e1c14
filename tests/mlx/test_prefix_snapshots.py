"""Prefix reuse on models whose cache cannot be cut back: sliding windows and linear attention.

Tiny random-weight models of mlx-lm's gemma3_text (sliding-window ``RotatingKVCache`` layers) and
qwen3_next (linear-attention ``ArraysCache`` layers), with SmolLM2's tokenizer and template. Reuse
goes through whole snapshots (the system+tools boundary, the end of a sequence), never a cut,
and the answers equal those of an engine without a cache.
"""

import importlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlx.core as mx
import pytest
from mlx_lm.utils import save_model

from pensieve_core import GenerationRequest, Message, SamplingParams, TextPart
from pensieve_mlx import MLXEngine, MLXEngineConfig
from tests.mlx.conftest import collect, load_engine

pytestmark = pytest.mark.anyio

SHAPES: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "model_type": "gemma3_text",
        "hidden_size": 64,
        "num_hidden_layers": 3,
        "intermediate_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "query_pre_attn_scalar": 32,
        "sliding_window": 64,
        "sliding_window_pattern": 3,
        "max_position_embeddings": 8192,
    },
    "qwen3_next": {
        "model_type": "qwen3_next",
        "hidden_size": 64,
        "num_hidden_layers": 4,
        "intermediate_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "linear_num_value_heads": 2,
        "linear_num_key_heads": 1,
        "linear_key_head_dim": 32,
        "linear_value_head_dim": 32,
        "linear_conv_kernel_dim": 4,
        "num_experts": 0,
        "num_experts_per_tok": 1,
        "decoder_sparse_step": 1,
        "shared_expert_intermediate_size": 128,
        "mlp_only_layers": [0, 1, 2, 3],
        "moe_intermediate_size": 64,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "partial_rotary_factor": 0.5,
        "max_position_embeddings": 8192,
        "full_attention_interval": 4,
    },
}


def write_random_model(root: Path, shape: dict[str, Any], tokenizer_from: Path) -> Path:
    vocab = len(json.loads((tokenizer_from / "tokenizer.json").read_text())["model"]["vocab"])
    config = {**shape, "vocab_size": vocab}
    arch = importlib.import_module(f"mlx_lm.models.{config['model_type']}")
    mx.random.seed(3)
    model = arch.Model(arch.ModelArgs.from_dict(config))
    mx.eval(model.parameters())
    root.mkdir(parents=True)
    save_model(root, model)
    (root / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_from / name, root / name)
    return root


SYSTEM = "You are a careful coding agent. " + " ".join(f"Rule {i}: be brief." for i in range(40))


def turn(*texts: str) -> GenerationRequest:
    messages = tuple(
        Message("user" if i % 2 == 0 else "assistant", (TextPart(t),)) for i, t in enumerate(texts)
    )
    return GenerationRequest(
        messages=messages, system=SYSTEM, sampling=SamplingParams(max_tokens=6, temperature=0.0)
    )


@pytest.fixture(name="engines", scope="module", params=list(SHAPES))
def _engines(
    request: pytest.FixtureRequest, smol_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MLXEngine, MLXEngine]]:
    path = write_random_model(
        tmp_path_factory.mktemp("snap") / request.param, SHAPES[request.param], smol_path
    )
    cached = load_engine(path)
    uncached = load_engine(path, MLXEngineConfig(prefix_cache_bytes=0))
    yield cached, uncached
    cached._worker.stop()
    uncached._worker.stop()


async def test_reuse_through_snapshots_equals_no_cache(
    engines: tuple[MLXEngine, MLXEngine],
) -> None:
    cached, uncached = engines
    first_text, first, _ = await collect(cached.start(turn("Fix parser.py")))
    side_text, side, _ = await collect(cached.start(turn("Name one river.")))
    assert side.usage.cached_tokens > 0.6 * side.usage.prompt_tokens, "the setup snapshot"
    follow = turn("Fix parser.py", first_text, "Add a test too.")
    text, second, _ = await collect(cached.start(follow))
    assert second.usage.cached_tokens >= first.usage.prompt_tokens - 1, "the last turn's snapshot"
    for request, answer in ((turn("Name one river."), side_text), (follow, text)):
        reference, _, _ = await collect(uncached.start(request))
        assert answer == reference, "a snapshot gives the answer a cold prefill gives"
