"""Ablation grids: every combination of the listed hyper-parameters × seeds, one jit per exploration.

Dynamic hyper-parameters (σ₀, δ, α, K, action-noise std, learning rates, τ, γ, σ spread, OU θ)
take one or more values; the grid is their product, crossed with --num-seeds seeds, and runs as
one jax.vmap over (grid point, seed) inside one compiled program per exploration kind. A
strategy's grid only spans the hyper-parameters it reads (σ₀ does not change Gaussian action
noise), so no setting is trained twice. Static fields (env, sizes, step counts) are shared.

Example: python scripts/ablate.py --sigma-init 0.05 0.1 0.2 0.4 --target-distance 0.05 0.1 0.2 0.4
--num-seeds 4 --out runs/ablate. Writes <exploration>/<setting>/metrics.json per grid point,
summary.csv, summary.md and returns.png (one curve per setting) into --out.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from pn_jax import DDPGConfig, HParams, parallel
from pn_jax.cli.common import (
    CACHE_HELP,
    DISTRIBUTED_FIELDS,
    claim_output_folder,
    default_cache_dir,
    device_name,
    fail,
    field_docs,
    guarded,
    is_writer,
    on_interrupt,
    on_writer,
    parse,
    require_distributed_start,
    run_record,
    seed_keys,
    train_sharded,
    use_compilation_cache,
    write_or_rescue,
)
from pn_jax.noise import STRATEGY_HPARAMS
from pn_jax.results import plot_heatmap, plot_runs, summary_rows, write_summary
from pn_jax.train import build_env

LEARNER_HPARAMS = ("actor_lr", "critic_lr", "critic_l2", "tau", "gamma")
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
RUN_FIELDS = {
    "num_seeds": (int, 4, "seeds per grid point; seed k uses jax.random.key(seed + k) at every point."),
    "seed": (int, 0, "first seed."),
    "out": (str, "runs/ablate", "output folder (one that already holds results is refused)."),
    "devices": (str, "all", "devices to spread grid × seeds over: 'all' or a count."),
    "progress": (bool, True, "show a progress bar per exploration kind."),
    "overwrite": (bool, False, "write into an --out that already holds results, replacing files of the same name."),
    "compilation_cache": (str, default_cache_dir(), CACHE_HELP),
    **DISTRIBUTED_FIELDS,
}


def _ablation_class() -> type:
    """A dataclass with every :class:`DDPGConfig` field, grid fields turned into tuples, plus run flags."""
    docs, defaults = field_docs(DDPGConfig), DDPGConfig().cli_defaults()
    fields: list[Any] = []
    for f in dataclasses.fields(DDPGConfig):
        value, doc = getattr(defaults, f.name), docs.get(f.name, "")
        if f.name in HParams._fields or f.name == "exploration":
            kind = type(value)
            fields.append(
                (
                    f.name,
                    Annotated[tuple[kind, ...], tyro.conf.arg(help=f"{doc} Grid: one or more values.")],
                    dataclasses.field(default=(value,)),
                )
            )
        else:
            fields.append((f.name, Annotated[f.type, tyro.conf.arg(help=doc)], dataclasses.field(default=value)))
    for name, (kind, value, doc) in RUN_FIELDS.items():
        fields.append((name, Annotated[kind, tyro.conf.arg(help=doc)], dataclasses.field(default=value)))
    return dataclasses.make_dataclass("Ablation", fields, frozen=True)


Ablation = _ablation_class()


def _grid_fields(exploration: str) -> list[str]:
    """The hyper-parameters one exploration's grid spans: the learner's and the strategy's own."""
    used = STRATEGY_HPARAMS.get(exploration, ())  # an unknown name fails in DDPGConfig below
    return [n for n in HParams._fields if n in LEARNER_HPARAMS or n in used]


def varied_fields(ablation: Any, exploration: str) -> list[str]:
    """The grid fields given more than one value (they name the settings)."""
    return [n for n in _grid_fields(exploration) if len(getattr(ablation, n)) > 1]


def grid_points(ablation: Any, exploration: str) -> list[dict[str, Any]]:
    """The settings for one exploration: the product of the grid values it reads (others: first value)."""
    used = _grid_fields(exploration)
    fixed = {n: getattr(ablation, n)[0] for n in HParams._fields if n not in used}
    return [
        dict(fixed, **dict(zip(used, values, strict=True)))
        for values in itertools.product(*(getattr(ablation, n) for n in used))
    ]


def setting_label(exploration: str, point: dict[str, Any], varied: list[str]) -> str:
    """e.g. ``param sigma_init=0.1 target_distance=0.2`` (only the varied fields)."""
    return " ".join([exploration, *(f"{n}={point[n]:g}" for n in varied)])


def configs(ablation: Any) -> dict[str, list[tuple[DDPGConfig, str]]]:
    """Validated ``(config, label)`` pairs, per exploration, one per grid point.

    Raises:
      ValueError: naming the first invalid field (via :class:`DDPGConfig`).
    """
    static = {
        f.name: getattr(ablation, f.name)
        for f in dataclasses.fields(DDPGConfig)
        if f.name not in HParams._fields and f.name != "exploration"
    }
    out = {}
    for exploration in dict.fromkeys(ablation.exploration):
        varied = varied_fields(ablation, exploration)
        out[exploration] = [
            (DDPGConfig(**static, exploration=exploration, **point), setting_label(exploration, point, varied))
            for point in grid_points(ablation, exploration)
        ]
        labels = [label for _, label in out[exploration]]
        if clash := next((label for label in labels if labels.count(label) > 1), None):
            raise ValueError(
                f"grid: two settings print as {clash!r} (values equal to 6 significant digits); "
                "give values that differ there"
            )
    return out


def _slug(label: str) -> str:
    return label.split(" ", 1)[1].replace(" ", ",") if " " in label else "default"


def run_exploration(points: list[tuple[DDPGConfig, str]], ablation: Any, mesh) -> tuple[dict, dict]:
    """Trains every grid point × seed of one exploration in one compiled program."""
    seeds = list(range(ablation.seed, ablation.seed + ablation.num_seeds))
    num_points, num_seeds = len(points), len(seeds)
    keys = jnp.tile(seed_keys(seeds), num_points)  # [G·S], point-major: the same seeds at every point
    grid = jax.tree.map(lambda *xs: jnp.repeat(jnp.stack(xs), num_seeds), *(c.hparams() for c, _ in points))
    config = points[0][0]
    # The static resample_every only sizes the noise pool: size it for the most frequent resampling.
    intervals = [c.resample_every for c, _ in points if c.resample_every > 0]
    program = config.replace(resample_every=min(intervals)) if intervals else config
    metrics, compile_seconds, run_seconds = train_sharded(
        program, (keys, grid), mesh, ablation.progress and is_writer(), config.exploration
    )
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


def main(ablation: Any) -> dict:
    require_distributed_start(ablation)
    use_compilation_cache(ablation.compilation_cache)
    if ablation.num_seeds <= 0:
        fail(f"num_seeds: must be a positive integer, got {ablation.num_seeds}")
    for name in ("exploration", *HParams._fields):
        values = getattr(ablation, name)
        if len(values) == 0:
            fail(f"{name}: give at least one value")
        if repeated := sorted({v for v in values if values.count(v) > 1}, key=str):
            fail(f"{name}: {', '.join(map(str, repeated))} given more than once; give each grid value once")
    per_exploration = guarded(lambda: configs(ablation))
    guarded(lambda: build_env(next(iter(per_exploration.values()))[0][0]))  # an unknown or broken env fails here
    mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(ablation.devices)))
    on_writer(lambda: claim_output_folder(ablation.out, ablation.overwrite, sweep=True))
    on_interrupt(lambda: f"interrupted; no results were written to {ablation.out} (a sweep writes them at its end)")

    compiled_names: list[str] = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, _, fun_name="", **__: compiled_names.append(fun_name) if event == COMPILE_EVENT else None
    )
    records, timings = {}, {}
    for exploration, points in per_exploration.items():
        before = len(compiled_names)
        found, timing = run_exploration(points, ablation, mesh)
        timing["train_compiles"] = compiled_names[before:].count("jit(train)")
        records.update(found)
        timings[exploration] = timing
        print(
            f"{exploration}: {timing['grid_points']} settings × {ablation.num_seeds} seeds, "
            f"compile {timing['compile_seconds']:.1f} s, run {timing['run_seconds']:.1f} s",
            flush=True,
        )

    if not is_writer():  # process 0 writes and reports for every process
        return {"records": records, "timings": timings, "rows": summary_rows(records)}
    rows = write_or_rescue(
        lambda: write_outputs(ablation, per_exploration, records, timings, device_name(mesh.size)),
        {"records": records, "timings": timings},
        ablation.out,
    )
    with open(os.path.join(ablation.out, "summary.md")) as f:
        print(f.read())
    counts = ", ".join(f"{name} {timing['train_compiles']}" for name, timing in timings.items())
    print(f"training-program compiles per exploration kind: {counts}")
    print(f"wrote {ablation.out}/summary.md, summary.csv, returns.png and one metrics.json per setting")
    return {"records": records, "timings": timings, "rows": rows}


def write_outputs(ablation: Any, per_exploration: dict, records: dict, timings: dict, device: str) -> list[dict]:
    """Writes one metrics.json per setting, the summary table, the figures and timings.json into
    ``--out``; returns the summary rows."""
    os.makedirs(ablation.out, exist_ok=True)
    for label, record in records.items():
        folder = os.path.join(ablation.out, record["config"]["exploration"], _slug(label))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "metrics.json"), "w") as f:
            json.dump(record, f, indent=1, allow_nan=False)
    env = next(iter(records.values()))["config"]["env"]
    title = f"{env}: {len(records)} settings × {ablation.num_seeds} seeds"
    rows = summary_rows(records)
    write_summary(rows, os.path.join(ablation.out, "summary.csv"), os.path.join(ablation.out, "summary.md"), title)
    plot_runs(records, os.path.join(ablation.out, "returns"), title)  # returns.png and returns.pdf
    for exploration, points in per_exploration.items():
        varied = varied_fields(ablation, exploration)
        if len(varied) == 2:  # a two-way grid also gets a heatmap of the final IQM
            subset = {label: records[label] for _, label in points}
            path = os.path.join(ablation.out, f"heatmap_{exploration.replace('+', '_')}.png")
            plot_heatmap(subset, varied[0], varied[1], path, f"{env}, {exploration}: final eval return IQM")
    with open(os.path.join(ablation.out, "timings.json"), "w") as f:
        json.dump({"device": device, "jax_version": jax.__version__, "programs": timings}, f, indent=1)
    return rows


def cli(argv: list[str] | None = None) -> None:
    ablation = parse(Ablation, argv, (Ablation,), __doc__, config=(tyro.conf.OmitArgPrefixes,))
    main(ablation)
