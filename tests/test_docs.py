"""Numbers in README.md come from a run: every score or speed figure in its tables stands in MODEL_CARD.md or
docs/benchmark.md, which name the run (commit, machine, date) it came from."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a figure with a unit of size or time describes a file or the latency budget, not a measurement of quality or speed
_UNIT = re.compile(r"\d+\.\d+(?=\s*(MB|ms|kHz|GB|s\b))")


def figures(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        if line.startswith("|"):
            skip = {m.start() for m in _UNIT.finditer(line)}
            out |= {m.group() for m in re.finditer(r"\d+\.\d+", line) if m.start() not in skip}
    return out


def test_readme_figures_come_from_a_documented_run():
    sources = (ROOT / "MODEL_CARD.md").read_text() + (ROOT / "docs" / "benchmark.md").read_text()
    found = figures((ROOT / "README.md").read_text())
    assert len(found) >= 10                          # the models' table is read
    assert sorted(f for f in found if f not in sources) == []
    assert "9.99" not in figures("| a | 9.99 MB |") and figures("| a | 2.100 / 0.898 |") == {"2.100", "0.898"}
    assert not re.search(r"\b\d+(\.\d+)?x\b", (ROOT / "README.md").read_text()), "README quotes a speed-up: " \
        "quote it with its machine in docs/benchmark.md and point there"
