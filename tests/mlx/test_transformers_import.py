"""How a start imports transformers: its model table kept on disk and read back by the next
process; PyTorch, where installed, not imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# Each run is a fresh interpreter: the wrapper has to be in place before transformers imports.
# It prints what transformers' lazy ``models`` package offers and whether the wrapper was used.
_PROBE = """
import json, sys
from pathlib import Path
from typing import Any
from pensieve_mlx.transformers_import import prepare_transformers
prepare_transformers(Path(sys.argv[1]))
from transformers import AutoTokenizer, PreTrainedTokenizerFast
import transformers
import transformers.models as models
import transformers.utils.import_utils as utils
print(json.dumps({
    "wrapped": "_kept" in utils.create_import_structure_from_path.__qualname__,
    "names": sorted(models._class_to_module.items()),
    "top": sorted(transformers._class_to_module.items()),
    "tokenizer": AutoTokenizer.__name__,
}))
"""

# The table as transformers builds it, with nothing wrapped.
_PLAIN = """
import json
import transformers
import transformers.models as models
print(json.dumps({
    "names": sorted(models._class_to_module.items()),
    "top": sorted(transformers._class_to_module.items()),
}))
"""


def _run(code: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_kept_table_is_transformers_own_and_is_read_back(tmp_path: Path) -> None:
    plain = _run(_PLAIN)
    assert plain["names"], "transformers' lazy models package lists its classes"

    first = _run(_PROBE, str(tmp_path))
    kept = list(tmp_path.glob("transformers-models-*.json"))
    assert first["wrapped"] is True
    assert len(kept) == 1
    assert first["names"] == plain["names"]
    assert first["top"] == plain["top"]
    assert first["tokenizer"] == "AutoTokenizer"

    written = kept[0].stat().st_mtime_ns
    second = _run(_PROBE, str(tmp_path))
    assert second["names"] == plain["names"]
    assert second["top"] == plain["top"]
    assert kept[0].stat().st_mtime_ns == written, "read back, not written again"


def test_an_unreadable_kept_table_is_built_again(tmp_path: Path) -> None:
    _run(_PROBE, str(tmp_path))
    (kept,) = tmp_path.glob("transformers-models-*.json")
    kept.write_text('{"dict": [["albert", {"nope": 1}]]')  # cut short

    again = _run(_PROBE, str(tmp_path))
    assert again["names"] == _run(_PLAIN)["names"]
    json.loads(kept.read_text())  # whole again


# A stand-in PyTorch, installed as far as transformers can tell (a package and its metadata): it
# records that it was imported, then fails as a broken install would.
_FAKE_TORCH = """
import os
open(os.environ["TORCH_IMPORTED"], "w").close()
raise ImportError("this is not PyTorch")
"""

# What mlx-lm imports to load a tokenizer, then a tokenizer loaded and used.
_LOAD_TOKENIZER = """
import sys
from pathlib import Path
from typing import Any
if sys.argv[1] != "-":
    from pensieve_mlx.transformers_import import prepare_transformers
    prepare_transformers(Path(sys.argv[1]))
from mlx_lm.tokenizer_utils import load as load_tokenizer
tokenizer = load_tokenizer(Path(sys.argv[2]))
print(len(tokenizer.encode("hello world")), "torch" in sys.modules)
"""


def _with_fake_torch(
    tmp_path: Path, smol_path: Path, kept: str
) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True, exist_ok=True)
    (site / "torch" / "__init__.py").write_text(_FAKE_TORCH)
    meta = site / "torch-2.9.0.dist-info"
    meta.mkdir(exist_ok=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.9.0\n")
    marker = tmp_path / "torch-imported"
    marker.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
        "TORCH_IMPORTED": str(marker),
    }
    return subprocess.run(
        [sys.executable, "-c", _LOAD_TOKENIZER, kept, str(smol_path)],
        capture_output=True,
        text=True,
        env=env,
    )


def test_an_installed_pytorch_is_not_imported_to_load_a_tokenizer(
    tmp_path: Path, smol_path: Path
) -> None:
    plain = _with_fake_torch(tmp_path, smol_path, "-")
    assert (tmp_path / "torch-imported").exists(), "transformers imports an installed PyTorch"
    assert plain.returncode != 0

    prepared = _with_fake_torch(tmp_path, smol_path, str(tmp_path / "kept"))
    assert prepared.returncode == 0, prepared.stderr
    assert not (tmp_path / "torch-imported").exists()
    count, imported = prepared.stdout.split()
    assert int(count) > 0
    assert imported == "False"


# transformers 5.7 to 5.22 build their map of installed distributions as the module loads.
_EAGER_IMPORT_UTILS = """
import importlib.metadata
PACKAGE_DISTRIBUTION_MAPPING = importlib.metadata.packages_distributions()
"""

# Counts how often the real map is built while that module (or the installed one) loads.
_DISTRIBUTIONS_PROBE = """
import importlib.metadata, json, sys
from pathlib import Path
from typing import Any
built = []
real = importlib.metadata.packages_distributions
def counted():
    built.append(1)
    return real()
importlib.metadata.packages_distributions = counted
from pensieve_mlx.transformers_import import prepare_transformers
prepare_transformers(Path(sys.argv[1]))
import transformers.utils.import_utils as utils
if hasattr(utils, "PACKAGE_DISTRIBUTION_MAPPING"):
    mapping = utils.PACKAGE_DISTRIBUTION_MAPPING
else:
    mapping = utils._package_distribution_mapping()
print(json.dumps({
    "map": mapping,
    "built": len(built),
    "restored": importlib.metadata.packages_distributions is counted,
    "truth": real(),
}))
"""


def _distributions(kept: Path, site: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
    done = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTIONS_PROBE, str(kept)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_distribution_map_built_at_import_is_kept_until_an_install_changes(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    (site / "transformers" / "utils").mkdir(parents=True)
    (site / "transformers" / "__init__.py").write_text("")
    (site / "transformers" / "utils" / "__init__.py").write_text("")
    (site / "transformers" / "utils" / "import_utils.py").write_text(_EAGER_IMPORT_UTILS)
    kept = tmp_path / "kept"

    first = _distributions(kept, site)
    assert first["built"] == 1
    assert first["map"] == first["truth"]
    assert first["restored"] is True, "importlib.metadata is left as it was"
    assert (kept / "transformers-distributions.json").is_file()

    second = _distributions(kept, site)
    assert second["built"] == 0, "read back"
    assert second["map"] == second["truth"]

    meta = site / "probe_dist-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-dist\nVersion: 1.0\n")
    (meta / "top_level.txt").write_text("probe_module\n")
    third = _distributions(kept, site)
    assert third["built"] == 1, "an install changed the directory: built again"
    assert third["map"]["probe_module"] == ["probe-dist"]
    assert third["map"] == third["truth"]


def test_the_installed_transformers_gets_the_kept_distribution_map(tmp_path: Path) -> None:
    first = _distributions(tmp_path)
    assert first["map"] == first["truth"]
    assert (tmp_path / "transformers-distributions.json").is_file()
    assert _distributions(tmp_path)["built"] == 0
