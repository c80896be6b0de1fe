"""On-policy parameter noise: PPO's own sampling vs a larger fixed std vs per-env parameter noise.

For each task and strategy, one jitted program trains ``num_seeds`` seeds of PPO
(:class:`pn_jax.PPOConfig` defaults) at the task's step budget. Every strategy uses minibatches of
whole envs (``minibatch_by_env``, what parameter noise needs), so the runs differ in exploration
alone. Seed k of every strategy starts from the same key, so the summary compares strategies with
paired tests, each against ``param``:

* ``gaussian``: PPO's own exploration, sampling from its Gaussian (learned log-std) or categorical;
* ``wide``: the same with the log-std held at ``wide_log_std`` ("just add more noise"; continuous
  actions only: a categorical policy has no std to widen, and the strategy is skipped there);
* ``param``: every env acts with its own perturbed mean network (σ adapted to a KL target) and
  still samples from that policy's distribution.

Example (a notebook, about two minutes on 2 CPU cores)::

    from pn_jax.experiments import onpolicy
    out = onpolicy.run(onpolicy.Config(env=("MountainCarContinuous-v0",), num_seeds=2, quick=True), log=print)
    print(out.reports["MountainCarContinuous-v0"].markdown)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from pn_jax.catalog import has_continuous_actions
from pn_jax.config import PPOConfig
from pn_jax.experiments.common import Log, mesh_of, run_record, say, seed_keys, seed_list, train_sharded
from pn_jax.experiments.configs import ONPOLICY_TASKS as TASKS
from pn_jax.experiments.configs import OnPolicyConfig as Config
from pn_jax.results import (
    comparison_lines,
    final_returns,
    fmt_stat,
    interval_cell,
    interval_header,
    paired_comparisons,
    seed_stats,
    series,
)

QUICK: dict[str, int] = {"total_steps": 20_000, "eval_every": 10_000, "eval_episodes": 2}
"""``quick``: a small budget for every task (the pipeline, not the result)."""

DEFAULT_BUDGET: dict[str, int] = {"total_steps": 150_000, "eval_every": 10_000}
"""The budget of a task :data:`TASKS` does not list."""


def task_config(env: str, strategy: str, config: Config) -> PPOConfig:
    """The :class:`PPOConfig` of one (task, strategy) run."""
    budget = dict(QUICK) if config.quick else dict(TASKS.get(env, DEFAULT_BUDGET))
    if config.total_steps:
        budget["total_steps"] = config.total_steps
        budget.pop("eval_every")  # derived from the new budget
    shared = dict(env=env, minibatch_by_env=True, **budget)  # every arm: the minibatches param needs
    if strategy == "param":
        return PPOConfig(exploration="param", **shared)
    if strategy == "wide":
        return PPOConfig(init_log_std=config.wide_log_std, learn_log_std=False, **shared)
    if strategy == "gaussian":
        return PPOConfig(**shared)
    raise ValueError(f"strategy: unknown {strategy!r}; choose from gaussian, wide, param")


def strategies(env: str, config: Config) -> tuple[str, ...]:
    """``config.strategy`` without ``wide`` on a task with discrete actions."""
    discrete = has_continuous_actions(env) is False
    return tuple(s for s in config.strategy if not (discrete and s == "wide"))


def prepare(config: Config) -> Config:
    """``config`` as it runs (``quick`` caps the seeds at 2), checked before anything compiles.

    Raises:
      ValueError: naming the first bad field (run settings via :class:`PPOConfig`).
    """
    if config.quick:
        config = dataclasses.replace(config, num_seeds=min(config.num_seeds, 2))
    if config.num_seeds <= 0:
        raise ValueError(f"num_seeds: must be a positive integer, got {config.num_seeds}")
    if config.total_steps < 0:
        raise ValueError(f"total_steps: must be >= 0 (0: the task's budget), got {config.total_steps}")
    for name in ("env", "strategy"):
        if not getattr(config, name):
            raise ValueError(f"{name}: give at least one")
    for env in config.env:
        for strategy in strategies(env, config):
            task_config(env, strategy, config)
    return config


def train_task(
    env: str, config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None
) -> Iterator[tuple[str, dict]]:
    """Trains every strategy of ``config`` on ``env`` in turn (one program of ``num_seeds`` vmapped
    seeds each), yielding ``(strategy, metrics.json record)`` as each finishes."""
    mesh = mesh_of(devices)
    seeds = seed_list(config.seed, config.num_seeds)
    for strategy in strategies(env, config):
        ppo = task_config(env, strategy, config)
        metrics, compile_seconds, run_seconds = train_sharded(
            ppo, (seed_keys(seeds),), mesh, progress, f"{env} {strategy}"
        )
        record = run_record(ppo, metrics, seeds, mesh, compile_seconds, run_seconds)
        say(log, f"{env} {strategy}: compile {compile_seconds:.1f} s, run {run_seconds:.1f} s, {run_line(record)}")
        yield strategy, record


def run_line(record: dict) -> str:
    """Seeds that reached the goal (a task with one), and the final eval IQM."""
    stats = seed_stats(final_returns(record))
    goal = record.get("goal")
    reached = f"reached the goal {sum(s is not None for s in goal['first_step'])}/{stats.seeds}, " if goal else ""
    return f"{reached}final eval IQM {fmt_stat(stats.iqm)}"


def summary_rows(records: dict[str, dict]) -> list[dict]:
    """Per strategy: seeds, reached the goal (and the median first step), solved, final eval IQM with its
    interval, and the final σ and distance (param: σ and KL(π_θ ‖ π_θ+σε); gaussian/wide: the policy's std)."""
    rows = []
    for strategy, record in records.items():
        final = final_returns(record)
        stats = seed_stats(final)
        goal = record.get("goal")
        first = [s for s in goal["first_step"] if s is not None] if goal else []
        sigma, distance = (series(record, name)[1][:, -1] for name in ("sigma", "action_distance"))
        rows.append(
            {
                "strategy": strategy,
                "seeds": stats.seeds,
                "diverged": stats.diverged,
                "reached_goal": len(first) if goal else None,
                "median_first_goal_step": float(np.median(first)) if first else None,
                "solved": int(np.sum(final > goal["solved_return"])) if goal else None,
                "final_iqm": stats.iqm,
                "ci_low": stats.ci_low,
                "ci_high": stats.ci_high,
                "final_sigma": float(np.nanmedian(sigma)),
                "final_kl": float(np.nanmedian(distance)) if strategy == "param" else None,
            }
        )
    return rows


class Report(NamedTuple):
    """One task's outcome: ``rows`` (:func:`summary_rows`), ``comparisons`` (paired tests against
    param) and ``markdown`` (both as tables, with the command that reproduces them)."""

    rows: list[dict]
    comparisons: list[dict]
    markdown: str


def report(env: str, records: dict[str, dict], command: str = "") -> Report:
    """The summary of one task's runs."""
    rows = summary_rows(records)
    comparisons = paired_comparisons(records, reference="param" if "param" in records else None)
    header, mark = interval_header([row["seeds"] - row["diverged"] for row in rows])
    first = next(iter(records.values()))
    budget = f"{first['config']['total_steps']:,} env steps per seed, {rows[0]['seeds']} seeds"
    goal = first.get("goal")
    lines = [f"## {env}: PPO, {budget}", ""]
    if command:
        lines += [f"`{command}`", ""]
    cols = ["strategy"] + (["reached goal", "median first step (of those)", "solved"] if goal else [])
    cols += ["final eval IQM", header, "final σ (param) / std", "final KL(π_θ ‖ π_θ+σε)"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [row["strategy"]]
        if goal:
            median = row["median_first_goal_step"]
            cells += [
                f"{row['reached_goal']}/{row['seeds']}",
                "—" if median is None else f"{median:,.0f}",
                f"{row['solved']}/{row['seeds']}",
            ]
        cells += [
            fmt_stat(row["final_iqm"]),
            interval_cell(row, mark),
            fmt_stat(row["final_sigma"], ".3f"),
            fmt_stat(row["final_kl"], ".4f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += comparison_lines(comparisons)
    return Report(rows, comparisons, "\n".join(lines) + "\n")


class Outcome(NamedTuple):
    """``records[env][strategy]``: metrics.json records; ``reports[env]``: :class:`Report`."""

    records: dict[str, dict[str, dict]]
    reports: dict[str, Report]


def run(config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None) -> Outcome:
    """Trains every (task, strategy) of ``config`` and summarises each task."""
    config = prepare(config)
    records, reports = {}, {}
    for env in config.env:
        records[env] = dict(train_task(env, config, devices=devices, progress=progress, log=log))
        reports[env] = report(env, records[env])
    return Outcome(records, reports)
