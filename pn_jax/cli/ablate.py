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
import functools
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import tyro

from pn_jax import DDPGConfig
from pn_jax.cli.common import (
    DISTRIBUTED_FIELDS,
    claim_output_folder,
    field_docs,
    guarded,
    is_writer,
    join_lines,
    on_interrupt,
    on_writer,
    parse,
    require_distributed_start,
    use_compilation_cache,
    write_or_rescue,
)
from pn_jax.cli.flags import Output
from pn_jax.experiments.configs import GRID_FIELDS, GRID_RUN_FIELDS, Grid

if TYPE_CHECKING:
    from pn_jax.experiments import ablate


def _ablation_class() -> type:
    """:class:`pn_jax.experiments.configs.Grid` with each field's help (grid fields: "one or more
    values"), the output flags and the multi-process flags."""
    docs = {**field_docs(DDPGConfig), **{name: doc for name, (_, _, doc) in GRID_RUN_FIELDS.items()}}
    fields: list[Any] = []
    for f in dataclasses.fields(Grid):
        doc = docs.get(f.name, "") + (" Grid: one or more values." if f.name in GRID_FIELDS else "")
        fields.append(
            (f.name, Annotated[f.type, tyro.conf.arg(help=join_lines(doc))], dataclasses.field(default=f.default))
        )
    fields.append(("out", str, dataclasses.field(default="runs/ablate")))
    for name, (kind, value, doc) in DISTRIBUTED_FIELDS.items():
        fields.append((name, Annotated[kind, tyro.conf.arg(help=doc)], dataclasses.field(default=value)))
    return dataclasses.make_dataclass("Ablation", fields, bases=(Output, Grid), frozen=True)


Ablation = _ablation_class()


def main(ablation: Any) -> dict:
    from pn_jax import parallel
    from pn_jax.experiments import ablate
    from pn_jax.experiments.common import device_name

    require_distributed_start(ablation)
    use_compilation_cache(ablation.compilation_cache)
    guarded(lambda: ablate.prepare(ablation))
    devices = guarded(lambda: parallel.select_devices(ablation.devices))
    on_writer(lambda: claim_output_folder(ablation.out, ablation.overwrite, sweep=True))
    on_interrupt(lambda: f"interrupted; no results were written to {ablation.out} (a sweep writes them at its end)")
    result = ablate.run(
        ablation,
        devices=ablation.devices,
        progress=ablation.progress and is_writer(),
        log=functools.partial(print, flush=True),
    )
    records, timings = result.records, result.timings
    if not is_writer():  # process 0 writes and reports for every process
        return result._asdict()
    write_or_rescue(
        lambda: write_outputs(ablation, result, device_name(len(devices))),
        {"records": records, "timings": timings},
        ablation.out,
    )
    with open(os.path.join(ablation.out, "summary.md")) as f:
        print(f.read())
    counts = ", ".join(f"{name} {timing['train_compiles']}" for name, timing in timings.items())
    print(f"training-program compiles per exploration kind: {counts}")
    print(f"wrote {ablation.out}/summary.md, summary.csv, returns.png and one metrics.json per setting")
    return result._asdict()


def write_outputs(ablation: Any, result: ablate.Result, device: str) -> None:
    """Writes one metrics.json per setting, the summary table, the figures and timings.json into ``--out``."""
    import jax

    from pn_jax.experiments import ablate
    from pn_jax.results import plot_heatmap, plot_runs, write_summary

    os.makedirs(ablation.out, exist_ok=True)
    for label, record in result.records.items():
        folder = os.path.join(ablation.out, record["config"]["exploration"], ablate.setting_folder(label))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "metrics.json"), "w") as f:
            json.dump(record, f, indent=1, allow_nan=False)
    env = next(iter(result.records.values()))["config"]["env"]
    title = f"{env}: {len(result.records)} settings × {ablation.num_seeds} seeds"
    write_summary(
        result.rows, os.path.join(ablation.out, "summary.csv"), os.path.join(ablation.out, "summary.md"), title
    )
    plot_runs(result.records, os.path.join(ablation.out, "returns"), title)  # returns.png and returns.pdf
    for exploration, (records, x, y) in ablate.heatmaps(ablation, result.records).items():
        path = os.path.join(ablation.out, f"heatmap_{exploration.replace('+', '_')}.png")
        plot_heatmap(records, x, y, path, f"{env}, {exploration}: final eval return IQM")
    with open(os.path.join(ablation.out, "timings.json"), "w") as f:
        json.dump({"device": device, "jax_version": jax.__version__, "programs": result.timings}, f, indent=1)


def cli(argv: list[str] | None = None) -> None:
    ablation = parse(Ablation, argv, (Ablation,), __doc__, config=(tyro.conf.OmitArgPrefixes,))
    main(ablation)
