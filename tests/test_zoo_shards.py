"""`chvoice zoo --shard i/n`: disjoint shards built by separate processes fill one shared cache that the
benchmark suite then finds complete."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chvoice_core.budgets import get_budget
from chvoice_core.data import DataConfig, load_data
from chvoice_core.errors import ChvoiceError
from chvoice_core.zoo import Zoo

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ["normal", "normal-quant", "smaller"]


def test_chains_are_split_whole_and_disjoint():
    chains = Zoo(get_budget("smoke")).chains(VARIANTS, ["weighted", "no-reverb"])
    assert [(p, a) for p, a, _ in chains] == [("no-reverb", "normal"), ("no-reverb", "smaller"),
                                             ("weighted", "normal"), ("weighted", "smaller")]
    assert chains[0][2] == ["normal", "normal-quant"]        # a chain shares its prefix: never split
    with pytest.raises(ChvoiceError):
        Zoo(get_budget("smoke")).build_shard(VARIANTS, ["weighted"], 3, 2)


@pytest.mark.slow
def test_two_shards_on_one_machine_fill_one_cache(tmp_path, cache_dir):
    # reuse the built-in data the suite generates (a fresh cache would regenerate it in both shards at once)
    data = cache_dir / "bench" / "data"
    load_data(DataConfig(cache_dir=str(data)))
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "data").symlink_to(data, target_is_directory=True)
    env = {**os.environ, "CHVOICE_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-m", "chvoice_core.cli", "zoo", "--budget", "smoke", "--variants", ",".join(VARIANTS),
           "--profiles", "no-reverb", "--threads", "1", "--quiet", "--cache-dir", str(tmp_path)]
    procs = [subprocess.Popen(cmd + ["--shard", f"{i}/2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    built = [set(o["built"]) for o in outs]
    assert built[0] == {"normal@no-reverb", "normal-quant@no-reverb"} and built[1] == {"smaller@no-reverb"}
    zoo = Zoo(get_budget("smoke"), DataConfig(), cache_dir=tmp_path / "bench", progress=False)
    assert all(zoo._is_cached(v, "no-reverb") for v in VARIANTS)


def test_build_plan_builds_parents_once_then_the_costliest_jobs_first(tmp_path):
    zoo = Zoo(get_budget("quick"), DataConfig(), cache_dir=tmp_path, progress=False)
    variants = ["normal-int8", "normal-kd-int8", "normal-kd-prune-int8", "normal-prune", "smaller-quant"]
    missing = [(v, p) for p in ("weighted", "no-reverb") for v in variants]
    roots, jobs = zoo.build_plan(missing)
    assert sorted(roots) == [("no-reverb", ["normal"]), ("no-reverb", ["smaller"]),
                             ("weighted", ["normal"]), ("weighted", ["smaller"])]
    # distillation (200 steps at this budget) before the 30-step fine-tunes and the untrained steps
    assert [vs for _, vs in jobs[:2]] == [["normal-kd-int8", "normal-kd-prune-int8"]] * 2
    assert [vs for _, vs in jobs[2:4]] == [["normal-prune"]] * 2
    assert sorted((v, p) for p, vs in jobs for v in vs) == sorted(missing)     # each pair once
    for _, vs in jobs:        # a job's variants share their first compression step (its cached prefix)
        assert len({zoo.variant(v).prefix_ids()[1] for v in vs}) == 1
