"""The generated reference pages match the code."""

from pathlib import Path

from pensieve_app.config import setting_specs
from pensieve_app.docs import cli_md, configuration_md

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_is_current() -> None:
    assert (DOCS / "configuration.md").read_text() == configuration_md(), (
        "run: uv run python -m pensieve_app.docs"
    )
    for spec in setting_specs():
        assert f"`{spec.env}`" in configuration_md()


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == cli_md(), "run: uv run python -m pensieve_app.docs"
    text = cli_md()
    for command in (
        "start",
        "stop",
        "status",
        "models list",
        "models import",
        "models pull",
        "models show",
        "config set",
        "validate",
        "claude",
    ):
        assert f"`pensieve {command}`" in text
