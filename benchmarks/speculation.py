"""Speculation: decode time with ``engine.speculation`` off and on, same requests.

``python benchmarks/speculation.py [--model REF] [--draft REF]`` (``make bench-speculation``) runs
servers of the same model one after the other (off, prompt lookup, and with ``--draft`` a draft
model of the same vocabulary) and streams, greedy:

- an *edit*, shaped like Claude Code's ``Edit`` turns: a quoted file to write back with one change
  (the answer repeats most of the prompt, where drafts from it are right);
- a *story* (nothing to copy: speculation must not make it slower).

Per request: decode time (first to last text delta), median of ``--runs`` after a warm-up,
whether the servers wrote the same text, and the share of drafted tokens the model accepted (from
``/metrics``). Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from benchmarks.common import (
    API_KEY,
    ROOT,
    float32_copy,
    machine_label,
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


Measured = tuple[float, str, float | None]
"""Median decode seconds, the text, the accepted share of drafted tokens (None: none drafted)."""


def _drafts(url: str) -> tuple[float, float]:
    """The server's drafted and accepted token counters."""
    text = httpx.get(f"{url}/metrics", headers={"x-api-key": API_KEY}, timeout=30).text
    values = dict.fromkeys(("drafted", "accepted"), 0.0)
    for line in text.splitlines():
        for key in values:
            name = f"pensieve_speculation_{key}_tokens"
            if line.startswith((f"{name} ", f"{name}{{")):  # one model: one sample
                values[key] = float(line.split()[-1])
    return values["drafted"], values["accepted"]


def measure(url: str, runs: int, max_tokens: int) -> dict[str, Measured]:
    results: dict[str, Measured] = {}
    for name, prompt in (("edit", EDIT), ("story", STORY)):
        _decode(url, prompt, max_tokens)  # warm-up (and the prompt in the prefix cache)
        drafted, accepted = _drafts(url)
        timed = [_decode(url, prompt, max_tokens) for _ in range(runs)]
        drafted_after, accepted_after = _drafts(url)
        more, kept = drafted_after - drafted, accepted_after - accepted
        results[name] = (median([t for t, _ in timed]), timed[0][1], kept / more if more else None)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument(
        "--draft", default=None, help="A draft model of the same vocabulary (adds a row)."
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    store = ModelStore()
    resolved = store.resolve(args.model)
    weights = float32_copy(resolved.path) if on_cpu() else resolved.path
    modes: list[tuple[str, tuple[str, ...]]] = [
        ("off", ()),
        ("prompt lookup", ("--set", "engine.speculation=prompt-lookup")),
    ]
    draft = store.resolve(args.draft) if args.draft else None
    if draft is not None:
        draft_weights = float32_copy(draft.path) if on_cpu() else draft.path
        modes.append((f"draft {draft.name}", ("--set", f"engine.draft-model={draft_weights}")))
    runs: dict[str, dict[str, Measured]] = {}
    for label, extra in modes:
        with pensieve(weights, *extra) as (url, _):
            runs[label] = measure(url, args.runs, args.max_tokens)
            print(label, {k: round(v[0], 3) for k, v in runs[label].items()}, flush=True)
    label = machine_label(args.device_label)
    heading = f"## Speculation: {label}, {resolved.name}"
    rows = [
        "| request | speculation | decode time | speed-up | drafts accepted | same text |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("edit", "story"):
        off = runs["off"][name]
        for mode, _ in modes:
            on = runs[mode][name]
            share = "-" if on[2] is None else f"{on[2]:.0%}"
            rows.append(
                f"| {name} | {mode} | {on[0]:.2f} s | {off[0] / on[0]:.2f}x | {share} "
                f"| {'yes' if off[1] == on[1] else 'NO'} |"
            )
    section = (
        f"{heading}\n\n`python benchmarks/speculation.py` ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} "
        f"UTC, {resolved.name}{f', --draft {draft.name}' if draft else ''}): greedy, up to "
        f"{args.max_tokens} tokens, the same answer timed from its first to its last text delta "
        f"(median of {args.runs} after a warm-up) with `engine.speculation` off and on. The "
        "*edit* quotes a 25-line file to be written back with one change (Claude Code's Edit "
        "turns); the *story* has nothing to copy. *Drafts accepted*: the share of drafted "
        "tokens the model kept.\n\n" + "\n".join(rows) + "\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
