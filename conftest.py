"""Shared pytest options for the test suite and the benchmark suite."""
from __future__ import annotations


def pytest_addoption(parser):
    g = parser.getgroup("chvoice")
    g.addoption("--device", default="cpu", help="cpu | cuda (cuda skips with a reason when absent)")
    g.addoption("--budget", default="quick", help="training budget for the model zoo: smoke | quick | paper")
    g.addoption("--data-root", default=None, help="LibriSpeech / ESC-50 root; built-in data when omitted")
    g.addoption("--threads", type=int, default=1, help="torch threads for timed calls (default 1)")
    g.addoption("--profiles", default=None, help="comma-separated noise profiles (default: all)")
    g.addoption("--variants", default=None, help="comma-separated variant ids of the proxy track, or `all` (default: the report's "
                                                "Table 2 rows and normal-int8)")
    g.addoption("--tracks", default="real,proxy",
                help="benchmark tracks: real (the shipped models on the repo's real recordings), proxy (the "
                     "report's table on budget-scale models and synthetic mixtures); default both")
    g.addoption("--real-dnsmos", default="parents", choices=("parents", "trained", "all"),
                help="real track: score DNSMOS (about 1 s an item on one core: short items are repeated to its 9 s "
                     "window, 7 windows for a 4 s item) for the parents, RNNoise, DeepFilterNet3 and the noisy input "
                     "(parents, default), also for the shipped children and the other peers (trained), or for every "
                     "row (all)")
    g.addoption("--proxy-peers", action="store_true",
                help="proxy track: also run the peer denoisers on the synthetic mixtures (the real track always runs "
                     "them, on real recordings)")
    g.addoption("--recipes", default=None, help="TOML file of user recipes ([[recipe]] name, steps, arch or "
                                                "teacher) to benchmark beside the variant table")
