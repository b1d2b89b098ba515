"""chvoice: the public API of the chvoice toolkit (the `chvoice_core` package underneath).

    import chvoice as cv
    d = cv.load()                                   # the shipped default denoiser (or "live", a child, a path)
    y = d.enhance(x, sr)                            # any length, any rate
    s = cv.load("live").stream()                    # a streaming session: s.process(block), s.flush()
    cv.compress("default", "distil(width=16)+int8", out="small.pt", data_root="../shared/data")
    scores = cv.evaluate(d, "noisy/", "clean/")     # per-file PESQ-WB, STOI, SI-SDR, DNSMOS, pause energies
"""
from chvoice_core import __version__
from chvoice_core.api import compress, evaluate, load, model_path
from chvoice_core.enhance import Denoiser

__all__ = ["Denoiser", "compress", "evaluate", "load", "model_path", "__version__"]
