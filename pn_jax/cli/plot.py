"""Overlay several runs in one figure for a paper: eval return vs env steps, one IQM curve per run.

Example: python scripts/plot.py runs/param runs/ou runs/gaussian --out figures/pendulum
writes figures/pendulum.png (300 dpi) and figures/pendulum.pdf (--out FIG.svg: FIG.png and FIG.svg).
Each RUN_DIR is a folder holding a metrics.json: a pn-train --out, or one setting's folder of
pn-ablate or pn-reproduce (a metrics.json file's own path works too). Each curve is the IQM over
that run's seeds, shaded with a 95% bootstrap CI from 5 seeds on and the seeds' range below 5; the
legend's title says which. The figure is one paper column wide (3.4 in; 7 in for more than 6 runs),
with no text below 8 pt. Legend labels say what differs between the runs (preset, learner,
exploration, env, else the folder names) unless --labels gives them; the title is the env unless
given (--title '' for none).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import tyro

from pn_jax.cli.common import check_output_folder, fail, guarded, parse

if TYPE_CHECKING:
    from pn_jax.results import RunsFigure


@dataclasses.dataclass(frozen=True)
class Plot:
    """The runs to overlay and where the figure goes."""

    runs: tyro.conf.Positional[
        Annotated[tuple[str, ...], tyro.conf.arg(metavar="RUN_DIR [RUN_DIR ...]", help_behavior_hint="(required)")]
    ]
    """run folders, each holding a metrics.json (in legend order)."""
    out: Annotated[str, tyro.conf.arg(metavar="FIG")]
    """the figure: FIG, FIG.png or FIG.pdf writes FIG.png and FIG.pdf; FIG.svg writes FIG.png and FIG.svg."""
    labels: Annotated[
        tuple[str, ...], tyro.conf.arg(metavar="LABEL [LABEL ...]", help_behavior_hint="(default: what differs)")
    ] = ()
    """legend labels, one per RUN_DIR, in their order."""
    title: Annotated[str | None, tyro.conf.arg(help_behavior_hint="(default: the env, if all runs share one)")] = None
    """title above the axes ('' for none)."""


def read_run(path: str) -> tuple[str, dict]:
    """``(folder, metrics.json record)`` of a run folder (or of a metrics.json file's path), or a
    one-line error exit naming what is wrong with it."""
    from pn_jax.results import runs_in

    if not os.path.exists(path):
        fail(f"runs: {path} does not exist; give run folders that hold a metrics.json")
    if os.path.isdir(path):
        folder, file = path, os.path.join(path, "metrics.json")
        if not os.path.isfile(file):
            below = [os.path.dirname(p) for p in runs_in(path) if os.path.basename(p) == "metrics.json"]
            hint = (
                f"; the runs below it are in {', '.join(os.path.join(path, p) for p in below[:4])}"
                + (f" and {len(below) - 4} more" if len(below) > 4 else "")
                if below
                else " (a run folder of pn-train, pn-ablate or pn-reproduce holds one)"
            )
            fail(f"runs: {path} holds no metrics.json{hint}")
    else:
        folder, file = os.path.dirname(path) or ".", path
    try:
        with open(file) as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fail(f"runs: cannot read {file} ({text})")
    problem = _not_a_record(record)
    if problem:
        fail(f"runs: {file} is not a run's metrics.json: {problem}")
    return folder, record


def _not_a_record(record: object) -> str | None:
    """What keeps ``record`` from being plotted (None if nothing)."""
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        return "it has no config"
    if "env" not in record["config"] or "exploration" not in record["config"]:
        return "its config names no env and exploration"
    evaluation = record.get("eval")
    if not isinstance(evaluation, dict) or not isinstance(evaluation.get("step"), list):
        return "it has no eval series"
    returns = evaluation.get("return")
    if not evaluation["step"]:
        return "it has no evaluation yet"
    if not isinstance(returns, list) or not returns or any(len(row) != len(evaluation["step"]) for row in returns):
        return "its eval returns do not match its eval steps"
    return None


def main(args: Plot) -> RunsFigure:
    """Reads the runs, writes the figure and says where; returns what :func:`plot_runs` wrote."""
    from pn_jax.results import figure_paths, plot_runs, run_labels

    if not args.runs:
        fail("runs: give the run folders to plot, e.g. pn-plot runs/param runs/ou --out figures/pendulum")
    if args.labels and len(args.labels) != len(args.runs):
        fail(f"labels: {len(args.labels)} given for {len(args.runs)} runs; give one per RUN_DIR, or none")
    if len(set(args.labels)) < len(args.labels):
        twice = next(label for label in args.labels if args.labels.count(label) > 1)
        fail(f"labels: {twice!r} is given twice; each run needs its own label")
    png, vector = guarded(lambda: figure_paths(args.out))
    runs = [read_run(path) for path in args.runs]
    folders = [os.path.realpath(folder) for folder, _ in runs]
    if len(set(folders)) < len(folders):
        twice = next(path for path, folder in zip(args.runs, folders, strict=True) if folders.count(folder) > 1)
        fail(f"runs: {twice} is given twice")
    check_output_folder(os.path.dirname(png) or ".")
    records = [record for _, record in runs]
    labels = list(args.labels) or run_labels(records, [folder for folder, _ in runs])
    envs = list(dict.fromkeys(record["config"]["env"] for record in records))
    if len(envs) > 1:
        print(
            f"warning: the runs are on different envs ({', '.join(envs)}); their returns share one axis",
            file=sys.stderr,
        )
    title = args.title if args.title is not None else (envs[0] if len(envs) == 1 else None)
    try:
        figure = plot_runs(dict(zip(labels, records, strict=True)), args.out, title or None)
    except OSError as err:
        fail(f"out: cannot write {png} and {vector} ({err.strerror or err})")
    print(f"wrote {figure.png} and {figure.vector}: {len(records)} runs, IQM over seeds, shaded: {figure.band}")
    return figure


def cli(argv: list[str] | None = None) -> None:
    main(parse(Plot, argv, (Plot,), __doc__))
