"""pensieve_mlx: the MLX engine.

``MLXEngine`` implements ``pensieve_core.Engine`` on MLX through mlx-lm: one worker thread owns
every MLX call and runs mlx-lm's continuous-batching ``BatchGenerator``; an asyncio facade streams
domain events. Sampling, stop strings, tool-call parsing, grammar-constrained calls (llguidance),
a prefix KV cache and cancellation live here. It knows nothing of HTTP.
"""

from pensieve_mlx.config import MLXEngineConfig
from pensieve_mlx.engine import MLXEngine
from pensieve_mlx.loading import LoadedModel, device_name, load_model

__all__ = ("LoadedModel", "MLXEngine", "MLXEngineConfig", "device_name", "load_model")
