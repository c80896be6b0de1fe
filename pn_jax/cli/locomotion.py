"""Locomotion on brax at the paper's DDPG schedule: does parameter noise escape HalfCheetah's upside-down optimum?

Plappert et al. (2018) report that DDPG with action noise often learns to flip the cheetah onto
its back and wiggle forward, while parameter noise finds the upright run. This script trains every
(learner, exploration) pair of a task with the same seeds, budget and settings (``--preset``,
default plappert2018: OpenAI baselines' DDPG as the paper ran it) and measures that behaviour at
every evaluation: the share of evaluation episodes that end with the torso upside down (the
world-z component of its up axis below 0, from the physics state) and, per seed, the step of the
first evaluation that ran upright and forward (no episode upside down, mean return above 0).
After training each seed's unperturbed actor plays ``--final-episodes`` more episodes. It writes
learning curves (IQM with 95% CIs, or the seeds' range below 5 seeds) beside the paper's
published points, σ and the action distance, the upside-down share over training, and a
final-return table with paired tests of each exploration against parameter noise.

Examples:

- python scripts/locomotion.py --out runs/locomotion (halfcheetah: DDPG × param / ou / gaussian / none,
  8 seeds × 300k steps each: 51 minutes measured on 2 CPU cores)
- python scripts/locomotion.py --task hopper --out runs/locomotion (param vs gaussian, 4 seeds: 5 minutes;
  also walker2d: 6 minutes)
- python scripts/locomotion.py --quick --out runs/locomotion_quick (2 tiny runs: 2 minutes, mostly compiling)

The flag --runs picks some of a task's runs (they join those already in --out with --overwrite).
On a GPU the same command runs each learner-strategy pair as one program over all its seeds;
add e.g. --num-seeds 32 --small-seeds 32. Writes <task>/<algo>-<exploration>/metrics.json per run
and, per task, summary.md, summary.csv, returns.png, sigma.png and (halfcheetah) upside_down.png.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from pn_jax.cli.common import (
    check_output_folder,
    claim_output_folder,
    fail,
    folder_name,
    guarded,
    on_interrupt,
    parse,
    use_compilation_cache,
    write_or_rescue,
)
from pn_jax.cli.flags import ReportOutput
from pn_jax.experiments.configs import LocomotionConfig

if TYPE_CHECKING:
    from pn_jax.experiments.locomotion import Task


@dataclasses.dataclass(frozen=True)
class Locomotion(ReportOutput, LocomotionConfig):
    """Task, seeds and budget; everything else is shared by every run (same seeds, same budget)."""

    out: str = "runs/locomotion"


def run_task(args: Locomotion, task: Task) -> None:
    """Trains the runs of ``task`` that ``--runs`` selects, writing each one's metrics.json."""
    from pn_jax.experiments import locomotion
    from pn_jax.experiments.locomotion import run_label
    from pn_jax.results import write_record

    chosen = [run_label(algo, exploration) for algo, exploration, _ in locomotion.selected_runs(args, task)]
    trained: list[str] = []
    # A Ctrl-C names the run in progress: the first one chosen that has not finished.
    on_interrupt(lambda: interrupted_note(args, task, next((n for n in chosen if n not in trained), chosen[-1])))
    for label, record in locomotion.train_runs(args, task, devices=args.devices, progress=args.progress, log=print):
        folder = os.path.join(args.out, folder_name(args.task), label)
        write_or_rescue(functools.partial(write_record, record, folder), record, folder)
        trained.append(label)


def interrupted_note(args: Locomotion, task: Task, label: str) -> str:
    """The line a Ctrl-C during run ``label`` prints: which runs are done and how to train the rest."""
    from pn_jax.experiments.locomotion import run_label

    labels = [run_label(algo, exploration) for algo, exploration, _ in task.runs]
    chosen = [name for name in labels if not args.runs or name in args.runs]
    folder = os.path.join(args.out, folder_name(args.task))
    rest = [name for name in chosen if not os.path.exists(os.path.join(folder, name, "metrics.json"))]
    done = len(chosen) - len(rest)
    return (
        f"interrupted during {args.task} {label}; {done} of {len(chosen)} runs are written in {folder}; "
        f"train the others with the same flags and --runs {' '.join(rest)} --overwrite"
    )


def load_records(args: Locomotion, task: Task) -> dict[str, dict]:
    """The metrics.json records of ``task`` in ``--out``, in the task's order; names the missing ones."""
    from pn_jax.experiments.locomotion import run_label

    records, missing = {}, []
    for algo, exploration, _ in task.runs:
        label = run_label(algo, exploration)
        path = os.path.join(args.out, folder_name(args.task), label, "metrics.json")
        if os.path.exists(path):
            with open(path) as f:
                records[label] = json.load(f)
        else:
            missing.append(label)
    if not records:
        fail(f"report_only: no run of {args.task} in {os.path.join(args.out, folder_name(args.task))}; train it first")
    if missing:
        print(f"not run yet (left out of the report): {', '.join(missing)}", file=sys.stderr)
    return records


def write_report(args: Locomotion, records: dict[str, dict]) -> str:
    """Writes the table and every figure for the task; returns the table."""
    from pn_jax.experiments import locomotion
    from pn_jax.results import plot_runs, write_rows_csv

    folder = os.path.join(args.out, folder_name(args.task))
    summary = locomotion.report(args, records)
    write_rows_csv(summary.rows, os.path.join(folder, "summary.csv"))
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write(summary.markdown)
    title = next(iter(records.values()))["config"]["env"]
    plot_runs(  # returns.png and returns.pdf
        records,
        os.path.join(folder, "returns"),
        f"{title} ({args.preset}): eval return by exploration",
        published=locomotion.task_of(args.task).published,
        published_source=f"{locomotion.PAPER} (not brax)",
    )
    for name, figure in summary.figures.items():
        figure.savefig(os.path.join(folder, f"{name}.png"))
    return summary.markdown


def main(args: Locomotion) -> dict[str, dict[str, Any]]:
    from pn_jax import parallel
    from pn_jax.experiments import locomotion

    use_compilation_cache(args.compilation_cache)
    args, task = guarded(lambda: locomotion.prepare(args))
    if args.report_only:
        records = load_records(args, task)
        check_output_folder(os.path.join(args.out, folder_name(args.task)))
    else:
        guarded(lambda: parallel.select_devices(args.devices))
        check_output_folder(args.out)
        claim_output_folder(os.path.join(args.out, folder_name(args.task)), args.overwrite, sweep=True)
        run_task(args, task)
        records = load_records(args, task)
    print(write_or_rescue(lambda: write_report(args, records), records, os.path.join(args.out, folder_name(args.task))))
    return records


def cli(argv: list[str] | None = None) -> None:
    main(parse(Locomotion, argv, (Locomotion,), __doc__))
