"""pensieve_loader: turns what a user names as a model into a validated MLX model directory.

Depends on core only and never imports MLX: GGUF conversion uses the ``gguf`` reader and numpy,
imported lazily so that importing the package stays quick (reading a safetensors header loads
numpy, through ``safetensors.safe_open``, on first use).
"""

from pensieve_loader.embedded import DEFAULT_MODEL_NAME, embedded_gguf
from pensieve_loader.hub import looks_like_repo_id
from pensieve_loader.paths import default_models_dir
from pensieve_loader.progress import Progress
from pensieve_loader.store import ModelStore, ResolvedModel, model_name_for
from pensieve_loader.validate import (
    ModelSummary,
    chat_template_of,
    validate_model_dir,
)

__all__ = (
    "DEFAULT_MODEL_NAME",
    "ModelStore",
    "ModelSummary",
    "Progress",
    "ResolvedModel",
    "chat_template_of",
    "default_models_dir",
    "embedded_gguf",
    "looks_like_repo_id",
    "model_name_for",
    "validate_model_dir",
)
