"""The benchmark row: the suite and the report agree on one dataclass per kind (chvoice_core.benchrows)."""
from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from chvoice_core.benchrows import KINDS, Entry, Latency, SchemaError, read, required, row
from reports.load import ReportError, load_run

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "bench-run.json"


def _latency() -> dict:
    return {"track": "proxy", "kind": "latency", "variant": "normal", "profile": "weighted", "profiles": ["weighted"],
            "device": "cpu", "threads": 1, "batch": 1, "audio_seconds_per_call": 4.0, "budget": "smoke",
            "data": "builtin", "model_label": "Normal Model", "compression": "None", "in_report": True,
            "parent": None, "p50_ms": 10.0, "p90_ms": 11.0, "p99_ms": 12.0, "best_round_ms": 10.0,
            "calls_per_round": 2, "samples_ms": [10.0, 11.0], "e2e_audio_seconds": 4.0, "ms_per_s": 2.5,
            "ms_per_s_p90": 2.75, "rtf": 400.0, "e2e_calls": 2}


def test_a_row_round_trips():
    written = row(**_latency())
    e = read(json.loads(json.dumps(written)), "t")
    assert isinstance(e, Latency) and e.ms_per_s == 2.5 and e.params is None


@pytest.mark.parametrize("field_name", sorted(required(Latency)))
def test_the_writer_refuses_a_row_without_a_required_field(field_name):
    values = _latency()
    del values[field_name]
    with pytest.raises(TypeError, match=field_name):
        row(**values)


def test_the_writer_refuses_an_unknown_field_kind_or_track():
    with pytest.raises(TypeError, match="ms_per_second"):
        row(**_latency(), ms_per_second=2.5)
    with pytest.raises(TypeError, match="unknown kind"):
        row(**{**_latency(), "kind": "speed"})
    with pytest.raises(TypeError, match="track"):
        row(**{**_latency(), "track": "synthetic"})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_reader_names_a_missing_required_field(kind):
    name = sorted(required(KINDS[kind]) - {"kind"})[0]
    with pytest.raises(SchemaError, match=f"without {name}"):
        read({"kind": kind}, "bench[x]")


def test_every_entry_of_the_committed_run_reads():
    raw = json.loads(FIXTURE.read_text())
    kinds = {read(b["extra_info"], b["name"]).kind for b in raw["benchmarks"]}
    assert kinds == set(KINDS)


def test_the_report_fails_on_a_run_missing_a_field_it_needs(tmp_path):
    raw = json.loads(FIXTURE.read_text())
    worse = copy.deepcopy(raw)
    entry = next(b for b in worse["benchmarks"] if b["extra_info"]["kind"] == "latency")
    del entry["extra_info"]["ms_per_s"]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(worse))
    with pytest.raises(ReportError, match=re.escape(entry["name"]) + ".*without ms_per_s"):
        load_run(path)


def _attributes_read(source: Path) -> set[str]:
    """Names the module reads off a row: `e.<name>`, `getattr(e, "<name>", ...)` and
    `{k: getattr(e, k) for k in ("<name>", ...)}`."""
    out = set()

    def reads_e(call) -> bool:
        return (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "getattr" and len(call.args) >= 2
                and getattr(call.args[0], "id", "") == "e")
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "e":
            out.add(node.attr)
        if reads_e(node) and isinstance(node.args[1], ast.Constant):
            out.add(node.args[1].value)
        if isinstance(node, (ast.DictComp, ast.ListComp)) and any(reads_e(n) for n in ast.walk(node)):
            for gen in node.generators:
                if isinstance(gen.iter, ast.Tuple):
                    out |= {c.value for c in gen.iter.elts if isinstance(c, ast.Constant)}
    return out


def test_every_field_the_report_reads_is_in_the_schema():
    known = {f.name for cls in KINDS.values() for f in fields(cls)}
    read_by_report = _attributes_read(ROOT / "reports" / "load.py")
    assert read_by_report and read_by_report <= known, read_by_report - known
    common = {f.name for f in fields(Entry)}
    assert {"variant", "profile", "threads", "device"} <= read_by_report & common
