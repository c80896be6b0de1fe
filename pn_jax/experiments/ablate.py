"""Ablation grids: every combination of the listed hyper-parameters × seeds, one jit per exploration.

Dynamic hyper-parameters (σ₀, δ, α, K, action-noise std, learning rates, τ, γ, σ spread, OU θ)
take one or more values; the grid is their product, crossed with ``num_seeds`` seeds, and runs as
one jax.vmap over (grid point, seed) inside one compiled program per exploration kind. A
strategy's grid only spans the hyper-parameters it reads (σ₀ does not change Gaussian action
noise), so no setting is trained twice. Static fields (env, sizes, step counts) are shared.

Example (a notebook)::

    from pn_jax.experiments import ablate
    grid = ablate.Grid(total_steps=2000, sigma_init=(0.05, 0.2), target_distance=(0.1, 0.3), num_seeds=2)
    out = ablate.run(grid, log=print)
    out.rows  # final eval return IQM per setting
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pn_jax import DDPGConfig, HParams
from pn_jax.experiments.common import Log, mesh_of, run_record, say, seed_keys, seed_list, train_sharded
from pn_jax.experiments.configs import GRID_FIELDS
from pn_jax.experiments.configs import Grid as Grid
from pn_jax.noise import STRATEGY_HPARAMS
from pn_jax.results import summary_rows
from pn_jax.train import build_env

LEARNER_HPARAMS = ("actor_lr", "critic_lr", "critic_l2", "tau", "gamma")
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _grid_fields(exploration: str) -> list[str]:
    """The hyper-parameters one exploration's grid spans: the learner's and the strategy's own."""
    used = STRATEGY_HPARAMS.get(exploration, ())  # an unknown name fails in DDPGConfig below
    return [n for n in HParams._fields if n in LEARNER_HPARAMS or n in used]


def varied_fields(grid: Any, exploration: str) -> list[str]:
    """The grid fields given more than one value (they name the settings)."""
    return [n for n in _grid_fields(exploration) if len(getattr(grid, n)) > 1]


def grid_points(grid: Any, exploration: str) -> list[dict[str, Any]]:
    """The settings for one exploration: the product of the grid values it reads (others: first value)."""
    used = _grid_fields(exploration)
    fixed = {n: getattr(grid, n)[0] for n in HParams._fields if n not in used}
    return [
        dict(fixed, **dict(zip(used, values, strict=True)))
        for values in itertools.product(*(getattr(grid, n) for n in used))
    ]


def setting_label(exploration: str, point: dict[str, Any], varied: list[str]) -> str:
    """e.g. ``param sigma_init=0.1 target_distance=0.2`` (only the varied fields)."""
    return " ".join([exploration, *(f"{n}={point[n]:g}" for n in varied)])


def setting_folder(label: str) -> str:
    """A setting's folder name: ``sigma_init=0.1,target_distance=0.2`` (``default`` when nothing varies)."""
    return label.split(" ", 1)[1].replace(" ", ",") if " " in label else "default"


def configs(grid: Any) -> dict[str, list[tuple[DDPGConfig, str]]]:
    """Validated ``(config, label)`` pairs, per exploration, one per grid point.

    Raises:
      ValueError: naming the first invalid field (via :class:`DDPGConfig`).
    """
    static = {f.name: getattr(grid, f.name) for f in dataclasses.fields(DDPGConfig) if f.name not in GRID_FIELDS}
    out = {}
    for exploration in dict.fromkeys(grid.exploration):
        varied = varied_fields(grid, exploration)
        out[exploration] = [
            (DDPGConfig(**static, exploration=exploration, **point), setting_label(exploration, point, varied))
            for point in grid_points(grid, exploration)
        ]
        labels = [label for _, label in out[exploration]]
        if clash := next((label for label in labels if labels.count(label) > 1), None):
            raise ValueError(
                f"grid: two settings print as {clash!r} (values equal to 6 significant digits); "
                "give values that differ there"
            )
    return out


def prepare(grid: Any) -> dict[str, list[tuple[DDPGConfig, str]]]:
    """Checks ``grid`` before anything compiles; its :func:`configs`.

    Raises:
      ValueError: naming the first bad field (an unknown or broken env included).
    """
    if grid.num_seeds <= 0:
        raise ValueError(f"num_seeds: must be a positive integer, got {grid.num_seeds}")
    for name in GRID_FIELDS:
        values = getattr(grid, name)
        if len(values) == 0:
            raise ValueError(f"{name}: give at least one value")
        if repeated := sorted({v for v in values if values.count(v) > 1}, key=str):
            raise ValueError(f"{name}: {', '.join(map(str, repeated))} given more than once; give each grid value once")
    per_exploration = configs(grid)
    build_env(next(iter(per_exploration.values()))[0][0])
    return per_exploration


def run_exploration(points: list[tuple[DDPGConfig, str]], grid: Any, mesh, progress: bool = False) -> tuple[dict, dict]:
    """Trains every grid point × seed of one exploration in one compiled program.

    Returns:
      ``({label: metrics.json record}, timing)``: compile and run seconds (shared by every point) and
      the number of grid points.
    """
    seeds = seed_list(grid.seed, grid.num_seeds)
    num_points, num_seeds = len(points), len(seeds)
    keys = jnp.tile(seed_keys(seeds), num_points)  # [G·S], point-major: the same seeds at every point
    hparams = jax.tree.map(lambda *xs: jnp.repeat(jnp.stack(xs), num_seeds), *(c.hparams() for c, _ in points))
    config = points[0][0]
    # The static resample_every only sizes the noise pool: size it for the most frequent resampling.
    intervals = [c.resample_every for c, _ in points if c.resample_every > 0]
    program = config.replace(resample_every=min(intervals)) if intervals else config
    metrics, compile_seconds, run_seconds = train_sharded(program, (keys, hparams), mesh, progress, config.exploration)
    metrics = jax.tree.map(lambda x: np.asarray(x).reshape(num_points, num_seeds, *x.shape[1:]), metrics)
    records = {}
    for g, (config, label) in enumerate(points):
        point = jax.tree.map(lambda x, g=g: x[g], metrics)
        record = run_record(config, point, seeds, mesh, compile_seconds, run_seconds)
        # The program trained all grid points at once: its time and throughput are shared.
        record["env_steps_per_second"] = num_points * num_seeds * config.total_steps / run_seconds
        record["shared_program"] = {"grid_points": num_points, "seeds": num_seeds}
        records[label] = record
    timing = {"compile_seconds": compile_seconds, "run_seconds": run_seconds, "grid_points": num_points}
    return records, timing


class Result(NamedTuple):
    """What :func:`run` returns."""

    records: dict[str, dict]  # {setting label: metrics.json record}
    timings: dict[str, dict]  # {exploration: compile/run seconds, grid_points, train_compiles}
    rows: list[dict]  # pn_jax.results.summary_rows of the records


def run(grid: Any, *, devices: str | int = "all", progress: bool = False, log: Log = None) -> Result:
    """Trains the whole grid, one compiled program per exploration kind.

    ``timings[exploration]["train_compiles"]`` counts the training programs XLA compiled for it (1:
    the grid and seeds shared one program).

    Raises:
      ValueError: naming a bad field, before anything compiles.
    """
    per_exploration = prepare(grid)
    mesh = mesh_of(devices)
    compiled_names: list[str] = []

    def listen(event, _, fun_name="", **__):
        if event == COMPILE_EVENT:
            compiled_names.append(fun_name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    records, timings = {}, {}
    try:
        for exploration, points in per_exploration.items():
            before = len(compiled_names)
            found, timing = run_exploration(points, grid, mesh, progress)
            timing["train_compiles"] = compiled_names[before:].count("jit(train)")
            records.update(found)
            timings[exploration] = timing
            say(
                log,
                f"{exploration}: {timing['grid_points']} settings × {grid.num_seeds} seeds, "
                f"compile {timing['compile_seconds']:.1f} s, run {timing['run_seconds']:.1f} s",
            )
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return Result(records, timings, summary_rows(records))


def heatmaps(grid: Any, records: dict[str, dict]) -> dict[str, tuple[dict[str, dict], str, str]]:
    """The two-way grids, which get a heatmap of the final IQM: ``{exploration: (its records, x field,
    y field)}`` for each exploration that varies exactly two fields."""
    out = {}
    for exploration in dict.fromkeys(grid.exploration):
        varied = varied_fields(grid, exploration)
        if len(varied) == 2:
            mine = {label: r for label, r in records.items() if r["config"]["exploration"] == exploration}
            out[exploration] = (mine, varied[0], varied[1])
    return out
