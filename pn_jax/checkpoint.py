"""Saving and restoring a batched training run with orbax: its whole state and its logs so far.

A checkpoint holds everything a run needs to continue exactly where it stopped: the learner's
parameters, optimiser state and target networks, the exploration state (σ, perturbed parameters,
OU noise), the replay buffer, the env states, the RNG keys and counters (all in the
:class:`~pn_jax.train.TrainState`, leading axis ``[B]`` seeds), and the :class:`~pn_jax.train.ChunkLog`
of every evaluation chunk trained so far (``[B, C, ...]``). Layout, one orbax
``CheckpointManager`` step per checkpoint::

    DIR/<env step>/arrays/          every non-empty leaf (orbax StandardSave, tensorstore OCDBT)
    DIR/<env step>/meta/metadata    JSON: the caller's description of the run, the run's identity
                                    (below), each leaf's path, shape, dtype and BLAKE2 digest, and
                                    a digest of its own content

orbax's ``CheckpointManager`` does the bookkeeping: it writes a step into a temporary folder and
renames it when complete (so a crash mid-save leaves the previous checkpoint as the latest), keeps
the newest ``keep``, lists the steps, and clears unfinished saves. What it does not do is verify
what it reads back: a flipped byte in an array file restores silently as a different number (a
truncated file does raise). So every leaf's digest is recorded with the checkpoint, and
:func:`restore` compares the arrays it read, and every leaf's shape and dtype against the state the
run expects: a truncated, altered or foreign checkpoint is a :class:`CheckpointError`, never a
silently different run.

Identity. Arrays of the right shapes do not make a checkpoint the resuming run's own: another
exploration strategy, learning rate, δ or evaluation schedule, or other seeds, give the same
shapes. So every checkpoint records :func:`run_identity` of the run that wrote it: the config's
class and every field, the hyper-parameters if the run was given them explicitly (a grid), a
digest of those, and the PRNG keys its seeds started from (with their seed numbers, for
messages). :func:`restore` refuses a checkpoint whose config digest or keys differ from the
resuming run's, naming the fields (or seeds) that differ; the seed numbers themselves are labels
and may differ where the keys agree.

Setup. The same config and keys give the same bits only on the same batch per device (the
per-device program XLA compiles; the device count matters only through it), the same kind of
device, and the same pn_jax and jax. Every checkpoint records :func:`run_setup` of the run that
wrote it; :func:`restore` given the resuming run's setup continues on another one but warns, once,
with a :class:`ResumeWarning` naming what differs: the continuation is not bit-identical to an
uninterrupted run (it agrees only up to float rounding, which training amplifies). It warns
rather than refuses, as orbax-based trainers do: orbax restores onto whatever sharding the resuming
run asks for, another device count included. A checkpoint of format 3 from before setups were
recorded resumes with that warning too.

Older checkpoints (``DIR/<step>/meta.json`` beside ``arrays/``: formats 1, without an identity,
and 2) are refused with an error saying so: resume them with the version that wrote them.

Usage::

    identity, setup = checkpoint.run_identity(config, keys), checkpoint.run_setup(mesh.devices.flat, len(keys))
    path = checkpoint.save(directory, Checkpoint(step, chunk, host_state, host_log, {"note": "x"}, identity, setup))
    like = jax.eval_shape(jax.vmap(trainer.init), keys)
    ckpt = checkpoint.restore(directory, like, identity=identity, setup=setup)  # may warn: ResumeWarning
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import sys
import typing
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from pn_jax import parallel

FORMAT_VERSION = 3  # 3: orbax CheckpointManager steps, leaf digests; 2: meta.json + file digests; 1: no identity
ITEMS = ("arrays", "meta")  # the orbax items of a checkpoint step
_META = ("meta", "metadata")  # the JSON item's file inside a step folder


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, corrupt, or does not belong to the run restoring it."""


class ResumeWarning(UserWarning):
    """A checkpoint resumes on another setup (batch per device, device kind, pn_jax or jax version)
    than the one that wrote it, or one it does not record: the continuation is not bit-identical."""


class Checkpoint(NamedTuple):
    """One saved point of a run (host numpy arrays, seeds on the leading axis)."""

    step: int  # env steps trained per seed
    chunk: int  # evaluation chunks trained
    state: Any  # TrainState, leaves [B, ...]
    log: Any  # ChunkLog of chunks 0 … chunk-1, leaves [B, chunk, ...]
    meta: dict  # the caller's JSON-serialisable description of the run
    identity: dict | None = None  # run_identity(...) of the run that wrote it (needed to save)
    setup: dict | None = None  # run_setup(...) of the run that wrote it (None: not recorded)


def run_identity(config: Any, keys: jax.Array, hparams: Any = None, seeds: Sequence[int] | None = None) -> dict:
    """What a checkpoint records of the run that wrote it, and :func:`restore` compares with the run resuming it.

    Args:
      config: the run's config dataclass (:class:`~pn_jax.DDPGConfig` or :class:`~pn_jax.DQNConfig`).
      keys: ``[B]`` PRNG keys the seeds start from (typed keys, or raw ``uint32`` key data).
      hparams: the hyper-parameters the run was given explicitly (e.g. a grid, leaves ``[B]``);
        ``None`` when it trains ``config.hparams()``. Explicit ones are recorded as given, so a run
        given ``config.hparams()`` explicitly does not resume one that was given none.
      seeds: the seed number of each key, for messages only (default ``0 … B-1``).

    Returns:
      A JSON-ready dict: ``config_class``, ``config`` (every field), ``hparams`` (``None`` or
      ``{name: values}``), ``config_digest`` (BLAKE2 of those three), ``keys`` (``impl`` and the
      key data of each seed) and ``seeds``.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config: expected a config dataclass instance, got {type(config).__name__}")
    data = np.asarray(jax.random.key_data(keys))
    if data.ndim < 2:
        raise ValueError(f"keys: expected one PRNG key per seed ([B] keys), got key data of shape {list(data.shape)}")
    batch = data.shape[0]
    seeds = list(range(batch)) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != batch:
        raise ValueError(f"seeds: {len(seeds)} seed numbers for {batch} keys")
    hints = typing.get_type_hints(type(config))
    fields = {f.name: _canonical(getattr(config, f.name), hints.get(f.name)) for f in dataclasses.fields(config)}
    explicit = None
    if hparams is not None:
        explicit = {
            jax.tree_util.keystr(path).lstrip("."): _floats(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(hparams)[0]
        }
    described = {"config_class": type(config).__name__, "config": fields, "hparams": explicit}
    return {
        **described,
        "config_digest": _digest(described),
        "keys": {"impl": str(jax.random.key_impl(keys)), "data": data.reshape(batch, -1).tolist()},
        "seeds": seeds,
    }


def run_setup(devices: Sequence[jax.Device], batch: int) -> dict:
    """What a checkpoint records of where it was trained, and :func:`restore` compares (warning only).

    Args:
      devices: the devices the batch is sharded over (e.g. ``mesh.devices.flat``).
      batch: ``B``, the seeds (or grid points × seeds) trained together, before padding.

    Returns:
      A JSON-ready dict: ``devices`` (count), ``batch_per_device`` (``ceil(B / devices)``, padding
      included: what decides the float rounding), ``device_kind`` (:func:`pn_jax.parallel.device_kind`),
      ``pn_jax`` and ``jax`` (versions).
    """
    devices = list(devices)
    if not devices or batch < 1:
        raise ValueError(f"run_setup: needs at least one device and one seed, got {len(devices)} and {batch}")
    return {
        "devices": len(devices),
        "batch_per_device": -(-batch // len(devices)),
        "device_kind": parallel.device_kind(devices[0]),
        "pn_jax": _package_version(),
        "jax": jax.__version__,
    }


def save(directory: str, ckpt: Checkpoint, keep: int = 2) -> str:
    """Writes ``ckpt`` as step ``ckpt.step`` of ``directory`` (atomically); keeps the newest ``keep``.

    Returns:
      The checkpoint's folder.

    Raises:
      CheckpointError: ``directory`` already holds a checkpoint at this step or a later one (another
        run's: checkpoints of one run only move forward).
    """
    import orbax.checkpoint as ocp

    if keep < 1:
        raise ValueError(f"keep: must be >= 1, got {keep}")
    if ckpt.identity is None:
        raise ValueError("identity: a checkpoint must record the run that wrote it; pass run_identity(config, keys)")
    state_arrays, state_info = _flatten(ckpt.state)
    log_arrays, log_info = _flatten(ckpt.log)
    meta = {
        "format": FORMAT_VERSION,
        "step": int(ckpt.step),
        "chunk": int(ckpt.chunk),
        "run": ckpt.meta,
        "identity": ckpt.identity,
        "setup": ckpt.setup,
        "leaves": {"state": state_info, "log": log_info},
        "digests": {"state": list(map(_array_digest, state_arrays)), "log": list(map(_array_digest, log_arrays))},
    }
    meta["digest"] = _meta_digest(meta)  # (also fails here, before writing anything, if meta is not JSON)
    arrays = {"state": _nonempty(state_arrays), "log": _nonempty(log_arrays)}
    with _manager(directory, keep=keep) as manager:
        latest = manager.latest_step()
        if latest is not None and latest >= ckpt.step:
            raise CheckpointError(
                f"{directory} already holds a checkpoint at step {latest}, not before step {ckpt.step}: "
                "another run's? save into a fresh directory"
            )
        args = ocp.args.Composite(arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta))
        if not manager.save(int(ckpt.step), args=args, force=True):
            raise CheckpointError(f"orbax declined to save step {ckpt.step} in {directory}")
        manager.wait_until_finished()
    return os.path.join(directory, str(int(ckpt.step)))


def steps(directory: str) -> list[int]:
    """The env steps of the checkpoints in ``directory``, oldest first: orbax's completed steps that
    hold metadata (this format's, or an older one's to be refused as such)."""
    for attempt in range(3):  # a running save may delete an old step while orbax lists them
        if not os.path.isdir(directory):
            return []
        try:
            with _manager(directory, read_only=True) as manager:
                found = manager.all_steps()
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    return sorted(
        step
        for step in found
        if any(os.path.isfile(os.path.join(directory, str(step), *name)) for name in (_META, ("meta.json",)))
    )


def read_meta(directory: str, step: int | None = None) -> dict:
    """The caller's run description saved with a checkpoint (default: the latest) without its arrays."""
    return _read_meta(directory, _pick_step(directory, step))["run"]


def restore(
    directory: str, state_like: Any, step: int | None = None, *, identity: dict | None, setup: dict | None = None
) -> Checkpoint:
    """Reads a checkpoint (default: the latest) and checks it against the run restoring it.

    Args:
      directory: the folder :func:`save` wrote into.
      state_like: the expected state, arrays or ``jax.ShapeDtypeStruct``s with the leading seed axis,
        e.g. ``jax.eval_shape(jax.vmap(trainer.init), keys)``.
      step: which checkpoint; ``None`` for the latest.
      identity: :func:`run_identity` of the run restoring it; the checkpoint must have been written
        by a run with the same config (digest) and PRNG keys. ``None`` skips that check, only to
        look at a checkpoint, never to continue training from it.
      setup: :func:`run_setup` of the run restoring it; where the checkpoint's differs in what
        decides the bits, or is not recorded, a :class:`ResumeWarning` says so (once). ``None``
        skips that check.

    Raises:
      CheckpointError: no checkpoint; missing, truncated or altered files; written by a run with
        another config or other seeds, or by an older version; a state of another shape.
    """
    import orbax.checkpoint as ocp

    step = _pick_step(directory, step)
    path = os.path.join(directory, str(step))
    meta = _read_meta(directory, step)
    if identity is not None:
        problem = _identity_difference(meta["identity"], json.loads(json.dumps(identity)))
        if problem:
            raise CheckpointError(f"checkpoint {path} was written by a run with {problem}")
    expected = _describe(state_like)
    if meta["leaves"]["state"] != expected:
        raise CheckpointError(f"checkpoint {path} does not match this run: {_first_difference(meta, expected)}")
    if any(len(shape) < 2 or shape[1] != meta["chunk"] for _, shape, _ in meta["leaves"]["log"]):
        raise CheckpointError(f"checkpoint {path} is corrupt: its logs do not cover {meta['chunk']} chunks")
    _drop_late_read_callbacks()  # before reading: after a failed read, they come as soon as orbax closes its loop
    try:
        with _manager(directory, read_only=True) as manager:
            arrays = manager.restore(step, args=ocp.args.Composite(arrays=ocp.args.StandardRestore())).arrays
        state_arrays = _fill(arrays.get("state", {}), meta["leaves"]["state"], meta["digests"]["state"])
        log_arrays = _fill(arrays.get("log", {}), meta["leaves"]["log"], meta["digests"]["log"])
    except CheckpointError as err:
        raise CheckpointError(f"checkpoint {path} is corrupt: {err}") from None
    except Exception as err:  # orbax / tensorstore raise many kinds on files they cannot read
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated: {_unreadable_file(err, path)} cannot be read"
            f"{_unreadable_reason(err)}"
        ) from None
    state = _unflatten(state_like, state_arrays, meta["leaves"]["state"])
    log = _log_like(meta["leaves"]["log"], log_arrays)
    if setup is not None and (difference := _setup_difference(meta.get("setup"), setup)):
        warnings.warn(
            f"checkpoint {path} {difference}: the continuation will not be bit-identical to an uninterrupted run",
            ResumeWarning,
            stacklevel=2,
        )
    return Checkpoint(meta["step"], meta["chunk"], state, log, meta["run"], meta["identity"], meta.get("setup"))


def _package_version() -> str:
    """pn_jax's installed version (``"unknown"`` when it runs from a source tree without being installed)."""
    try:
        return importlib.metadata.version("pn_jax")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _setup_difference(saved: dict | None, here: dict) -> str | None:
    """``"was written with …, and this run has …"``: what differs of the setup that decides the bits (None: nothing)."""
    if saved is None:
        return "does not record the devices and versions that wrote it (an earlier pn_jax)"

    def batch(setup: dict) -> str:
        count, kind = setup["devices"], setup["device_kind"]
        return f"a batch of {setup['batch_per_device']} per device on {count} device{'s' * (count > 1)} ({kind})"

    there, ours = [], []
    if (saved["batch_per_device"], saved["device_kind"]) != (here["batch_per_device"], here["device_kind"]):
        there.append(batch(saved))
        ours.append(batch(here))
    for name in ("pn_jax", "jax"):
        if saved[name] != here[name]:
            there.append(f"{name} {saved[name]}")
            ours.append(f"{name} {here[name]}")
    return f"was written with {', '.join(there)}, and this run has {', '.join(ours)}" if there else None


def _drop_late_read_callbacks() -> None:
    """After a failed read, the reads still in flight finish on the event loop orbax has already
    closed, and each would print an ignored ``RuntimeError: Event loop is closed`` traceback after
    the clear error: those alone are dropped, i.e. that error raised where native code (tensorstore's
    threads) called ``loop.call_soon_threadsafe``; any other unraisable exception reaches the old hook."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_late_read_callbacks", False):
        return

    def hook(unraisable) -> None:
        error, trace = unraisable.exc_value, unraisable.exc_traceback
        from_native = trace is not None and trace.tb_frame.f_code.co_name == "call_soon_threadsafe"  # no Python caller
        if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed" and from_native):
            previous(unraisable)

    hook.drops_late_read_callbacks = True
    sys.unraisablehook = hook


@contextlib.contextmanager
def _manager(directory: str, keep: int | None = None, read_only: bool = False):
    """orbax's ``CheckpointManager`` over ``directory`` for this process alone (in a multi-process
    run only process 0 saves, and each process reads for itself), with orbax's INFO logging (a line
    per array) silenced, closed on exit."""
    import orbax.checkpoint as ocp

    if not read_only:
        os.makedirs(directory, exist_ok=True)  # (orbax's create=True refuses per-process managers)
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            create=False,
            read_only=read_only,
            cleanup_tmp_directories=not read_only,
            enable_async_checkpointing=False,
        )
        if jax.process_count() > 1:
            me = jax.process_index()
            options.multiprocessing_options = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
        manager = ocp.CheckpointManager(os.path.abspath(directory), options=options, item_names=ITEMS)
        try:
            yield manager
        finally:
            manager.close()
    finally:
        logger.setLevel(level)


def _array_digest(array: np.ndarray) -> str:
    """BLAKE2 of an array's dtype, shape and bytes."""
    h = hashlib.blake2b(f"{array.dtype.str}{list(array.shape)}".encode(), digest_size=16)
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _pick_step(directory: str, step: int | None) -> int:
    available = steps(directory)
    if not available:
        raise CheckpointError(f"no complete checkpoint in {directory}")
    if step is None:
        return available[-1]
    if step not in available:
        raise CheckpointError(f"no checkpoint for step {step} in {directory}; it has {available}")
    return step


def _read_meta(directory: str, step: int) -> dict:
    path = os.path.join(directory, str(step))

    def older(version: Any) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {path} was written by an older version of pn_jax (checkpoint format {version}); "
            "resume it with the version that wrote it, or start the run again"
        )

    if os.path.isfile(os.path.join(path, "meta.json")):  # the layout before orbax's CheckpointManager
        raise older("1 or 2, before this layout")
    try:
        with open(os.path.join(path, *_META)) as f:
            meta = json.load(f)
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated: {os.path.join(path, *_META)} cannot be read"
            f" ({type(err).__name__})"
        ) from None
    if isinstance(meta, dict) and meta.get("format") in (1, 2):
        raise older(meta["format"])
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"checkpoint {path} has format {found!r}, expected {FORMAT_VERSION}")
    if meta.get("digest") != _meta_digest(meta):
        raise CheckpointError(f"checkpoint {path} is corrupt: its metadata was altered (digest mismatch)")
    problem = _schema_problem(meta)
    if problem:
        raise CheckpointError(f"checkpoint {path} is corrupt: its metadata {problem}")
    return meta


def _meta_digest(meta: dict) -> str:
    """BLAKE2 of the metadata content other than this digest (canonical JSON)."""
    return _digest({k: v for k, v in meta.items() if k != "digest"})


def _digest(content: Any) -> str:
    """BLAKE2 of ``content`` as canonical JSON (sorted keys)."""
    return hashlib.blake2b(json.dumps(content, sort_keys=True).encode(), digest_size=16).hexdigest()


def _canonical(value: Any, hint: Any) -> Any:
    """A config field's value as JSON compares it: tuples as lists, ints of float fields as floats."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return json.loads(json.dumps(value))


def _floats(leaf: Any) -> Any:
    """An hparams leaf as (nested lists of) floats; float32 values by their shortest decimal form."""
    array = np.asarray(leaf)
    if array.dtype == np.float32:
        array = np.array([float(str(x)) for x in array.ravel()]).reshape(array.shape)
    return array.astype(np.float64).tolist()


def _identity_difference(saved: dict, here: dict) -> str | None:
    """``"another config (…)"`` / ``"other seeds (…)"`` naming what differs (None if nothing that matters)."""
    if saved["config_digest"] != here["config_digest"]:
        return f"another config ({_config_difference(saved, here)})"
    if saved["keys"] != here["keys"]:
        return f"other seeds ({_seed_difference(saved, here)})"
    return None


_SHOWN = 6  # differing fields shown with their values; the rest are only named


def _config_difference(saved: dict, here: dict) -> str:
    """e.g. ``exploration: 'param' there vs 'param+gaussian' here, actor_lr: 0.001 vs 0.03``."""
    if saved["config_class"] != here["config_class"]:
        return f"a {saved['config_class']} there, a {here['config_class']} here"
    differ = _differing(saved["config"], here["config"])
    hp_saved, hp_here = saved["hparams"], here["hparams"]
    if hp_saved is not None and hp_here is not None:
        differ += _differing(hp_saved, hp_here, prefix="hparams.")
    elif hp_saved != hp_here:
        differ.append(
            ("hparams", *(("explicit", "from the config") if hp_here is None else ("from the config", "explicit")))
        )
    parts = [
        f"{name}: {there} there vs {here_} here" if i == 0 else f"{name}: {there} vs {here_}"
        for i, (name, there, here_) in enumerate(differ[:_SHOWN])
    ]
    if len(differ) > _SHOWN:
        parts.append(f"and also {', '.join(name for name, _, _ in differ[_SHOWN:])}")
    return ", ".join(parts) or f"config digest {saved['config_digest']} there vs {here['config_digest']} here"


def _differing(saved: dict, here: dict, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(name, saved value, value here)`` of every entry that differs (shortened reprs)."""
    absent = object()
    names = [*saved, *(name for name in here if name not in saved)]
    values = [(name, saved.get(name, absent), here.get(name, absent)) for name in names]
    return [
        (prefix + name, "absent" if a is absent else _short(a), "absent" if b is absent else _short(b))
        for name, a, b in values
        if a != b
    ]


def _seed_difference(saved: dict, here: dict) -> str:
    a, b = saved["keys"], here["keys"]
    if a["impl"] != b["impl"]:
        return f"PRNG keys of type {a['impl']} there vs {b['impl']} here"
    if len(a["data"]) != len(b["data"]):
        return f"{len(a['data'])} seeds there vs {len(b['data'])} here: {_seeds(saved)} vs {_seeds(here)}"
    if saved["seeds"] != here["seeds"]:
        return f"seeds {_seeds(saved)} there vs {_seeds(here)} here"
    differ = [s for s, x, y in zip(here["seeds"], a["data"], b["data"], strict=True) if x != y]
    return f"the same seed numbers, but the PRNG keys of seed{'s' if len(differ) > 1 else ''} {_seeds(differ)} differ"


def _seeds(source: dict | list) -> str:
    """``[0, 1, 2]``, or ``[0, 1, …, 99] (100 seeds)`` when long."""
    seeds = source["seeds"] if isinstance(source, dict) else source
    if len(seeds) <= 8:
        return str(seeds)
    return f"[{', '.join(map(str, seeds[:3]))}, …, {seeds[-1]}] ({len(seeds)} seeds)"


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _uint(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


_LEAF = (str, [_uint], str)  # path, shape, dtype
_METADATA = {  # the shape of what save() writes: dict keys, [item] lists, (fixed) lists, types, predicates
    "step": _uint,
    "chunk": _uint,
    "run": dict,
    "identity": {
        "config_class": str,
        "config": dict,
        "hparams": lambda x: x is None or isinstance(x, dict),
        "config_digest": str,
        "keys": {"impl": str, "data": [[_uint]]},
        "seeds": [lambda x: isinstance(x, int) and not isinstance(x, bool)],
    },
    "leaves": {"state": [_LEAF], "log": [_LEAF]},
    "digests": {"state": [str], "log": [str]},
}
_SETUP = {  # optional in format 3 (absent before setups were recorded; None when not given)
    "devices": _uint,
    "batch_per_device": _uint,
    "device_kind": str,
    "pn_jax": str,
    "jax": str,
}


def _fits(value: Any, spec: Any) -> bool:
    if isinstance(spec, dict):
        return isinstance(value, dict) and all(k in value and _fits(value[k], s) for k, s in spec.items())
    if isinstance(spec, list):
        return isinstance(value, list) and all(_fits(v, spec[0]) for v in value)
    if isinstance(spec, tuple):
        return isinstance(value, list) and len(value) == len(spec) and all(map(_fits, value, spec))
    return isinstance(value, spec) if isinstance(spec, type) else spec(value)


def _schema_problem(meta: dict) -> str | None:
    """What in parsed metadata does not have the shape :func:`save` writes (None if all does)."""
    bad = [name for name, spec in _METADATA.items() if not _fits(meta.get(name), spec)]
    if meta.get("setup") is not None and not _fits(meta["setup"], _SETUP):
        bad.append("setup")
    if not bad and any(len(meta["digests"][k]) != len(meta["leaves"][k]) for k in ("state", "log")):
        bad.append("digests")
    if not bad and len(meta["identity"]["seeds"]) != len(meta["identity"]["keys"]["data"]):
        bad.append("identity")
    return f"has a missing or malformed {', '.join(bad)}" if bad else None


def _flatten(tree: Any) -> tuple[list[np.ndarray], list[list]]:
    """Host arrays of ``tree``'s leaves (PRNG keys as their uint32 data), and :func:`_describe` of it."""
    arrays = [np.asarray(jax.random.key_data(x) if _is_key(x) else x) for x in jax.tree.leaves(tree)]
    return arrays, _describe(tree)


def _describe(tree: Any) -> list[list]:
    """``[path, shape, dtype]`` of each leaf of ``tree`` (arrays or shape structs) as stored."""
    info = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        shape = list(leaf.shape)
        if _is_key(leaf):
            shape += list(jax.eval_shape(jax.random.key_data, leaf).shape[len(leaf.shape) :])
        info.append([jax.tree_util.keystr(path), shape, _dtype_name(leaf)])
    return info


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _dtype_name(leaf: Any) -> str:
    """``"float32"`` etc., or ``"key<threefry2x32>"`` for a typed PRNG key (array or shape struct)."""
    return f"key<{leaf.dtype._impl.name}>" if _is_key(leaf) else str(np.dtype(leaf.dtype))


def _nonempty(arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """orbax cannot store zero-size arrays; they are rebuilt from their recorded shape."""
    return {f"leaf_{i:04d}": a for i, a in enumerate(arrays) if a.size}


def _fill(stored: dict, info: list[list], digests: list[str]) -> list[np.ndarray]:
    """The leaves in order: stored ones checked against ``info`` and their ``digests``, zero-size ones rebuilt."""
    out = []
    for i, (path, shape, dtype) in enumerate(info):
        storage_dtype = np.uint32 if dtype.startswith("key<") else np.dtype(dtype)
        if int(np.prod(shape)) == 0:
            out.append(np.zeros(shape, storage_dtype))
            continue
        leaf = stored.get(f"leaf_{i:04d}")
        if leaf is None:
            raise CheckpointError(f"leaf {path} is missing")
        leaf = np.asarray(leaf)
        if list(leaf.shape) != shape or leaf.dtype != storage_dtype:
            raise CheckpointError(f"leaf {path} reads back as {leaf.dtype}{list(leaf.shape)}, saved as {dtype}{shape}")
        if _array_digest(leaf) != digests[i]:
            raise CheckpointError(f"leaf {path} differs from what was written (digest mismatch)")
        out.append(leaf)
    return out


def _unflatten(like: Any, arrays: list[np.ndarray], info: list[list]) -> Any:
    leaves = [
        jax.random.wrap_key_data(a, impl=dtype[4:-1]) if dtype.startswith("key<") else a
        for a, (_, _, dtype) in zip(arrays, info, strict=True)
    ]
    return jax.tree.unflatten(jax.tree.structure(like), leaves)


def _log_like(info: list[list], arrays: list[np.ndarray]) -> Any:
    from pn_jax.train import ChunkLog

    if [path for path, _, _ in info] != [f".{name}" for name in ChunkLog._fields]:
        raise CheckpointError(f"the saved log has fields {[p for p, _, _ in info]}, expected {list(ChunkLog._fields)}")
    return ChunkLog(*arrays)


def _first_difference(meta: dict, expected: list[list]) -> str:
    saved = meta["leaves"]["state"]
    if len(saved) != len(expected):
        return f"it holds {len(saved)} state arrays, this run has {len(expected)} (another algorithm or strategy?)"
    for (path, shape, dtype), (want_path, want_shape, want_dtype) in zip(saved, expected, strict=True):
        if (path, shape, dtype) != (want_path, want_shape, want_dtype):
            return (
                f"state{path} is {dtype}{shape} there and {want_dtype}{want_shape} here "
                "(another config or number of seeds?)"
                if path == want_path
                else f"it holds state{path} where this run has state{want_path}"
            )
    return "unknown difference"


def _unreadable_reason(err: BaseException) -> str:
    """`` (STATUS reading KEY)`` from tensorstore's error text, or `` (ErrorType)``: the short reason."""
    text = str(err)
    status, key = re.search(r"\b([A-Z][A-Z_]{3,}):", text), re.search(r'reading "([^"]+)"', text)
    if status and key:
        return f" ({status[1]} reading {key[1]})"
    return f" ({status[1] if status else type(err).__name__})"


def _unreadable_file(err: BaseException, path: str) -> str:
    """The file inside checkpoint ``path`` that orbax or tensorstore's error names (their own text
    is long and internal), or the checkpoint's array folder when it names none."""
    found = re.findall(re.escape(os.path.abspath(path)) + r"[^\s'\"\]\),]*", str(err))
    return max(found, key=len) if found else os.path.join(path, "arrays")
