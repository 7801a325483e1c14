"""Settings are the config dataclasses, decoded and validated by msgspec."""

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest

from pensieve_app.config import app_config, engine_config, server_config, setting_specs
from pensieve_cli import resolve, specs_of
from pensieve_cli.settings import SettingsError
from pensieve_mlx import MLXEngineConfig
from pensieve_server import ServerConfig


@dataclass(frozen=True, kw_only=True)
class Toy:
    """A schema of the kind every layer declares."""

    workers: Annotated[int, msgspec.Meta(ge=1)] = field(default=2, metadata={"help": "Workers."})
    ratio: Annotated[float, msgspec.Meta(le=1)] = field(default=0.5, metadata={"help": "Ratio."})
    mode: Literal["a", "b"] = field(default="a", metadata={"help": "Mode."})
    tags: tuple[str, ...] = field(default=(), metadata={"help": "Tags."})
    on: bool = field(default=False, metadata={"help": "On."})


def _problems(error: SettingsError) -> list[str]:
    return [str(p) for p in error.problems]


def test_help_text_needs_no_source(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_source(obj: object) -> str:
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsource", no_source)
    setting_specs.cache_clear()
    try:
        specs = setting_specs()
    finally:
        setting_specs.cache_clear()
    assert all(spec.help for spec in specs), [s.key for s in specs if not s.help]
    by_key = {s.key: s for s in specs}
    assert by_key["server.port"].help == "TCP port."
    assert by_key["log-level"].choices == ("debug", "info", "warning", "error")
    assert len(specs) == 6 + len(ServerConfig.__dataclass_fields__) + len(
        MLXEngineConfig.__dataclass_fields__
    )


def test_a_schema_is_decoded_from_text_and_file(tmp_path: Path) -> None:
    specs = specs_of(Toy, "toy")
    assert [s.key for s in specs] == ["toy.workers", "toy.ratio", "toy.mode", "toy.tags", "toy.on"]
    (tmp_path / "c.toml").write_text('[toy]\nratio = 1\ntags = ["x"]\n')
    env = {"PENSIEVE_TOY_WORKERS": " 3 ", "PENSIEVE_TOY_ON": "yes", "PENSIEVE_TOY_MODE": "b"}
    settings = resolve(specs, tmp_path / "c.toml", environ=env)
    assert settings.section("toy", Toy) == Toy(workers=3, ratio=1.0, mode="b", tags=("x",), on=True)
    assert isinstance(settings["toy.ratio"], float)


def test_constraints_in_the_types_are_refused_with_key_and_source(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[toy]\nratio = 2\ntags = ["x", 1]\nmode = "c"\n')
    env = {"PENSIEVE_TOY_WORKERS": "0", "PENSIEVE_TOY_ON": "maybe"}
    with pytest.raises(SettingsError) as caught:
        resolve(specs_of(Toy, "toy"), tmp_path / "c.toml", environ=env)
    path = tmp_path / "c.toml"
    assert sorted(_problems(caught.value)) == sorted(
        [
            f"toy.ratio: must be at most 1, got 2.0 ({path})",
            f"toy.tags: expected a list of strings, got ['x', 1] ({path})",
            f"toy.mode: expected one of a, b, got 'c' ({path})",
            "toy.workers: must be at least 1, got 0 (PENSIEVE_TOY_WORKERS)",
            "toy.on: expected true or false, got 'maybe' (PENSIEVE_TOY_ON)",
        ]
    )


def test_layer_constraints(tmp_path: Path) -> None:
    env = {
        "PENSIEVE_SERVER_PORT": "0",
        "PENSIEVE_SERVER_CORS_ORIGINS": "https://a.example, ",
        "PENSIEVE_ENGINE_PREFIX_CACHE_BYTES": "-1",
        "PENSIEVE_SERVER_BODY_TIMEOUT_S": "-0.5",
    }
    with pytest.raises(SettingsError) as caught:
        resolve(setting_specs(), tmp_path / "none.toml", environ=env)
    assert _problems(caught.value) == [
        "server.port: 0 is not a port (1-65535) (PENSIEVE_SERVER_PORT)",
        "server.cors-origins: empty or blank entries are not allowed, "
        "got ['https://a.example', ''] (PENSIEVE_SERVER_CORS_ORIGINS)",
        "server.body-timeout-s: must not be negative, got -0.5 (PENSIEVE_SERVER_BODY_TIMEOUT_S)",
        "engine.prefix-cache-bytes: must not be negative, got -1 "
        "(PENSIEVE_ENGINE_PREFIX_CACHE_BYTES)",
    ]


def test_sections_become_each_layers_config(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        'log-format = "json"\n[server]\napi-keys = ["k"]\n[engine]\nprecision = "float16"\n'
    )
    flags = {"server.port": 8123, "model": "smol"}
    settings = resolve(setting_specs(), tmp_path / "c.toml", flags=flags, environ={})
    server = server_config(settings)
    assert (server.port, server.api_keys) == (8123, ("k",))
    # Empty cache dirs are in the user's cache directory ($PENSIEVE_CACHE_DIR in tests).
    cache = Path(os.environ["PENSIEVE_CACHE_DIR"])
    assert engine_config(settings) == MLXEngineConfig(
        precision="float16",
        prefix_cache_dir=str(cache / "prefix-cache"),
        weights_cache_dir=str(cache / "weights"),
        tokenizer_cache_dir=str(cache / "tokenizers"),
    )
    top = app_config(settings)
    assert (top.model, top.log_format, top.log_level) == ("smol", "json", "info")
