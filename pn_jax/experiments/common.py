"""What every experiment shares: seed keys, one compiled program over a batch of seeds sharded
across devices, the metrics.json record of its outputs, log lines, and blank figures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from pn_jax import parallel

Log = Callable[[str], None] | None
"""Where an experiment sends its progress lines (e.g. ``print``); None: nowhere."""


def say(log: Log, line: str) -> None:
    """Sends ``line`` to ``log`` unless it is None."""
    if log is not None:
        log(line)


def seed_list(seed: int, num_seeds: int) -> list[int]:
    """``[seed, seed + 1, …]``: the seeds of a run of ``num_seeds``."""
    return list(range(seed, seed + num_seeds))


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per seed: ``jax.random.key(seed)``, stacked ``[S]``."""
    return jax.vmap(jax.random.key)(jax.numpy.asarray(seeds, dtype=jax.numpy.uint32))


def mesh_of(devices: str | int = "all") -> jax.sharding.Mesh:
    """The batch mesh over ``devices`` (``"all"`` or a count; see :func:`pn_jax.parallel.select_devices`)."""
    return parallel.batch_mesh(parallel.select_devices(devices))


def device_name(count: int | None = None) -> str:
    """e.g. ``"cpu: 2 cores (AMD EPYC, family 26 model 2)"`` or ``"gpu: NVIDIA H100 80GB HBM3 x1"``
    (``count`` devices used); a CPU is named by :func:`pn_jax.parallel.device_kind`."""
    devices = jax.devices()[:count] if count else jax.devices()
    kind = parallel.device_kind(devices[0])
    if devices[0].platform == "cpu":
        suffix = f", {len(devices)} XLA devices" if len(devices) > 1 else ""
        name = f"cpu: {os.cpu_count()} cores ({kind}){suffix}"
    else:
        name = f"{devices[0].platform}: {kind} x{len(devices)}"
    return name + (f" in {jax.process_count()} processes" if jax.process_count() > 1 else "")


def compile_sharded(config, args: tuple, mesh, progress_fn=None, build=None) -> tuple[Any, tuple, float]:
    """Compiles ``make_train(config)`` vmapped over ``args`` (keys [, hparams]) and sharded on ``mesh``.

    ``build(config, progress_fn) -> fn`` replaces ``make_train`` to compile a per-seed function
    that also does other work; ``fn`` must return ``(state, outputs)`` like ``train``.

    Returns:
      ``(compiled program, its padded and sharded arguments, compile_seconds)``.
    """
    from pn_jax import make_train

    padded = parallel.prepare(args, mesh)
    program = parallel.sharded_vmap((build or make_train)(config, progress_fn=progress_fn), mesh)
    start = time.perf_counter()
    compiled = program.jitted.lower(*padded).compile()
    return compiled, padded, time.perf_counter() - start


def train_sharded(config, args: tuple, mesh, show_progress: bool, desc: str, build=None) -> tuple[Any, float, float]:
    """Compiles and runs ``make_train(config)`` vmapped over ``args`` (keys [, hparams]) on ``mesh``.

    Returns:
      ``(metrics with leading axis B, compile_seconds, run_seconds)``; padding is removed. With
      ``build`` (see :func:`compile_sharded`), its function's ``outputs`` take the place of metrics.
    """
    from pn_jax.progress import EvalProgress

    batch = jax.tree.leaves(args)[0].shape[0]
    padded_batch = parallel.padded_size(batch, mesh.size)
    progress = EvalProgress(config.total_steps, padded_batch, desc=desc, disable=not show_progress)
    # A host callback keeps a program out of JAX's persistent compilation cache: none without a bar.
    compiled, padded, compile_seconds = compile_sharded(config, args, mesh, progress if show_progress else None, build)
    progress.start()
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(*padded))
    metrics = parallel.gather(metrics)
    run_seconds = time.perf_counter() - start
    progress.close()
    return parallel.unpad(metrics, batch), compile_seconds, run_seconds


def run_record(config, metrics, seeds: list[int], mesh, compile_seconds: float, run_seconds: float) -> dict:
    """The ``metrics.json`` record of ``metrics`` (leading axis: seeds) trained on ``mesh``."""
    from pn_jax.results import metrics_dict

    return metrics_dict(
        config,
        metrics,
        seeds,
        jax_version=jax.__version__,
        device=device_name(mesh.size),
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
    )


def train_record(config, seeds: list[int], mesh, progress: bool, desc: str, build) -> tuple[dict, tuple]:
    """Trains ``seeds`` with ``build``'s per-seed function (see :func:`compile_sharded`), whose outputs
    are ``(metrics, *others)``: the metrics.json record of the metrics, and the others (leading axis: seeds)."""
    (metrics, *others), compile_seconds, run_seconds = train_sharded(
        config, (seed_keys(seeds),), mesh, progress, desc, build=build
    )
    return run_record(config, metrics, seeds, mesh, compile_seconds, run_seconds), tuple(others)


def figure(nrows: int = 1, ncols: int = 1, **kwargs) -> tuple[Any, Any]:
    """``(Figure, axes)``: a matplotlib figure outside pyplot (no backend is chosen, nothing global
    holds it; a notebook shows it, ``fig.savefig`` writes it). ``kwargs`` go to ``Figure`` (figsize,
    dpi) except ``squeeze`` and ``sharey``, which go to ``subplots``."""
    from matplotlib.figure import Figure

    layout = {name: kwargs.pop(name) for name in ("squeeze", "sharey") if name in kwargs}
    fig = Figure(**kwargs)
    return fig, fig.subplots(nrows, ncols, **layout)


def nan_rows(values: list) -> np.ndarray:
    """JSON rows (``None`` for missing) as a float array with NaNs."""
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64)
