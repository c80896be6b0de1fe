"""Helpers shared by the scripts: clean error exits, the device description, the sharded run.

Importing this module exposes a CPU host as one XLA device per core (before JAX starts), so
``--devices all`` spreads seeds over every core; see :func:`use_cpu_cores`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

_HOST_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def use_cpu_cores(count: int | None = None) -> bool:
    """Exposes the host CPU as ``count`` XLA devices (default: one per core), if still possible.

    XLA runs most kernels of a small program on one thread per device, so a vmapped batch of
    seeds leaves the other cores idle; sharding it over one device per core uses them all. This
    must run before JAX initialises its backends (importing gymnax does that), and does nothing
    if ``XLA_FLAGS`` already sets a host device count. Accelerators are unaffected:
    ``jax.devices()`` still lists the GPU or TPU when there is one.

    Returns:
      True if this call set the flag.
    """
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if _HOST_DEVICE_FLAG in flags or xla_bridge.backends_are_initialized():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {_HOST_DEVICE_FLAG}={count or os.cpu_count() or 1}".strip()
    return True


use_cpu_cores()

import jax  # noqa: E402

from pn_jax import parallel  # noqa: E402

T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    """Prints ``error: message`` to stderr and exits with ``code`` (no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def claim_output_folder(out: str, overwrite: bool, *, sweep: bool = False, resumable: bool = False) -> None:
    """Refuses an ``--out`` that already holds results, unless ``overwrite``.

    A single run (``scripts/train.py``) looks at ``out`` itself; with ``overwrite`` its metrics
    files and checkpoints are deleted first, so a stale checkpoint can never be resumed. A sweep
    (ablate, reproduce, chain) also looks at the run folders up to two levels below ``out``; with
    ``overwrite`` its files are replaced as they are written and nothing is deleted.
    """
    from pn_jax.results import clear_run, runs_in

    found = runs_in(out, depth=2 if sweep else 0)
    if found and not overwrite:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        resume = f"continue it with --resume {out}, " if resumable else ""
        fail(
            f"out: {out} already holds results ({shown}); "
            f"{resume}pass --overwrite True to replace them, or choose another --out"
        )
    if found and not sweep:
        clear_run(out)


def guarded(build: Callable[[], T]) -> T:
    """Runs ``build`` and turns a configuration ``ValueError`` into a one-line error exit."""
    try:
        return build()
    except ValueError as err:
        fail(str(err))
        raise  # unreachable


def compile_sharded(config, args: tuple, mesh, progress_fn=None, build=None) -> tuple[Any, tuple, float]:
    """Compiles ``make_train(config)`` vmapped over ``args`` (keys [, hparams]) and sharded on ``mesh``.

    ``build(config, progress_fn) -> fn`` replaces ``make_train`` to compile a per-seed function
    that also does other work; ``fn`` must return ``(state, outputs)`` like ``train``.

    Returns:
      ``(compiled program, its padded and sharded arguments, compile_seconds)``.
    """
    import time

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
    import time

    from pn_jax.progress import EvalProgress

    batch = jax.tree.leaves(args)[0].shape[0]
    padded_batch = parallel.padded_size(batch, mesh.size)
    progress = EvalProgress(config.total_steps, padded_batch, desc=desc, disable=not show_progress)
    compiled, padded, compile_seconds = compile_sharded(config, args, mesh, progress, build)
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


def seed_keys(seeds: list[int]) -> jax.Array:
    """One PRNG key per seed: ``jax.random.key(seed)``, stacked ``[S]``."""
    return jax.vmap(jax.random.key)(jax.numpy.asarray(seeds, dtype=jax.numpy.uint32))


def device_name(count: int | None = None) -> str:
    """e.g. ``"cpu: 2 cores (AMD EPYC)"`` or ``"gpu: NVIDIA H100 80GB HBM3 x1"`` (``count`` devices used)."""
    devices = jax.devices()[:count] if count else jax.devices()
    kind = devices[0].device_kind
    if devices[0].platform == "cpu":
        model = ""
        try:
            with open("/proc/cpuinfo") as f:
                model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
        except OSError:
            pass
        suffix = f", {len(devices)} XLA devices" if len(devices) > 1 else ""
        return f"cpu: {os.cpu_count()} cores ({model or kind}){suffix}"
    return f"{devices[0].platform}: {kind} x{len(devices)}"


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings (the string literal under each field) of a dataclass's source."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = after.value.value.strip()
    return docs
