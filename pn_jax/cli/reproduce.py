"""Does parameter noise explore better? Sparse-reward tasks × every exploration strategy × seeds.

For each task and strategy, one jitted program trains --num-seeds seeds of DDPG at the same step
budget and records the exploration diagnostics: when each seed first reached the goal, how much
of the state plane its first steps covered, and how temporally consistent its exploratory actions
are (autocorrelation of the perturbation a − π_θ(s) along episodes, for a fresh actor at σ₀ and
for the trained one).

Examples:

- python scripts/reproduce.py --out runs/reproduce (12–13 minutes on 2 idle CPU cores)
- python scripts/reproduce.py --quick --out runs/reproduce_quick (about 3.5 minutes)

It writes <task>/<exploration>/metrics.json per run and, per task, summary.md, summary.csv and the
figures returns.png, success.png, coverage.png, sigma.png, autocorrelation.png into --out.
Seed k of every strategy starts from the same key, so summary.md compares strategies with paired
tests (exact McNemar for reached / solved, a sign-flip permutation test for the final return),
each against param, with the number of comparisons and Holm-adjusted p-values.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

from pn_jax.cli.common import (
    claim_output_folder,
    folder_name,
    guarded,
    parse,
    read_runs,
    use_compilation_cache,
    write_or_rescue,
    write_runs,
)
from pn_jax.cli.flags import ReportOutput
from pn_jax.experiments.configs import ReproduceConfig


@dataclasses.dataclass(frozen=True)
class Reproduce(ReportOutput, ReproduceConfig):
    """Tasks, strategies and budget; the shared DDPG settings are :class:`pn_jax.DDPGConfig` defaults."""

    out: str = "runs/reproduce"


def run_task(env: str, args: Reproduce) -> dict[str, dict]:
    """Trains every strategy on ``env``, writing each one's metrics.json as it finishes; returns
    ``{exploration: record}``."""
    from pn_jax.experiments import reproduce

    runs = reproduce.train_task(env, args, devices=args.devices, progress=args.progress, log=print)
    return write_runs(runs, os.path.join(args.out, folder_name(env)))


def load_records(env: str, args: Reproduce) -> dict[str, dict]:
    """The metrics.json records a previous run wrote for ``env``, one per strategy."""
    return read_runs(os.path.join(args.out, folder_name(env)), args.exploration)


def write_report(env: str, records: dict[str, dict], folder: str) -> str:
    """Writes the summary table and every figure for one task; returns the table."""
    from pn_jax.experiments import reproduce
    from pn_jax.results import plot_runs, write_rows_csv

    summary = reproduce.report(env, records)
    write_rows_csv(summary.rows, os.path.join(folder, "summary.csv"))
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write(summary.markdown)
    title = f"{reproduce.title(env)}: eval return by exploration"
    plot_runs(records, os.path.join(folder, "returns"), title)  # returns.png and returns.pdf
    for name, figure in summary.figures.items():
        figure.savefig(os.path.join(folder, f"{name}.png"))
    return summary.markdown


def main(args: Reproduce) -> dict[str, dict[str, Any]]:
    from pn_jax import parallel
    from pn_jax.experiments import reproduce

    use_compilation_cache(args.compilation_cache)
    args = guarded(lambda: reproduce.prepare(args))
    if not args.report_only:
        guarded(lambda: parallel.select_devices(args.devices))
        claim_output_folder(args.out, args.overwrite, sweep=True)
    results = {}
    for env in args.env:
        records = load_records(env, args) if args.report_only else run_task(env, args)
        folder = os.path.join(args.out, folder_name(env))
        print(write_or_rescue(functools.partial(write_report, env, records, folder), records, folder))
        results[env] = records
    return results


def cli(argv: list[str] | None = None) -> None:
    main(parse(Reproduce, argv, (Reproduce,), __doc__))
