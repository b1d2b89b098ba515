"""Thread limits for worker processes: every library with a thread pool (torch's OpenMP, numpy/scipy's
OpenBLAS) defaults to one thread per core in every process, so N workers on N cores oversubscribe the
machine. Measured here: scoring 100 utterances in 2 workers took 12.4 s with default pools, 2.5-3.8 s with one
thread each."""
from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def limit_threads(n: int) -> None:
    """Cap torch and the BLAS/OpenMP pools of this process at n threads."""
    torch.set_num_threads(n)
    threadpool_limits(n)


def one_thread_worker() -> None:
    """ProcessPoolExecutor initializer: one thread per worker process."""
    limit_threads(1)
