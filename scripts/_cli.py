"""Helpers shared by the scripts: clean error exits and the device description."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

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


def train_sharded(config, args: tuple, mesh, show_progress: bool, desc: str) -> tuple[Any, float, float]:
    """Compiles and runs ``make_train(config)`` vmapped over ``args`` (keys [, hparams]) on ``mesh``.

    Returns:
      ``(metrics with leading axis B, compile_seconds, run_seconds)``; padding is removed.
    """
    import time

    from pn_jax import make_train, parallel
    from pn_jax.progress import EvalProgress

    batch = jax.tree.leaves(args)[0].shape[0]
    padded = parallel.prepare(args, mesh)
    progress = EvalProgress(config.total_steps, padded[0].shape[0], desc=desc, disable=not show_progress)
    program = parallel.sharded_vmap(make_train(config, progress_fn=progress), mesh)
    start = time.perf_counter()
    compiled = program.jitted.lower(*padded).compile()
    compile_seconds = time.perf_counter() - start
    progress.start()
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(*padded))
    metrics = parallel.gather(metrics)
    run_seconds = time.perf_counter() - start
    progress.close()
    return jax.tree.map(lambda x: x[:batch], metrics), compile_seconds, run_seconds


def seed_keys(seeds: list[int]) -> jax.Array:
    """One PRNG key per seed: ``jax.random.key(seed)``, stacked ``[S]``."""
    return jax.vmap(jax.random.key)(jax.numpy.asarray(seeds, dtype=jax.numpy.uint32))


def device_name(count: int | None = None) -> str:
    """e.g. ``"cpu: 2 cores (AMD EPYC)"`` or ``"gpu: NVIDIA H100 80GB HBM3 x1"`` (``count`` devices used)."""
    devices = jax.devices()[:count] if count else jax.devices()
    kind = devices[0].device_kind
    if devices[0].platform == "cpu":
        import os

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
