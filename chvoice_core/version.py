"""The code version that stamps every cache (zoo models, full-scale twins, scores)."""

CODE_VERSION = "2026.11.7"   # bump when training, data, compression or enhancement changes invalidate caches
