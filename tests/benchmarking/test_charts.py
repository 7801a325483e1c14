"""benchmarks/charts.py draws the tables of docs/benchmarks.md and links each chart once."""

from pathlib import Path

from benchmarks.charts import draw_all, first_table, sections

DOC = """# Benchmarks

## CPU (a machine)

Some words.

| figure | Pensieve | peer | ratio | goal |
|---|---|---|---|---|
| decode tok/s, streamed `POST /v1/messages` vs raw `mlx_lm.stream_generate` | 18.7 | 17.8 | 1.05x | >= 0.97 |
| 8 concurrent streams: aggregate tok/s vs `mlx_lm.server` | 80.6 | 73.1 | 1.10x | >= 1.0x |
| 32 concurrent streams: aggregate tok/s vs `mlx_lm.server` | 134.6 | 121.5 | 1.11x | >= 1.0x |
| prefix cache: TTFT per turn (s) | 6.32 / 0.48 | 8.27 / 8.41 | | |

## Speculation: a GPU, a model

| request | speculation | decode time | speed-up | drafts accepted | same text |
|---|---|---|---|---|---|
| edit | off | 2.00 s | 1.00x | - | yes |
| edit | prompt lookup | 1.00 s | 2.00x | 80% | yes |
| story | off | 2.00 s | 1.00x | - | yes |
| story | prompt lookup | 1.90 s | 1.05x | 10% | yes |

## Notes

| a | b |
|---|---|
| 1 | 2 |
"""


def test_known_sections_are_drawn_and_linked_once(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC)
    written = draw_all(doc, tmp_path / "charts")
    assert sorted(p.name for p in written) == [
        "cpu-a-machine.png",
        "speculation-a-gpu-a-model.png",
    ]
    for png in written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 5_000
    text = doc.read_text()
    assert text.count("](charts/cpu-a-machine.png)") == 1
    # The link goes under its own table; the tables themselves are left as they were.
    body = dict(sections(text))["CPU (a machine)"]
    assert body.index("| prefix cache") < body.index("![CPU (a machine)]")
    assert first_table(body) == first_table(dict(sections(DOC))["CPU (a machine)"])
    # Drawn again (make bench reruns it): same links, not a second one.
    draw_all(doc, tmp_path / "charts")
    assert doc.read_text() == text
