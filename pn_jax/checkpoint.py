"""Saving and restoring a batched training run with orbax: its whole state and its logs so far.

A checkpoint holds everything a run needs to continue exactly where it stopped: the learner's
parameters, optimiser state and target networks, the exploration state (σ, perturbed parameters,
OU noise), the replay buffer, the env states, the RNG keys and counters (all in the
:class:`~pn_jax.train.TrainState`, leading axis ``[B]`` seeds), and the :class:`~pn_jax.train.ChunkLog`
of every evaluation chunk trained so far (``[B, C, ...]``). Layout::

    DIR/<env step>/arrays/     every non-empty leaf, written by orbax (tensorstore OCDBT)
    DIR/<env step>/meta.json   the caller's description of the run, each leaf's path, shape and
                               dtype, the size and BLAKE2 digest of every file under arrays/, and
                               a digest of its own content

A checkpoint is written into ``DIR/.partial-<step>-<pid>/`` and renamed to ``DIR/<step>`` only
once complete, so a crash mid-save leaves the previous checkpoint as the latest (and the partial
folder is cleared by the next save). :func:`restore` checks every file against its size and
digest *before* orbax reads it, and every leaf against the state the run expects, so a truncated,
altered or foreign checkpoint is a :class:`CheckpointError`, never a silently different run.

Usage::

    path = checkpoint.save(directory, Checkpoint(step, chunk, host_state, host_log, {"seeds": [0, 1]}))
    ckpt = checkpoint.restore(directory, jax.eval_shape(jax.vmap(trainer.init), keys))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from typing import Any, NamedTuple

import jax
import numpy as np

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, corrupt, or does not belong to the run restoring it."""


class Checkpoint(NamedTuple):
    """One saved point of a run (host numpy arrays, seeds on the leading axis)."""

    step: int  # env steps trained per seed
    chunk: int  # evaluation chunks trained
    state: Any  # TrainState, leaves [B, ...]
    log: Any  # ChunkLog of chunks 0 … chunk-1, leaves [B, chunk, ...]
    meta: dict  # the caller's JSON-serialisable description of the run


def save(directory: str, ckpt: Checkpoint, keep: int = 2) -> str:
    """Writes ``ckpt`` as ``directory/<ckpt.step>`` atomically; keeps the newest ``keep`` checkpoints.

    Returns:
      The checkpoint's folder.
    """
    import orbax.checkpoint as ocp

    if keep < 1:
        raise ValueError(f"keep: must be >= 1, got {keep}")
    state_arrays, state_info = _flatten(ckpt.state)
    log_arrays, log_info = _flatten(ckpt.log)
    meta = {
        "format": FORMAT_VERSION,
        "step": int(ckpt.step),
        "chunk": int(ckpt.chunk),
        "run": ckpt.meta,
        "leaves": {"state": state_info, "log": log_info},
    }
    json.dumps(meta)  # fail here, before writing anything, if the description is not JSON
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # left behind by saves that crashed
        if name.startswith(_PARTIAL):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    partial = os.path.join(directory, f"{_PARTIAL}{int(ckpt.step)}-{os.getpid()}")
    with _quiet_orbax():
        checkpointer = ocp.StandardCheckpointer()
        arrays = {"state": _nonempty(state_arrays), "log": _nonempty(log_arrays)}
        checkpointer.save(os.path.abspath(os.path.join(partial, "arrays")), arrays)
        checkpointer.wait_until_finished()
        checkpointer.close()
    meta["files"] = _file_digests(partial)
    meta["digest"] = _meta_digest(meta)
    with open(os.path.join(partial, "meta.json"), "w") as f:
        json.dump(meta, f)
        f.flush()
        os.fsync(f.fileno())
    final = os.path.join(directory, str(int(ckpt.step)))
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(partial, final)
    for old in steps(directory)[:-keep]:
        shutil.rmtree(os.path.join(directory, str(old)), ignore_errors=True)
    return final


def steps(directory: str) -> list[int]:
    """The env steps of the complete checkpoints in ``directory``, oldest first (``[]`` if none)."""
    if not os.path.isdir(directory):
        return []
    return sorted(
        int(name)
        for name in os.listdir(directory)
        if name.isdigit() and os.path.isfile(os.path.join(directory, name, "meta.json"))
    )


def read_meta(directory: str, step: int | None = None) -> dict:
    """The caller's run description saved with a checkpoint (default: the latest) without its arrays."""
    return _read_meta(directory, _pick_step(directory, step))["run"]


def restore(directory: str, state_like: Any, step: int | None = None) -> Checkpoint:
    """Reads a checkpoint (default: the latest) and checks it against the run restoring it.

    Args:
      directory: the folder :func:`save` wrote into.
      state_like: the expected state, arrays or ``jax.ShapeDtypeStruct``s with the leading seed axis,
        e.g. ``jax.eval_shape(jax.vmap(trainer.init), keys)``.
      step: which checkpoint; ``None`` for the latest.

    Raises:
      CheckpointError: no checkpoint; missing, truncated or altered files; a state of another
        shape (another config, seed count or library version).
    """
    import orbax.checkpoint as ocp

    step = _pick_step(directory, step)
    path = os.path.join(directory, str(step))
    meta = _read_meta(directory, step)
    expected = _describe(state_like)
    if meta["leaves"]["state"] != expected:
        raise CheckpointError(f"checkpoint {path} does not match this run: {_first_difference(meta, expected)}")
    if any(len(shape) < 2 or shape[1] != meta["chunk"] for _, shape, _ in meta["leaves"]["log"]):
        raise CheckpointError(f"checkpoint {path} is corrupt: its logs do not cover {meta['chunk']} chunks")
    problem = _verify_files(path, meta["files"])
    if problem:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {problem}")
    try:
        with _quiet_orbax():
            checkpointer = ocp.StandardCheckpointer()
            try:
                arrays = checkpointer.restore(os.path.abspath(os.path.join(path, "arrays")))
            finally:
                checkpointer.close()
        state_arrays = _fill(arrays.get("state", {}), meta["leaves"]["state"])
        log_arrays = _fill(arrays.get("log", {}), meta["leaves"]["log"])
    except CheckpointError as err:
        raise CheckpointError(f"checkpoint {path} is corrupt: {err}") from None
    except Exception as err:  # orbax / tensorstore raise many kinds on files they cannot read
        raise CheckpointError(f"checkpoint {path} is unreadable: {_one_line(err)}") from None
    state = _unflatten(state_like, state_arrays, meta["leaves"]["state"])
    log = _log_like(meta["leaves"]["log"], log_arrays)
    return Checkpoint(meta["step"], meta["chunk"], state, log, meta["run"])


_PARTIAL = ".partial-"


def _file_digests(root: str) -> dict[str, list]:
    """``{relative path: [size, blake2b hex]}`` of every file under ``root/arrays``."""
    out = {}
    for folder, _, names in os.walk(os.path.join(root, "arrays")):
        for name in names:
            full = os.path.join(folder, name)
            out[os.path.relpath(full, root)] = [os.path.getsize(full), _hash_file(full)]
    return out


def _verify_files(root: str, files: dict[str, list]) -> str | None:
    """What is wrong with the files under ``root`` compared with ``files`` (None if nothing)."""
    for rel, (size, digest) in sorted(files.items()):
        full = os.path.join(root, rel)
        if not os.path.isfile(full):
            return f"{rel} is missing"
        if os.path.getsize(full) != size:
            return f"{rel} has {os.path.getsize(full)} bytes, {size} were written"
        if _hash_file(full) != digest:
            return f"{rel} differs from what was written (digest mismatch)"
    return None


def _inside_arrays(rel: str) -> bool:
    """A recorded file path stays inside the checkpoint's ``arrays/`` folder."""
    parts = rel.replace("\\", "/").split("/")
    return len(parts) > 1 and parts[0] == "arrays" and ".." not in parts and not os.path.isabs(rel)


def _hash_file(path: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
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
    try:
        with open(os.path.join(path, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable (corrupt or truncated?): {_one_line(err)}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"checkpoint {path} has format {found!r}, expected {FORMAT_VERSION}")
    if meta.get("digest") != _meta_digest(meta):
        raise CheckpointError(
            f"checkpoint {path} is corrupt: meta.json differs from what was written (digest mismatch)"
        )
    problem = _schema_problem(meta)
    if problem:
        raise CheckpointError(f"checkpoint {path} is corrupt: meta.json {problem}")
    return meta


def _meta_digest(meta: dict) -> str:
    """BLAKE2 of meta.json's content other than this digest (canonical JSON)."""
    content = json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True)
    return hashlib.blake2b(content.encode(), digest_size=16).hexdigest()


def _schema_problem(meta: dict) -> str | None:
    """What in a parsed meta.json does not have the shape :func:`save` writes (None if all does)."""

    def is_int(x) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    def is_leaf(x) -> bool:
        return (
            isinstance(x, list)
            and len(x) == 3
            and isinstance(x[0], str)
            and isinstance(x[1], list)
            and all(is_int(d) for d in x[1])
            and isinstance(x[2], str)
        )

    def is_file(x) -> bool:
        return isinstance(x, list) and len(x) == 2 and is_int(x[0]) and isinstance(x[1], str)

    leaves = meta.get("leaves")
    checks = {
        "step": is_int(meta.get("step")),
        "chunk": is_int(meta.get("chunk")),
        "run": isinstance(meta.get("run"), dict),
        "leaves": isinstance(leaves, dict)
        and all(isinstance(leaves.get(k), list) and all(map(is_leaf, leaves[k])) for k in ("state", "log")),
        "files": isinstance(meta.get("files"), dict)
        and all(is_file(v) and _inside_arrays(k) for k, v in meta["files"].items()),
    }
    bad = [name for name, ok in checks.items() if not ok]
    return f"has a missing or malformed {', '.join(bad)}" if bad else None


def _flatten(tree: Any) -> tuple[list[np.ndarray], list[list]]:
    """Host arrays of ``tree``'s leaves (PRNG keys as their uint32 data) and ``[path, shape, dtype]`` each."""
    arrays, info = [], []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        dtype = _dtype_name(leaf)
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        arrays.append(np.asarray(leaf))
        info.append([jax.tree_util.keystr(path), list(np.shape(arrays[-1])), dtype])
    return arrays, info


def _describe(tree: Any) -> list[list]:
    """What :func:`_flatten` would record for ``tree`` (arrays or shape structs)."""
    info = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        shape = list(leaf.shape)
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            shape += list(jax.eval_shape(jax.random.key_data, leaf).shape[len(leaf.shape) :])
        info.append([jax.tree_util.keystr(path), shape, _dtype_name(leaf)])
    return info


def _dtype_name(leaf: Any) -> str:
    """``"float32"`` etc., or ``"key<threefry2x32>"`` for a typed PRNG key (array or shape struct)."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return f"key<{leaf.dtype._impl.name}>"
    return str(np.dtype(leaf.dtype))


def _nonempty(arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """orbax cannot store zero-size arrays; they are rebuilt from their recorded shape."""
    return {f"leaf_{i:04d}": a for i, a in enumerate(arrays) if a.size}


def _fill(stored: dict, info: list[list]) -> list[np.ndarray]:
    """The leaves in order: stored ones checked against ``info``, zero-size ones rebuilt."""
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


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300] if text else ''}"


class _quiet_orbax:
    """Silences orbax's INFO logging (one line per array) for the duration of a save or restore."""

    def __enter__(self):
        self._logger = logging.getLogger("absl")
        self._level = self._logger.level
        self._logger.setLevel(logging.WARNING)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)
        return False
