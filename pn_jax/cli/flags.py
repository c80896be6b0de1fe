"""Flags that several commands share, declared once: each command's flag dataclass inherits them
(redeclaring a field only to change its default, e.g. ``out``), and tyro reads the help from the
docstrings here. This module imports no JAX, so a command can build its parser without starting it."""

from __future__ import annotations

import dataclasses
import os


def default_cache_dir() -> str:
    """``$JAX_COMPILATION_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/pn_jax/xla`` (``~/.cache/pn_jax/xla``)."""
    if path := os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return path
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pn_jax", "xla")


@dataclasses.dataclass(frozen=True)
class Devices:
    """The devices a command runs its programs on."""

    devices: str = "all"
    """devices to spread the seeds (and grid points) over: 'all' or a count."""


@dataclasses.dataclass(frozen=True)
class Output(Devices):
    """Where a command writes, on which devices it trains, and how it reports while training."""

    out: str = "runs"
    """output folder (one that already holds results is refused, unless --overwrite)."""
    progress: bool = True
    """show a progress bar for each compiled program while it trains."""
    overwrite: bool = False
    """write into an --out that already holds results, replacing files of the same name."""
    compilation_cache: str = default_cache_dir()
    """folder of JAX's persistent compilation cache: a rerun of a program compiled before loads it instead
    of compiling (off: no cache)."""


@dataclasses.dataclass(frozen=True)
class ReportOutput(Output):
    """:class:`Output` for a command that can also redraw its report from the runs already in --out."""

    report_only: bool = False
    """train nothing: redraw the tables and figures from the metrics.json files already in --out (an --out
    holding results is read, not refused)."""
