"""Helpers shared by the scripts: clean error exits and the device description."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import jax

T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    """Prints ``error: message`` to stderr and exits with ``code`` (no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def guarded(build: Callable[[], T]) -> T:
    """Runs ``build`` and turns a configuration ``ValueError`` into a one-line error exit."""
    try:
        return build()
    except ValueError as err:
        fail(str(err))
        raise  # unreachable


def device_name() -> str:
    """e.g. ``"cpu: 2 cores (AMD EPYC)"`` or ``"gpu: NVIDIA H100 80GB HBM3 x1"``."""
    devices = jax.devices()
    kind = devices[0].device_kind
    if devices[0].platform == "cpu":
        import os

        model = ""
        try:
            with open("/proc/cpuinfo") as f:
                model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
        except OSError:
            pass
        return f"cpu: {os.cpu_count()} cores ({model or kind})"
    return f"{devices[0].platform}: {kind} x{len(devices)}"
