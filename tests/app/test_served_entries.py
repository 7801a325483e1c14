"""Several served models in the config: the documented TOML, NAME=REF text, per-model engines."""

import re
from pathlib import Path

import pytest

from pensieve_app.config import (
    ModelEntry,
    app_config,
    engine_config,
    engine_config_for,
    served_entries,
    server_config,
    setting_specs,
)
from pensieve_cli import resolve
from pensieve_cli.commands.server import _model_flags
from pensieve_core import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_documented_several_models_config_is_what_it_says(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    several = next(b for b in blocks if "[[models]]" in b)
    path = tmp_path / "config.toml"
    path.write_text(several)
    settings = resolve(setting_specs(), path, environ={})
    entries = served_entries(app_config(settings))
    assert [(e.name, e.model, e.is_fast) for e in entries] == [
        ("main", "qwen2.5-coder-7b-instruct", False),
        ("fast", "smollm2-135m-instruct", True),
    ]
    assert entries[1].aliases == ("small",)
    fast = engine_config_for(engine_config(settings), entries[1], "models[0]")
    assert fast.max_context_tokens == 8192
    assert fast.max_active_sequences == 8
    assert engine_config(settings).max_active_sequences == 32, "the others keep [engine]'s"
    server = server_config(settings)
    assert server.model_routes == ("*haiku*=fast", "gpt-4o-mini=fast")
    assert server.max_loaded_models == 2
    assert server.model_keep_alive_s == 600


def test_models_as_text_from_the_environment_and_the_command_line(tmp_path: Path) -> None:
    settings = resolve(
        setting_specs(),
        tmp_path / "none.toml",
        environ={"PENSIEVE_MODELS": "fast=smollm2, ./models/qwen"},
    )
    entries = served_entries(app_config(settings))
    assert [(e.name, e.model) for e in entries] == [
        ("", ""),
        ("fast", "smollm2"),
        ("", "./models/qwen"),
    ]
    assert _model_flags(("main=./qwen", "fast=smollm2")) == {
        "model": "./qwen",
        "model-name": "main",
        "models": ["fast=smollm2"],
    }
    assert _model_flags(("hf:org/repo",)) == {"model": "hf:org/repo"}
    assert ModelEntry.of("a/b=c").model == "a/b=c", "a path with = is a reference, not a name"


def test_an_unknown_or_bad_engine_key_of_one_model_names_it() -> None:
    base = engine_config(resolve(setting_specs(), Path("/nonexistent.toml"), environ={}))
    with pytest.raises(ConfigError, match=r"models\[1\]: unknown engine key 'max-contxt'"):
        engine_config_for(base, ModelEntry(model="x", engine={"max-contxt": 1}), "models[1]")
    with pytest.raises(ConfigError):
        engine_config_for(base, ModelEntry(model="x", engine={"max-context-tokens": -3}), "m")
