"""The zoo's build scheduling: worker processes for a cold build, and shards for a cluster."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..budgets import Budget
from ..compress.recipes import Variant
from ..compress.steps import kind_of
from ..data import DataConfig, get_profile
from ..data.rooms import TEST_ROOM_SEED, TRAIN_ROOM_SEED
from ..errors import ChvoiceError
from ..parallel import one_thread_worker


class BuildScheduler:
    """Mixin of Zoo: prebuild (process pool), build plans, chains and shards."""

    def prebuild(self, variants: list[str], profiles: list[str], workers: int = 2,
                 log: "Callable[[str], None] | None" = print) -> None:
        """Build every (variant, profile) into the cache with `workers` processes of one torch thread each:
        small U-Nets use a second thread poorly, so two single-threaded builds finish sooner than two-threaded
        builds one after the other. First the simulated rooms of the profiles that use them (`general`: simulated
        in parallel once rather than by each build that needs them), then the parent architectures, then one job
        per (profile, first compression step), the costliest first by training steps: a chain's variants share
        their cached prefixes, and finer jobs keep both workers busy (the default run's zoo, cold, back to back on
        one 2-core VM: 565 s with one job per profile and parent, 502 s with these jobs; 924 s of builds in all)."""
        missing = [(v, p) for p in profiles for v in variants if not self._is_cached(v, p)]
        if not missing:
            return
        if workers <= 1:
            for v, p in missing:
                self.entry(v, p)
            return
        for p in sorted({p for _, p in missing}):
            if get_profile(p).p_room and not self.split_for(p).rirs:     # measured rooms are read, not simulated
                for seed in (TRAIN_ROOM_SEED, TEST_ROOM_SEED):
                    self.split_for(p).rooms(seed=seed, workers=workers)
        self._run_phases(self.build_plan(missing), workers, log)

    def build_plan(self, missing: list[tuple[str, str]]) -> list[list[tuple[str, list[str]]]]:
        """The (variant, profile) pairs to build as two phases of (profile, variants) jobs: the parent
        architectures (each once), then one job per (profile, first compression step), costliest first."""
        roots: dict[tuple[str, str], list[str]] = {}
        jobs: dict[tuple[str, str], list[str]] = {}
        for v, p in missing:
            keys = self.variant(v).prefix_ids()
            (roots if len(keys) == 1 else jobs).setdefault((p, keys[min(1, len(keys) - 1)]), []).append(v)
        for (p, _), vs in jobs.items():     # a chain's parent is built first, once, in the roots phase
            root = self._root_variant(vs[0])
            if root is not None and not self._is_cached(root, p):
                roots.setdefault((p, self.variant(root).prefix_ids()[0]), [root])
        order = sorted(jobs.items(), key=lambda kv: -self._build_cost(kv[1]))
        return [[(p, vs) for (p, _), vs in roots.items()], [(p, vs) for (p, _), vs in order]]

    def _root_variant(self, variant_id: str) -> str | None:
        """The variant that is `variant_id`'s parent architecture alone, if the table has one."""
        var = self.variant(variant_id)
        try:
            root = self.variant(var.arch)
        except ChvoiceError:
            return None
        return root.id if var.teacher is None and not root.steps else None

    def _build_cost(self, variants: list[str]) -> int:
        """Optimiser steps a job runs (each shared prefix once), plus one per model: the schedule's weight."""
        cost: dict[str, int] = {}
        for v in variants:
            var = self.variant(v)
            for key, step in zip(var.prefix_ids()[1:], var.steps):
                cost[key] = kind_of(step).train_steps(self.budget) + 1
        return sum(cost.values())

    def _run_phases(self, phases: list[list[tuple[str, list[str]]]], workers: int,
                    log: "Callable[[str], None] | None") -> None:
        """Run the (profile, variants) jobs of each phase in one pool of worker processes, a phase after the
        previous one has finished; a single job in all builds in this process."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        jobs = [job for phase in phases for job in phase]
        if len(jobs) == 1:
            p, vs = jobs[0]
            for v in vs:
                self.entry(v, p)
            return
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                                 initializer=one_thread_worker) as pool:
            for phase in phases:
                futures = [pool.submit(_build_job, type(self), self.budget, self.data, str(self.cache_dir), self.device,
                                       self.seed, self.test_seconds, p, vs, self.extra_variants) for p, vs in phase]
                for f in as_completed(futures):
                    for line in f.result():
                        if log:
                            log(line)

    def chains(self, variants: list[str], profiles: list[str]) -> list[tuple[str, str, list[str]]]:
        """The zoo's independent build jobs, in a fixed order: (profile, parent, variants). Variants of one
        chain share cached prefixes, so a chain is never split between machines."""
        jobs: dict[tuple[str, str], list[str]] = {}
        for p in profiles:
            for v in variants:
                jobs.setdefault((p, self.variant(v).prefix_ids()[0]), []).append(v)
        return [(p, a, vs) for (p, a), vs in sorted(jobs.items())]

    def build_shard(self, variants: list[str], profiles: list[str], index: int, count: int,
                    log: "Callable[[str], None] | None" = print) -> list[tuple[str, str]]:
        """Build shard `index` of `count` (1-based) of the zoo into the shared cache: chains j with
        j % count == index - 1. Every shard of a Slurm array / Kubernetes indexed Job / torchrun group runs this
        with its own index against one cache folder; entries are written atomically and stamped, so the
        benchmark run afterwards finds them all. Returns the (variant, profile) pairs of this shard."""
        if not (count >= 1 and 1 <= index <= count):
            raise ChvoiceError(f"shard {index}/{count}: need 1 <= i <= n")
        done = []
        for j, (p, _, vs) in enumerate(self.chains(variants, profiles)):
            if j % count != index - 1:
                continue
            for v in vs:
                t0 = time.perf_counter()
                cached = self.entry(v, p).path not in self._built
                done.append((v, p))
                if log:
                    log(f"zoo shard {index}/{count}: {v} for {p} "
                        f"{'cached' if cached else f'built in {time.perf_counter() - t0:.0f} s'}")
        return done


def _build_job(zoo_class: type, budget: Budget, data: DataConfig, cache_dir: str, device: str, seed: int,
               test_seconds: float, profile: str, variants: list[str], extra: tuple[Variant, ...] = ()) -> list[str]:
    """Worker process (one thread, see parallel.one_thread_worker): build a chain of variants for one profile with
    a zoo of the scheduling zoo's class (passed in: this module sits under zoo.core)."""
    zoo = zoo_class(budget, data, cache_dir=Path(cache_dir), device=device, seed=seed, progress=False, build_threads=1,
              test_seconds=test_seconds, extra_variants=tuple(extra))
    lines = []
    for v in variants:
        t0 = time.perf_counter()
        zoo.entry(v, profile)
        lines.append(f"zoo: built {v} for {profile} in {time.perf_counter() - t0:.0f} s")
    return lines
