"""Generate a random-weight quantized model of a known shape, for speed benchmarks.

``python benchmarks/random_model.py --shape phi3-mini --tokenizer-from DIR --out DIR`` writes an MLX
model directory with random weights of Phi-3-mini's shape (3.8B parameters), quantized, using the
tokenizer and chat template of another model directory (the vocabulary size follows that tokenizer).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

SHAPES = {
    "phi3-mini": {
        "model_type": "phi3",
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    },
    "qwen2.5-7b": {
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
    },
    "qwen2.5-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
    },
    "qwen2.5-32b": {
        "model_type": "qwen2",
        "hidden_size": 5120,
        "intermediate_size": 27648,
        "num_hidden_layers": 64,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
    },
    "smollm2-135m-32k": {
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "rms_norm_eps": 1e-5,
        "rope_theta": 100000.0,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
    },
    "tiny": {
        "model_type": "phi3",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="phi3-mini")
    parser.add_argument("--bits", type=int, default=4, help="0: float16, not quantized.")
    parser.add_argument("--group-size", type=int, default=64)
    parser.add_argument("--tokenizer-from", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import importlib

    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.utils import save_model

    vocab = len(json.loads((args.tokenizer_from / "tokenizer.json").read_text())["model"]["vocab"])
    config = {**SHAPES[args.shape], "vocab_size": vocab}
    arch = importlib.import_module(f"mlx_lm.models.{config['model_type']}")
    model = arch.Model(arch.ModelArgs.from_dict(config))
    model.set_dtype(mx.float16)
    if args.bits:
        nn.quantize(model, group_size=args.group_size, bits=args.bits)
    mx.eval(model.parameters())
    args.out.mkdir(parents=True, exist_ok=True)
    save_model(args.out, model)
    if args.bits:
        config["quantization"] = {
            "group_size": args.group_size,
            "bits": args.bits,
            "mode": "affine",
        }
    config["torch_dtype"] = "float16"
    (args.out / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(args.tokenizer_from / name, args.out / name)
    print(
        f"wrote {args.out} ({config['num_hidden_layers']} layers, hidden {config['hidden_size']}, vocab {vocab})"
    )


if __name__ == "__main__":
    main()
