"""Spreading the batch axis (seeds, grid points) of a vmapped run across devices.

A run of ``B`` seeds or grid points is ``jax.vmap(train)`` over a leading batch axis. This module
puts that axis on a one-dimensional :class:`jax.sharding.Mesh` named ``"batch"`` and lets XLA's
partitioner run each device's slice independently; no cross-device traffic happens during
training. ``B`` is padded up to a multiple of the device count by repeating the last element,
and the padding is cut off again afterwards.

On a CPU, XLA runs most kernels of a small program on one thread per device, so a vmapped batch
leaves the other cores idle. Exposing the host as one device per core, by setting
``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` before JAX starts (the scripts do
this), lets the batch spread over every core.

Several hosts: every process calls ``jax.distributed.initialize()`` first and then runs the same
program on the same (full) keys; ``jax.devices()`` lists every host's devices, each process feeds
its own devices' slices (:func:`shard_batch`) and :func:`gather` collects the outputs. Every
process must hold a slice of the mesh (:func:`select_devices` sees to it).

Usage::

    mesh = parallel.batch_mesh(parallel.select_devices("all"))
    run = parallel.sharded_vmap(make_train(config), mesh)
    state, metrics = run(keys)               # keys [B]; metrics leaves [B, ...]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def select_devices(spec: int | str | None) -> list[jax.Device]:
    """The devices to shard over: every device of every process for ``"all"`` / ``None``, or ``spec`` of them.

    The batch is padded to a multiple of the count (:func:`prepare`), so every device trains and
    each trains ``ceil(B / count)`` entries, the fewest any count allows. A count takes the first
    devices of ``jax.devices()``; in a multi-process run, where every process must hold a slice, it
    takes ``spec / P`` devices of each of the ``P`` processes, so it must be a multiple of ``P``.

    Args:
      spec: ``"all"``, ``None`` or a positive integer (or its decimal string).

    Raises:
      ValueError: naming ``devices`` when ``spec`` is not ``"all"`` or a positive integer, exceeds
        the devices there are, or does not split evenly over the processes.
    """
    available = jax.devices()
    if spec is None or spec == "all":
        return list(available)
    try:
        count = int(spec)
    except (TypeError, ValueError):
        count = 0
    if isinstance(spec, bool) or count < 1 or str(count) != str(spec).strip():
        raise ValueError(f"devices: must be 'all' or a positive integer, got {spec!r}")
    if count > len(available):
        raise ValueError(
            f"devices: asked for {count} but only {len(available)} {available[0].platform} device(s) exist"
        )
    owners = sorted({d.process_index for d in available})
    if len(owners) == 1:
        return list(available[:count])
    per_process, left = divmod(count, len(owners))
    if left:
        raise ValueError(
            f"devices: a run over {len(owners)} processes takes the same number of devices from each, "
            f"so give a multiple of {len(owners)} (or 'all'), got {count}"
        )
    local = {p: [d for d in available if d.process_index == p] for p in owners}
    fewest = min(owners, key=lambda p: len(local[p]))
    if per_process > len(local[fewest]):
        raise ValueError(
            f"devices: {count} over {len(owners)} processes is {per_process} per process, but process {fewest} "
            f"has only {len(local[fewest])}; give at most {len(owners) * len(local[fewest])} (or 'all')"
        )
    return [d for p in owners for d in local[p][:per_process]]


def device_kind(device: jax.Device) -> str:
    """The kind of ``device`` that decides float rounding: e.g. ``"NVIDIA H100 80GB HBM3"``, or for a CPU
    its model with family and model numbers, ``"AMD EPYC, family 26 model 2"`` (processor generations
    that share a marketing name can round the same program differently)."""
    if device.platform != "cpu":
        return device.device_kind
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in itertools.takewhile(str.strip, f):  # the first processor's block
                name, _, value = line.partition(":")
                info[name.strip()] = value.strip()
    except OSError:
        pass
    kind = info.get("model name") or device.device_kind
    if "cpu family" in info and "model" in info:
        kind += f", family {info['cpu family']} model {info['model']}"
    return kind


def batch_mesh(devices: Sequence[jax.Device]) -> Mesh:
    """A one-dimensional mesh over ``devices`` with the axis name ``"batch"``."""
    return Mesh(np.asarray(devices), (BATCH_AXIS,))


def padded_size(batch: int, num_devices: int) -> int:
    """The smallest multiple of ``num_devices`` that is at least ``batch``."""
    return -(-batch // num_devices) * num_devices


def pad_batch(tree: Any, size: int) -> Any:
    """Pads every leaf's leading axis to ``size`` by repeating its last element."""

    def pad(x):
        extra = size - x.shape[0]
        if extra < 0:
            raise ValueError(f"pad_batch: leading axis {x.shape[0]} exceeds {size}")
        return x if extra == 0 else jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
    """Places ``tree`` (leading axis a multiple of the mesh size) split along its leading axis.

    Every process passes the same full ``tree`` and contributes the slices its own devices hold,
    so this also builds global arrays when the mesh spans several hosts.
    """
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    return jax.tree.map(lambda x: jax.make_array_from_callback(x.shape, sharding, lambda index: x[index]), tree)


def gather(tree: Any) -> Any:
    """Makes sharded outputs fully addressable on every process (a no-op on a single host)."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):  # via its raw bits
            data = multihost_utils.process_allgather(jax.random.key_data(x), tiled=True)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return multihost_utils.process_allgather(x, tiled=True)

    return jax.tree.map(one, tree)


def sharded_vmap(fn: Callable[..., Any], mesh: Mesh) -> Callable[..., Any]:
    """``jit(vmap(fn))`` with the batch axis of every argument and output sharded over ``mesh``.

    The returned function takes batched arguments with one common leading size ``B`` (any ``B``:
    it pads to a multiple of the mesh size and strips the padding from the outputs). Its
    ``jitted`` attribute is the underlying program, which takes the *padded* arguments that
    :func:`prepare` builds (e.g. for ``jitted.lower(*prepare(args, mesh)).compile()``).
    """
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    jitted = jax.jit(jax.vmap(fn), in_shardings=sharding, out_shardings=sharding)

    def run(*args):
        batch = jax.tree.leaves(args)[0].shape[0]
        return unpad(gather(jitted(*prepare(args, mesh))), batch)

    run.jitted = jitted  # type: ignore[attr-defined]
    return run


def unpad(tree: Any, batch: int) -> Any:
    """Cuts every leaf's leading axis back to ``batch`` (the inverse of :func:`pad_batch`)."""
    return jax.tree.map(lambda x: x if x.shape[0] == batch else x[:batch], tree)


def prepare(args: tuple, mesh: Mesh) -> tuple:
    """Pads batched ``args`` to a multiple of the mesh size and shards them over it."""
    batch = jax.tree.leaves(args)[0].shape[0]
    return shard_batch(pad_batch(args, padded_size(batch, mesh.size)), mesh)
