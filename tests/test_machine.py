"""chvoice_core.machine: the CPU facts every run records and every speed-up names."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chvoice_core.machine import ISA, bf16_native, cpu_facts, describe
from reports.build import main

XEON = {"model": "Intel(R) Xeon(R) Platinum 8488C", "torch_capability": "AVX512", "quantized_engine": "x86",
        "isa": {**{k: True for k in ISA}, "avx_vnni": True}}
EPYC = {"model": "AMD EPYC 9R14", "torch_capability": "AVX512", "quantized_engine": "x86",
        "isa": {**{k: True for k in ISA}, "amx_tile": False, "amx_int8": False, "amx_bf16": False}}


def test_describe_names_the_instruction_sets_that_decide_int8_and_bf16():
    x, e = describe(XEON), describe(EPYC)
    assert "AMX-INT8" in x and "AMX-BF16" in x and "AVX-512 VNNI" in x and "8488C" in x
    assert "no AMX" in e and "AVX-512 BF16" in e and "AVX-512 VNNI" in e and "EPYC 9R14" in e
    assert "AVX-512 BF16" not in describe({**EPYC, "isa": {**EPYC["isa"], "avx512_bf16": False}})
    assert "unknown" in describe({**EPYC, "isa": {k: None for k in ISA}}) and "not recorded" in describe(None)
    assert bf16_native(EPYC["isa"]) and not bf16_native({**EPYC["isa"], "avx512_bf16": False})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_this_machine_is_read():
    f = cpu_facts()
    assert f["model"] and f["torch_capability"] and f["quantized_engine"]
    assert all(isinstance(v, bool) for v in f["isa"].values()) and f["isa"]["avx2"] in (True, False)


def test_the_report_header_and_speed_up_titles_name_the_cpu(tmp_path):
    raw = json.loads((Path(__file__).parent / "fixtures" / "bench-run.json").read_text())
    raw["machine_info"]["chvoice"]["cpu"] = EPYC
    run = tmp_path / "run.json"
    run.write_text(json.dumps(raw))
    assert main(["--run", str(run), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    line = describe(EPYC)
    assert f"**cpu**: {line}" in md
    speedup = md[md.index("Speed-up over the fp32"):]
    assert line in speedup.splitlines()[0]
