"""Transformers' model table kept on disk: the same table, read back by the next process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Each run is a fresh interpreter: the wrapper has to be in place before transformers imports.
# It prints what transformers' lazy ``models`` package offers and whether the wrapper was used.
_PROBE = """
import json, sys
from pathlib import Path
from pensieve_mlx.transformers_index import remember_transformers_index
remember_transformers_index(Path(sys.argv[1]))
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
