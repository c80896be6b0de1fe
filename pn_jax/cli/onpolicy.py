"""On-policy parameter noise: PPO's own sampling vs a larger fixed std vs per-env parameter noise.

For each task and strategy, one jitted program trains --num-seeds seeds of PPO (pn-train --algo
ppo's defaults, with minibatches of whole envs in every strategy: what param needs, so that the
strategies differ in exploration alone) at the task's step budget: gaussian (PPO's own sampling),
wide (the log-std held at --wide-log-std) and param (every env acts with its own perturbed mean
network, σ adapted to a KL target). In summary.md "final σ (param) / std" is param's σ and the
others' policy std, and the final KL is param's on its last rollout. Seed k of every strategy
starts from the same key, so summary.md compares them with paired tests against param (exact
McNemar for reached the goal / solved, a sign-flip permutation test for the final return), with
the number of comparisons and Holm-adjusted p-values.

Examples:

- python scripts/onpolicy.py --out runs/onpolicy (MountainCarContinuous-v0 and SparsePendulum-v1, 8 seeds)
- python scripts/onpolicy.py --env Pendulum-v1 DeepSea-20 --out runs/onpolicy_dense
- python scripts/onpolicy.py --quick --out runs/onpolicy_quick (a few minutes)

It writes <task>/<strategy>/metrics.json per run and, per task, summary.md, summary.csv and
returns.png into --out.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import sys

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
from pn_jax.experiments.configs import OnPolicyConfig


@dataclasses.dataclass(frozen=True)
class OnPolicy(ReportOutput, OnPolicyConfig):
    """Tasks, strategies, seeds and budget; every run is PPO (pn-train --algo ppo's defaults, whole-env minibatches)."""

    out: str = "runs/onpolicy"


def run_task(env: str, args: OnPolicy) -> dict[str, dict]:
    """Trains every strategy on ``env``, writing each one's metrics.json as it finishes."""
    from pn_jax.experiments import onpolicy

    runs = onpolicy.train_task(env, args, devices=args.devices, progress=args.progress, log=print)
    return write_runs(runs, os.path.join(args.out, folder_name(env)))


def load_records(env: str, args: OnPolicy) -> dict[str, dict]:
    """The metrics.json records a previous run wrote for ``env``, one per strategy."""
    from pn_jax.experiments import onpolicy

    return read_runs(os.path.join(args.out, folder_name(env)), onpolicy.strategies(env, args))


def write_report(env: str, records: dict[str, dict], folder: str, command: str) -> str:
    """Writes summary.md, summary.csv and returns.png for one task; returns the summary."""
    from pn_jax.experiments import onpolicy
    from pn_jax.results import plot_runs, write_rows_csv

    summary = onpolicy.report(env, records, command)
    write_rows_csv(summary.rows, os.path.join(folder, "summary.csv"))
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write(summary.markdown)
    plot_runs(records, os.path.join(folder, "returns"), f"{env}: PPO eval return by exploration")
    return summary.markdown


def main(args: OnPolicy, argv: list[str] | None = None) -> dict[str, dict[str, dict]]:
    from pn_jax import parallel
    from pn_jax.experiments import onpolicy

    use_compilation_cache(args.compilation_cache)
    args = guarded(lambda: onpolicy.prepare(args))
    if not args.report_only:
        guarded(lambda: parallel.select_devices(args.devices))
        claim_output_folder(args.out, args.overwrite, sweep=True)
    command = "" if args.report_only else shlex.join(["pn-onpolicy", *(sys.argv[1:] if argv is None else argv)])
    results = {}
    for env in args.env:
        records = load_records(env, args) if args.report_only else run_task(env, args)
        folder = os.path.join(args.out, folder_name(env))
        print(write_or_rescue(functools.partial(write_report, env, records, folder, command), records, folder))
        results[env] = records
    return results


def cli(argv: list[str] | None = None) -> None:
    main(parse(OnPolicy, argv, (OnPolicy,), __doc__), argv)
