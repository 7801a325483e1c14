"""pensieve_mlx: the MLX engine.

``MLXEngine`` implements ``pensieve_core.Engine`` on MLX through mlx-lm: one worker thread owns
every MLX call and runs mlx-lm's continuous-batching ``BatchGenerator``; an asyncio facade streams
domain events. Sampling, stop strings, tool-call parsing, grammar-constrained calls (llguidance),
a prefix KV cache and cancellation live here. It knows nothing of HTTP.

MLX itself is imported on first use of the engine, so reading ``MLXEngineConfig`` stays light.
"""

import os
from typing import TYPE_CHECKING, Any

from pensieve_mlx.config import MLXEngineConfig, ServedModel

# mlx-lm imports transformers for its tokenizers, which warns on every start that PyTorch is
# missing; MLX needs no PyTorch, so the advice is noise in every log and error message.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

if TYPE_CHECKING:
    from pensieve_mlx.device import device_name
    from pensieve_mlx.engine import MLXEngine
    from pensieve_mlx.loading import Caches, LoadedModel, describe_precision, load_model

__all__ = (
    "Caches",
    "LoadedModel",
    "MLXEngine",
    "MLXEngineConfig",
    "ServedModel",
    "describe_precision",
    "device_name",
    "load_model",
)


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pensieve_mlx.file_limit import import_mlx_lm

        import_mlx_lm()  # first, before anything below imports it unguarded
    if name == "MLXEngine":
        from pensieve_mlx.engine import MLXEngine

        return MLXEngine
    if name == "device_name":
        from pensieve_mlx.device import device_name

        return device_name
    if name in ("Caches", "LoadedModel", "describe_precision", "load_model"):
        from pensieve_mlx import loading

        return getattr(loading, name)
    raise AttributeError(name)
