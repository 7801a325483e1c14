"""Prompt-lookup speculation: decode tok/s with ``engine.speculation`` off and on, same requests.

``python benchmarks/speculation.py [--model REF]`` (``make bench-speculation``) runs two servers of
the same model one after the other and streams, greedy:

- an *edit*, shaped like Claude Code's ``Edit`` turns: a quoted file to write back with one change
  (the answer repeats most of the prompt, where drafts from it are right);
- a *story* (nothing to copy: speculation must not make it slower).

Per request: decode tokens/s (first to last text delta), median of ``--runs`` after a warm-up, and
whether both servers wrote the same text. Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    float32_copy,
    machine,
    median,
    on_cpu,
    pensieve,
    stream_message,
    write_section,
)

FILE = '''import json
from pathlib import Path


def load_settings(path: Path) -> dict[str, object]:
    """Read the settings file, or the defaults when it is missing."""
    if not path.is_file():
        return {"theme": "light", "font_size": 12, "autosave": True}
    with path.open() as handle:
        return json.load(handle)


def save_settings(path: Path, settings: dict[str, object]) -> None:
    """Write the settings file atomically."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(settings, indent=2))
    temporary.replace(path)


def merge_settings(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    """Settings from base, overridden by extra."""
    merged = dict(base)
    merged.update(extra)
    return merged
'''
EDIT = (
    "Here is settings.py:\n\n```python\n" + FILE + "```\n\nRewrite the whole file with "
    "`font_size` set to 14 in the defaults. Answer with the complete file only."
)
STORY = "Write a long story about a dragon who learns to paint. Use many details."


def _decode(url: str, text: str, max_tokens: int) -> tuple[float, str]:
    """Seconds from the first to the last text delta, and the text."""
    streamed = stream_message(url, text, max_tokens)
    stamps = streamed.stamps
    # Both servers write the same text (checked), so its decode time compares them directly.
    return (stamps[-1] - stamps[0] if len(stamps) > 1 else float("nan")), streamed.text


def measure(url: str, runs: int, max_tokens: int) -> dict[str, tuple[float, str]]:
    results: dict[str, tuple[float, str]] = {}
    for name, prompt in (("edit", EDIT), ("story", STORY)):
        _decode(url, prompt, max_tokens)  # warm-up (and the prompt in the prefix cache)
        timed = [_decode(url, prompt, max_tokens) for _ in range(runs)]
        results[name] = (median([t for t, _ in timed]), timed[0][1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    weights = float32_copy(resolved.path) if on_cpu() else resolved.path
    runs: dict[str, dict[str, tuple[float, str]]] = {}
    for label, extra in (
        ("off", ()),
        ("prompt-lookup", ("--set", "engine.speculation=prompt-lookup")),
    ):
        with pensieve(weights, *extra) as (url, _):
            runs[label] = measure(url, args.runs, args.max_tokens)
            print(label, {k: round(v[0], 3) for k, v in runs[label].items()}, flush=True)
    facts = machine()
    label = args.device_label or facts["gpu"] or f"{facts['cpu']}, {facts['cores']} cores (CPU)"
    heading = f"## Prompt-lookup speculation: {label}"
    rows = [
        "| request | decode time off | prompt lookup | speed-up | same text |",
        "|---|---|---|---|---|",
    ]
    for name in ("edit", "story"):
        off, on = runs["off"][name], runs["prompt-lookup"][name]
        rows.append(
            f"| {name} | {off[0]:.2f} s | {on[0]:.2f} s | {off[0] / on[0]:.2f}x "
            f"| {'yes' if off[1] == on[1] else 'NO'} |"
        )
    section = (
        f"{heading}\n\n`python benchmarks/speculation.py` ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} "
        f"UTC, {resolved.name}): greedy, up to {args.max_tokens} tokens, the same answer timed "
        f"from its first to its last text delta (median of {args.runs} after a warm-up), with "
        "`engine.speculation` off and `prompt-lookup`. The *edit* quotes a 25-line file to be "
        "written back with one change (Claude Code's Edit turns); the *story* has nothing to "
        "copy.\n\n" + "\n".join(rows) + "\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
