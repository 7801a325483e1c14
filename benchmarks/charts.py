"""Charts of docs/benchmarks.md: its main comparisons as PNGs beside the tables they draw.

``python benchmarks/charts.py`` (the last step of ``make bench``) reads the tables the benchmarks
wrote, so a chart shows exactly the figures its table does and is redrawn whenever a section is
rewritten. Each drawn section gets a link to its chart (``docs/charts/<section>.png``) under the
table. Sections of these kinds are drawn:

- ``run.py``: Pensieve against raw ``mlx_lm.stream_generate`` (batch-1 decode) and against
  ``mlx_lm.server`` (aggregate tok/s by concurrent streams; TTFT per turn of the replay);
- ``decode_paths.py``: batch-1 tok/s per decode path;
- ``mixed_load.py``: a short request's TTFT and a stream's rate during a long prefill;
- ``speculation.py``: the speed-up of each speculation mode per request;
- ``multi_model.py``: a main stream's rate beside side requests, and their TTFT.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a benchmark machine
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
PENSIEVE, PEER, OTHER = "#3b6fb6", "#b0b0b0", "#e0a030"

Table = list[list[str]]


def sections(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` of each ``## `` section, in order."""
    parts = re.split(r"(?m)^## ", text)
    out = []
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        out.append((heading.strip(), body))
    return out


def first_table(body: str) -> Table:
    """The first markdown table's rows (header included, separator left out)."""
    rows: Table = []
    for line in body.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def _number(cell: str) -> float | None:
    match = re.search(r"-?\d+(?:\.\d+)?", cell)
    return float(match.group()) if match else None


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]


def _bars(ax: Any, labels: list[str], series: list[tuple[str, list[float], str]]) -> None:
    """Grouped bars: one group per label, one bar per series."""
    width = 0.8 / len(series)
    for i, (name, values, color) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(xs, values, width, label=name, color=color)
        for x, v in zip(xs, values, strict=True):
            ax.annotate(f"{v:g}", (x, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    top = max((v for _, values, _ in series for v in values), default=1.0)
    ax.set_ylim(0, top * 1.15 or 1.0)  # room for the value labels
    # Below the axes: a legend inside would hide bars.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(series))


def draw_comparison(table: Table, title: str) -> Any:
    """``run.py``'s table: decode vs raw mlx-lm, tok/s vs mlx_lm.server by streams, TTFT per turn."""
    rows = {r[0]: r for r in table[1:]}
    decode = next((r for k, r in rows.items() if k.startswith("decode tok/s")), None)
    streams = [
        (k.split()[0], r)
        for k, r in rows.items()
        if re.match(r"\d+ concurrent streams: aggregate", k)
    ]
    turns = next((r for k, r in rows.items() if k.startswith("prefix cache: TTFT per turn")), None)
    if decode is None and not streams:
        return None
    panels = [p for p in (decode, streams or None, turns) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    ax_iter = iter(axes[0])
    if decode is not None:
        ax = next(ax_iter)
        values = [_number(decode[1]) or 0.0, _number(decode[2]) or 0.0]
        ax.bar(["Pensieve", "raw mlx-lm"], values, color=[PENSIEVE, PEER])
        for x, v in enumerate(values):
            ax.annotate(f"{v:g}", (x, v), ha="center", va="bottom", fontsize=8)
        ax.set_title("batch-1 decode, tok/s", fontsize=9)
    if streams:
        ax = next(ax_iter)
        _bars(
            ax,
            [f"{n} stream{'s' if n != '1' else ''}" for n, _ in streams],
            [
                ("Pensieve", [_number(r[1]) or 0.0 for _, r in streams], PENSIEVE),
                ("mlx_lm.server", [_number(r[2]) or 0.0 for _, r in streams], PEER),
            ],
        )
        ax.set_title("aggregate tok/s", fontsize=9)
    if turns is not None:
        ax = next(ax_iter)
        ours, theirs = _numbers(turns[1]), _numbers(turns[2])
        labels = [f"turn {i + 1}" for i in range(len(ours))]
        _bars(ax, labels, [("Pensieve", ours, PENSIEVE), ("mlx_lm.server", theirs, PEER)])
        ax.set_title("replay TTFT per turn, s", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def draw_paths(table: Table, title: str) -> Any:
    """``decode_paths.py``: tok/s per path."""
    labels = [r[0].replace("Pensieve `/v1/messages`, ", "Pensieve, ").strip("`") for r in table[1:]]
    values = [_number(r[1]) or 0.0 for r in table[1:]]
    fig, ax = plt.subplots(figsize=(6.5, 0.6 + 0.55 * len(labels)))
    colors = [PEER if label.startswith("raw") else PENSIEVE for label in labels]
    ax.barh(labels, values, color=colors)
    for y, v in enumerate(values):
        ax.annotate(f" {v:g}", (v, y), va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("tok/s, one stream", fontsize=8)
    ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def draw_mixed(table: Table, title: str) -> Any:
    """``mixed_load.py``: TTFT alone vs during a prefill, and a stream's rate, per scheduler."""
    rows = table[1:]
    labels = [r[0] for r in rows]
    wide = len(table[0]) >= 8  # from 2026-12-08: the long prompt's TTFT too
    fig, axes = plt.subplots(1, 3 if wide else 2, figsize=(12.6 if wide else 8.4, 3.4))
    left, right = axes[0], axes[1]
    _bars(
        left,
        labels,
        [
            ("alone", [_number(r[1]) or 0.0 for r in rows], PEER),
            ("during a long prefill", [_number(r[2]) or 0.0 for r in rows], PENSIEVE),
        ],
    )
    left.set_title("short request TTFT, s", fontsize=9)
    _bars(
        right,
        labels,
        [
            ("alone", [_number(r[4]) or 0.0 for r in rows], PEER),
            ("during a long prefill", [_number(r[5]) or 0.0 for r in rows], PENSIEVE),
        ],
    )
    right.set_title("running stream, tok/s", fontsize=9)
    if wide:
        _bars(
            axes[2],
            labels,
            [
                ("alone", [_number(r[6]) or 0.0 for r in rows], PEER),
                ("beside a stream", [_number(r[7]) or 0.0 for r in rows], PENSIEVE),
            ],
        )
        axes[2].set_title("long prompt TTFT, s", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def draw_speculation(table: Table, title: str) -> Any:
    """``speculation.py``: speed-up of each mode per request (1.0x: as fast as plain decoding)."""
    header = [h.lower() for h in table[0]]
    speed = header.index("speed-up")
    if "speculation" in header:  # a row per request and mode
        mode = header.index("speculation")
        rows = [r for r in table[1:] if r[mode] != "off"]
        requests = list(dict.fromkeys(r[0] for r in rows))
        modes = list(dict.fromkeys(r[mode] for r in rows))
        values = {(r[0], r[mode]): _number(r[speed]) or 0.0 for r in rows}
    else:  # the first format: a row per request, prompt lookup only
        requests, modes = [r[0] for r in table[1:]], ["prompt lookup"]
        values = {(r[0], "prompt lookup"): _number(r[speed]) or 0.0 for r in table[1:]}
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    palette = [PENSIEVE, OTHER, "#5aa05a"]
    _bars(
        ax,
        requests,
        [
            (m, [values.get((q, m), 0.0) for q in requests], palette[i % 3])
            for i, m in enumerate(modes)
        ],
    )
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_ylabel("speed-up over plain decoding", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def draw_models(table: Table, title: str) -> Any:
    """``multi_model.py``: the main stream's tok/s and the side requests' TTFT per setting."""
    rows = table[1:]
    labels = [r[0].replace("side requests to the ", "side -> ") for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    left.bar(labels, [_number(r[1]) or 0.0 for r in rows], color=[PEER, OTHER, PENSIEVE])
    left.set_title("main stream, tok/s", fontsize=9)
    sides = [r for r in rows if _number(r[4]) is not None]
    right.bar(
        [r[0].replace("side requests to the ", "side -> ") for r in sides],
        [_number(r[4]) or 0.0 for r in sides],
        color=[OTHER, PENSIEVE][: len(sides)],
    )
    right.set_title("side request TTFT p50, s", fontsize=9)
    for ax in (left, right):
        ax.tick_params(labelsize=8)
        for patch in ax.patches:
            ax.annotate(
                f"{patch.get_height():g}",
                (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    fig.suptitle(title, fontsize=10)
    return fig


def drawer(heading: str, table: Table) -> Callable[[Table, str], Any] | None:
    """Which chart a section gets (None: none)."""
    if not table:
        return None
    header = [h.lower() for h in table[0]]
    if header[:3] == ["figure", "pensieve", "peer"]:
        return draw_comparison
    if heading.startswith("Batch-1 decode paths"):
        return draw_paths
    if heading.startswith("Mixed load") and len(header) >= 6:
        return draw_mixed
    if "speculation" in heading.lower() and "speed-up" in header:
        return draw_speculation
    if heading.startswith("Two models") and "main stream tok/s" in header:
        return draw_models
    return None


def slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")[:80]


def draw_all(doc: Path, out: Path) -> list[Path]:
    """Draw every section's chart and link it under its table; the charts written."""
    text = doc.read_text()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for heading, body in sections(text):
        table = first_table(body)
        draw = drawer(heading, table)
        if draw is None:
            continue
        title = heading if len(heading) <= 90 else heading[:87] + "..."
        figure = draw(table, title)
        if figure is None:
            continue
        png = out / f"{slug(heading)}.png"
        figure.tight_layout()
        figure.savefig(png, dpi=110)
        plt.close(figure)
        written.append(png)
        link = f"![{heading}]({png.relative_to(doc.parent).as_posix()})"
        if link not in body:
            # Under the table: the first blank line after its last row.
            lines = body.split("\n")
            last = max(i for i, line in enumerate(lines) if line.startswith("|"))
            lines.insert(last + 1, f"\n{link}")
            new_body = "\n".join(lines)
            text = text.replace(f"## {heading}\n{body}", f"## {heading}\n{new_body}", 1)
    doc.write_text(text)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--out", type=Path, default=None, help="Default: charts/ beside --doc.")
    args = parser.parse_args()
    written = draw_all(args.doc, args.out or args.doc.parent / "charts")
    for png in written:
        print(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
    if not written:
        sys.exit("no section of a known kind to draw")


if __name__ == "__main__":
    main()
