"""The `chvoice` command: train, denoise, evaluate, live, compress, zoo, serve (one module a group)."""
from .common import check_device, plan_outputs
from .parser import build_parser, main

__all__ = ["build_parser", "check_device", "main", "plan_outputs"]
