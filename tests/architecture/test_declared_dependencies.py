"""Each member declares only the pensieve-* dependencies the layer graph allows."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALLOWED = {
    "pensieve-core": set(),
    "pensieve-api": set(),
    "pensieve-loader": {"pensieve-core"},
    "pensieve-metrics": {"pensieve-core"},
    "pensieve-mlx": {"pensieve-core"},
    "pensieve-server": {"pensieve-core", "pensieve-api"},
    "pensieve-cli": {"pensieve-core", "pensieve-loader", "pensieve-api"},
    "pensieve-app": {
        "pensieve-core",
        "pensieve-loader",
        "pensieve-mlx",
        "pensieve-api",
        "pensieve-server",
        "pensieve-cli",
        "pensieve-metrics",
    },
}

MEMBERS = sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("apps/*/pyproject.toml")])


def _internal_deps(pyproject: Path) -> tuple[str, set[str]]:
    project = tomllib.loads(pyproject.read_text())["project"]
    names = {
        re.split(r"[\s;\[<>=!~]", dep, maxsplit=1)[0] for dep in project.get("dependencies", [])
    }
    return project["name"], {n for n in names if n.startswith("pensieve-")}


def test_every_member_is_known() -> None:
    assert {_internal_deps(p)[0] for p in MEMBERS} == set(ALLOWED)


@pytest.mark.parametrize("pyproject", MEMBERS, ids=lambda p: p.parent.name)
def test_declared_dependencies_follow_the_graph(pyproject: Path) -> None:
    name, deps = _internal_deps(pyproject)
    assert deps <= ALLOWED[name], f"{name} declares {sorted(deps - ALLOWED[name])}"


@pytest.mark.parametrize("pyproject", MEMBERS, ids=lambda p: p.parent.name)
def test_member_layout(pyproject: Path) -> None:
    member = pyproject.parent
    name, _ = _internal_deps(pyproject)
    package = member / "src" / name.replace("-", "_").replace("pensieve_app", "pensieve_app")
    assert (member / "README.md").is_file()
    assert (package / "py.typed").is_file()
    assert "__all__" in (package / "__init__.py").read_text()
