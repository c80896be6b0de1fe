"""Resumable, guarded training of many seeds: one compiled evaluation chunk, called repeatedly.

:func:`run` trains ``jax.vmap`` over seeds (sharded over a device mesh) one evaluation chunk at a
time with the same compiled program, so it can

- save a :mod:`~pn_jax.checkpoint` every ``checkpoint_every`` env steps between chunks, without
  recompiling, and continue from one with numbers identical to an uninterrupted run;
- stop at the first evaluation after a loss, parameter or σ went non-finite, naming the quantity,
  the env step and the seed; the last checkpoint written before it stays the latest.

The chunking never changes the numbers: any ``checkpoint_every``, or a resume on the same batch
per device and software, gives the same bits. (A single fused ``jax.jit(jax.vmap(make_train(config)))``
is another XLA program and agrees with it only up to float rounding, like vmapped seed k and the
lone run with key k.)

Usage::

    result = runner.run(config, seed_keys, checkpoint_dir="runs/x/checkpoints", checkpoint_every=5000)
    result = runner.run(config, seed_keys, checkpoint_dir="runs/x/checkpoints", checkpoint_every=5000,
                        resume=True)
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from pn_jax import checkpoint, parallel
from pn_jax.config import DDPGConfig, DQNConfig
from pn_jax.results import nonfinite_message
from pn_jax.train import ChunkLog, Metrics, make_trainer


class RunResult(NamedTuple):
    """What :func:`run` trained (host numpy arrays, leading axis ``[B]`` seeds)."""

    metrics: Metrics  # of every chunk trained, including the one that went non-finite
    steps: int  # env steps trained per seed
    compile_seconds: float  # this call's compiles
    run_seconds: float  # training time of every call that contributed (resumes included)
    nonfinite: str | None  # e.g. "the learner's loss became non-finite at env step 1200 (seed 3)"
    checkpoint: str | None  # the latest checkpoint: written by this call, or the one resumed from


def validate_checkpoint_every(checkpoint_every: int, config: DDPGConfig | DQNConfig) -> None:
    """Raises ``ValueError`` naming ``checkpoint_every`` unless it is 0 (off) or a multiple of ``eval_every``."""
    ok = isinstance(checkpoint_every, int) and not isinstance(checkpoint_every, bool) and checkpoint_every >= 0
    if not ok or checkpoint_every % config.eval_every:
        raise ValueError(
            f"checkpoint_every: must be 0 (off) or a positive multiple of eval_every ({config.eval_every}), "
            f"got {checkpoint_every!r}"
        )


def run(
    config: DDPGConfig | DQNConfig,
    keys: jax.Array,
    *,
    mesh: Mesh | None = None,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    meta: dict | None = None,
    seeds: Sequence[int] | None = None,
    progress_fn: Callable | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunResult:
    """Trains ``config`` for every key in ``keys [B]``, one evaluation chunk per call of one program.

    Args:
      config: the run's configuration.
      keys: ``[B]`` PRNG keys, one per seed.
      mesh: devices to shard the seeds over (default: the first device).
      checkpoint_dir: where checkpoints go (``DIR/<env step>``); needed for ``checkpoint_every`` / ``resume``.
      checkpoint_every: env steps between checkpoints, a multiple of ``eval_every``; 0 saves none. A
        run that saves any also saves one at its end.
      resume: continue from the latest checkpoint in ``checkpoint_dir``, which must have been written
        by a run of the same ``config`` (every field) and ``keys`` (see :func:`pn_jax.checkpoint.restore`);
        on another batch per device or another pn_jax / jax version it continues after one
        :class:`pn_jax.checkpoint.ResumeWarning` (the numbers are then not bit-identical).
      meta: JSON description stored with every checkpoint (e.g. the config and seeds).
      seeds: the seed of each key, for messages (default ``0 … B-1``).
      progress_fn: called on the host after each chunk with ``(env_step, eval_return)`` once per seed
        (as :func:`pn_jax.make_train`'s ``progress_fn``, but outside the program: a program with a
        host callback is never written to JAX's persistent compilation cache).
      on_start: called with the env step training starts from, after compiling.

    Raises:
      ValueError: a bad ``checkpoint_every``, missing ``checkpoint_dir``, or ``seeds`` not one per key.
      pn_jax.checkpoint.CheckpointError: ``resume`` with no usable checkpoint, or with one written
        by a run with another config or other keys.
    """
    validate_checkpoint_every(checkpoint_every, config)
    seeds = list(range(keys.shape[0])) if seeds is None else list(seeds)
    if (checkpoint_every or resume) and not checkpoint_dir:
        raise ValueError("checkpoint_dir: needed to save (checkpoint_every > 0) or resume checkpoints")
    identity = checkpoint.run_identity(config, keys, seeds=seeds) if checkpoint_every or resume else None
    mesh = mesh or parallel.batch_mesh(jax.devices()[:1])
    batch = keys.shape[0]
    setup = checkpoint.run_setup(mesh.devices.flat, batch)
    trainer = make_trainer(config)
    batch_sharding = NamedSharding(mesh, PartitionSpec(parallel.BATCH_AXIS))
    advance = jax.jit(
        jax.vmap(functools.partial(trainer.advance, num_chunks=1), in_axes=(0, None)),
        in_shardings=(batch_sharding, NamedSharding(mesh, PartitionSpec())),
        out_shardings=batch_sharding,
    )
    padded_keys = parallel.prepare((keys,), mesh)[0]
    state_like = jax.eval_shape(jax.vmap(trainer.init), keys)

    init_seconds = 0.0
    if resume:
        saved = checkpoint.restore(checkpoint_dir, state_like, identity=identity, setup=setup)
        if saved.chunk > trainer.num_chunks or saved.step != saved.chunk * trainer.chunk_steps:
            raise checkpoint.CheckpointError(
                f"the checkpoint at step {saved.step} ({saved.chunk} chunks) does not fit this run "
                f"({trainer.num_chunks} chunks of {trainer.chunk_steps} steps)"
            )
        state = parallel.prepare((saved.state,), mesh)[0]
        chunk, logs, prior_seconds = saved.chunk, [saved.log], _seconds(saved.meta.get("run_seconds"))
        latest = os.path.join(checkpoint_dir, str(saved.step))
    else:
        init_start = time.perf_counter()
        state = jax.block_until_ready(parallel.sharded_vmap(trainer.init, mesh).jitted(padded_keys))
        chunk, logs, prior_seconds, latest = 0, [], 0.0, None
        init_seconds = time.perf_counter() - init_start  # almost all of it compiling
    compile_start = time.perf_counter() - init_seconds
    program = advance.lower(state, jnp.int32(0)).compile() if chunk < trainer.num_chunks else None
    compile_seconds = time.perf_counter() - compile_start
    if on_start is not None:
        on_start(chunk * trainer.chunk_steps)

    chunks_per_checkpoint = checkpoint_every // config.eval_every if checkpoint_every else 0
    nonfinite = None
    start = time.perf_counter()
    while chunk < trainer.num_chunks and nonfinite is None:
        state, log = program(state, jnp.int32(chunk))
        chunk += 1
        logs.append(_host(log, batch))
        if progress_fn is not None:
            for seed_return in logs[-1].eval_return[:, -1]:
                progress_fn(logs[-1].eval_step[0, -1], seed_return)
        nonfinite = nonfinite_message(_host(state.nonfinite, batch), seeds)
        due = chunks_per_checkpoint and (chunk % chunks_per_checkpoint == 0 or chunk == trainer.num_chunks)
        if due and nonfinite is None:
            elapsed = prior_seconds + time.perf_counter() - start
            saved = checkpoint.Checkpoint(
                chunk * trainer.chunk_steps,
                chunk,
                _host(state, batch),
                _concat(logs),
                {**(meta or {}), "run_seconds": elapsed},
                identity,
                setup,
            )
            if jax.process_index() == 0:  # several hosts: one writer (the state is gathered on all)
                checkpoint.save(checkpoint_dir, saved)
            latest, logs = os.path.join(checkpoint_dir, str(saved.step)), [saved.log]
    jax.block_until_ready(state)
    run_seconds = prior_seconds + time.perf_counter() - start

    final_state = _host(state, batch)
    metrics = jax.tree.map(np.asarray, jax.vmap(trainer.finish)(final_state, _concat(logs)))
    return RunResult(metrics, chunk * trainer.chunk_steps, compile_seconds, run_seconds, nonfinite, latest)


def _seconds(value: Any) -> float:
    """A stored duration, or 0 if it is missing or not a non-negative number."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")
    return float(value) if ok else 0.0


def _host(tree: Any, batch: int) -> Any:
    """``tree`` as host numpy arrays (PRNG keys stay key arrays) with the seed padding cut off."""
    return parallel.unpad(jax.device_get(parallel.gather(tree)), batch)


def _concat(logs: list[ChunkLog]) -> ChunkLog:
    """Logs of consecutive chunks joined along the chunk axis (``[B, C, ...]``)."""
    return jax.tree.map(lambda *parts: np.concatenate(parts, axis=1), *logs)
