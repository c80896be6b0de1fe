"""Does parameter noise explore better? Sparse-reward tasks × every exploration strategy × seeds.

For each task and strategy, one jitted program trains ``num_seeds`` seeds of DDPG at the same step
budget and records the exploration diagnostics: when each seed first reached the goal, how much
of the state plane its first steps covered, and how temporally consistent its exploratory actions
are (autocorrelation of the perturbation a − π_θ(s) along episodes, for a fresh actor at σ₀ and
for the trained one). Seed k of every strategy starts from the same key, so the summary compares
strategies with paired tests.

Example (a notebook, about a minute on 2 CPU cores)::

    from pn_jax.experiments import reproduce
    out = reproduce.run(reproduce.Config(env=("SparsePendulum-v1",), exploration=("param", "gaussian"),
                                         num_seeds=2, total_steps=1200, quick=True), log=print)
    out.reports["SparsePendulum-v1"].figures["autocorrelation"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from pn_jax import DDPGConfig, make_train
from pn_jax import envs as envs_lib
from pn_jax.diagnostics import autocorrelation, exploration_rollout
from pn_jax.experiments.common import Log, figure, mesh_of, nan_rows, say, seed_list, train_record
from pn_jax.experiments.configs import REPRODUCE_TASKS as TASKS
from pn_jax.experiments.configs import ReproduceConfig as Config
from pn_jax.results import (
    band_text,
    comparison_lines,
    coverage_fraction,
    final_returns,
    fmt_stat,
    interval_cell,
    interval_header,
    json_list,
    paired_comparisons,
    seed_band,
    seed_stats,
    series,
    success_curve,
    wilson_ci,
)

QUICK: dict[str, int] = {"total_steps": 10_000, "eval_every": 5_000, "coverage_steps": 5_000, "eval_episodes": 3}
"""``quick``: a small budget for every task (the figures show the pipeline, not the result)."""

ROLLOUT_STEPS, MAX_LAG = 1_000, 100
"""Steps of the autocorrelation rollouts and the longest lag measured."""

SMOOTH_BLOCKS = 25
"""The action-distance curves average this many consecutive adaptation probes."""

COLORS = {"param": "tab:blue", "param+gaussian": "tab:purple", "gaussian": "tab:orange", "ou": "tab:green"}


def task_config(env: str, exploration: str, config: Config) -> DDPGConfig:
    """The :class:`DDPGConfig` of one (task, strategy) run."""
    budget = dict(QUICK) if config.quick else dict(TASKS.get(env, TASKS["SparsePendulum-v1"]))
    if config.total_steps:
        budget["total_steps"] = config.total_steps
        budget["eval_every"] = min(budget["eval_every"], config.total_steps)
        budget["coverage_steps"] = min(budget["coverage_steps"], config.total_steps)
    return DDPGConfig(
        env=env,
        exploration=exploration,
        sigma_init=config.sigma_init,
        target_distance=config.target_distance,
        resample_every=config.resample_every,
        layer_norm=config.layer_norm,
        action_noise_std=config.action_noise_std,
        **budget,
    )


def prepare(config: Config) -> Config:
    """``config`` as it runs (``quick`` caps the seeds at 4), checked before anything compiles.

    Raises:
      ValueError: naming the first bad field (config fields via :class:`DDPGConfig`).
    """
    if config.quick:
        config = dataclasses.replace(config, num_seeds=min(config.num_seeds, 4))
    if config.num_seeds <= 0:
        raise ValueError(f"num_seeds: must be a positive integer, got {config.num_seeds}")
    if config.total_steps < 0:
        raise ValueError(f"total_steps: must be >= 0 (0: the task's budget), got {config.total_steps}")
    for name in ("env", "exploration"):
        if not getattr(config, name):
            raise ValueError(f"{name}: give at least one")
    for env in config.env:
        envs_lib.make(env)
    for env in config.env:
        for exploration in config.exploration:
            task_config(env, exploration, config)
    return config


class RunKeys(NamedTuple):
    """The keys of one seed's run, split once from its key, so no two draws share a stream."""

    train: jax.Array  # the training run (make_train)
    start: jax.Array  # the rollout of a fresh actor at σ₀
    end: jax.Array  # the rollout of the trained actor


def run_keys(key: jax.Array) -> RunKeys:
    """Splits a seed's key into its :class:`RunKeys`."""
    return RunKeys(*jax.random.split(key, len(RunKeys._fields)))


def with_diagnostics(config: DDPGConfig, progress_fn=None):
    """``run(key) -> (None, (metrics, ρ at start, ρ at end))``: a training run plus its diagnostics.

    ρ is the perturbation autocorrelation ``[MAX_LAG + 1]``, measured over ``ROLLOUT_STEPS`` steps
    with a freshly initialised actor at σ₀ (start) and with the trained actor and its final
    exploration state (end). Training and the two rollouts take the keys of :func:`run_keys`.
    """
    train = make_train(config, progress_fn=progress_fn)

    def run(key):
        keys = run_keys(key)
        state, metrics = train(keys.train)
        start = exploration_rollout(keys.start, config, ROLLOUT_STEPS)
        end = exploration_rollout(
            keys.end, config, ROLLOUT_STEPS, state.agent.actor_params, state.exploration, obs_stats=state.obs_stats
        )
        rho = [autocorrelation(r.perturbation, r.done, MAX_LAG) for r in (start, end)]
        return None, (metrics, *rho)

    return run


def train_strategy(env: str, exploration: str, config: Config, mesh, progress: bool = False) -> dict:
    """Trains ``config.num_seeds`` seeds of one strategy on ``env`` in one program; its metrics.json
    record, with ``autocorrelation`` (``start`` / ``end``: ``[S, MAX_LAG + 1]``)."""
    seeds = seed_list(config.seed, config.num_seeds)
    ddpg = task_config(env, exploration, config)
    record, (rho_start, rho_end) = train_record(ddpg, seeds, mesh, progress, f"{env} {exploration}", with_diagnostics)
    record["autocorrelation"] = {
        "lag": list(range(MAX_LAG + 1)),
        "rollout_steps": ROLLOUT_STEPS,
        "start": json_list(rho_start),
        "end": json_list(rho_end),
    }
    return record


def train_task(
    env: str, config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None
) -> Iterator[tuple[str, dict]]:
    """Trains every strategy of ``config`` on ``env`` in turn, yielding ``(exploration, record)`` as
    each finishes (after logging its one-line summary)."""
    mesh = mesh_of(devices)
    for exploration in config.exploration:
        record = train_strategy(env, exploration, config, mesh, progress)
        timing = f"compile {record['compile_seconds']:.1f} s, run {record['run_seconds']:.1f} s"
        say(log, f"{env} {exploration}: {timing}, {run_line(record)}")
        yield exploration, record


def run_line(record: dict) -> str:
    """Seeds solved (a task with a goal), diverged, and the final eval IQM."""
    final = final_returns(record)
    stats = seed_stats(final)
    goal = record.get("goal")
    solved = f"solved {int(np.sum(final > goal['solved_return']))}/{len(final)}, " if goal else ""
    return f"{solved}diverged {stats.diverged}/{stats.seeds}, final eval IQM {fmt_stat(stats.iqm)}"


def summary_table(records: dict[str, dict]) -> list[dict]:
    """Per strategy: seeds solved, reached the goal, diverged; IQM with its interval, coverage, ρ at lag 10.

    The IQM and its interval (a 95% CI from ``FEW_SEEDS`` finite seeds on, else their range) are over
    the seeds whose final return is finite; ``diverged`` counts the others.
    """
    rows = []
    for exploration, record in records.items():
        final = final_returns(record)
        stats = seed_stats(final)
        goal = record.get("goal")
        first = [s for s in goal["first_step"] if s is not None] if goal else []
        rho = {when: nan_rows(record["autocorrelation"][when]) for when in ("start", "end")}
        rows.append(
            {
                "exploration": exploration,
                "seeds": stats.seeds,
                "diverged": stats.diverged,
                "solved": int(np.sum(final > goal["solved_return"])) if goal else None,
                "reached_goal": len(first) if goal else None,
                "median_first_goal_step": float(np.median(first)) if first else None,
                "final_iqm": stats.iqm,
                "ci_low": stats.ci_low,
                "ci_high": stats.ci_high,
                "coverage": float(np.mean(coverage_fraction(record["coverage"]["counts"]))),
                "rho10_start": float(np.nanmean(rho["start"][:, 10])) if np.isfinite(rho["start"]).any() else None,
                "rho10_end": float(np.nanmean(rho["end"][:, 10])) if np.isfinite(rho["end"]).any() else None,
            }
        )
    return rows


def markdown(rows: list[dict], env: str, records: dict[str, dict]) -> str:
    """The summary as Markdown: the strategies' table, then :func:`pn_jax.results.paired_comparisons`."""
    config = next(iter(records.values()))["config"]
    goal = next(iter(records.values())).get("goal")

    def fmt(value, spec=".2f"):
        return "—" if value is None else format(value, spec)

    header, mark = interval_header([r["seeds"] - r["diverged"] for r in rows])

    lines = [
        f"# {env}: {config['total_steps']:,} env steps per seed, {rows[0]['seeds']} seeds per strategy",
        "",
        (f"Solved: final deterministic eval return > {goal['solved_return']:g}. " if goal else "")
        + f"Coverage: cells of a {config['coverage_bins']}² state-plane grid visited in the first "
        f"{config['coverage_steps']:,} steps (mean over seeds). ρ₁₀: autocorrelation of a − π_θ(s) at lag 10 "
        "(fresh actor at σ₀ / trained actor). Final IQM and its interval: over the finite seeds, a 95% "
        "stratified-bootstrap CI from 5 seeds on, the seeds' range [min, max] below; diverged: seeds "
        "whose final return is NaN or ±inf.",
        "",
        f"| exploration | solved | reached goal | median first goal step | diverged | final IQM [{header}] "
        "| coverage | ρ₁₀ start | ρ₁₀ end |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["seeds"]
        lines.append(
            f"| {r['exploration']} | {fmt(r['solved'], 'd')}/{n} | {fmt(r['reached_goal'], 'd')}/{n} | "
            f"{fmt(r['median_first_goal_step'], ',.0f')} | {r['diverged']}/{n} | "
            f"{fmt_stat(r['final_iqm'])} {interval_cell(r, mark)} | "
            f"{r['coverage']:.1%} | {fmt(r['rho10_start'])} | {fmt(r['rho10_end'])} |"
        )
    return "\n".join(lines + comparison_lines(paired_comparisons(records))) + "\n"


def _finish(fig, axes, title: str, xlabel: str = "environment steps per seed"):
    """Labels and grids every axis, titles the figure and lays it out; returns it."""
    for ax in np.ravel(axes):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def success_figure(records: dict[str, dict], title: str):
    """Left: fraction of seeds that had reached the goal while training. Right: fraction solving at eval."""
    fig, axes = figure(1, 2, figsize=(11, 4), dpi=120)
    for exploration, record in records.items():
        color = COLORS.get(exploration, "tab:gray")
        n = len(record["seeds"])
        steps = np.linspace(0, record["config"]["total_steps"], 201)
        reached = success_curve(record["goal"]["first_step"], steps)
        eval_steps, returns = series(record, "eval")
        solving = np.mean(returns > record["goal"]["solved_return"], axis=0)
        for ax, x, y in ((axes[0], steps, reached), (axes[1], eval_steps, solving)):
            low, high = wilson_ci(y * n, n)
            label = f"{exploration} ({round(y[-1] * n)}/{n} at the end)"
            ax.plot(x, y, color=color, label=label, drawstyle="steps-post" if ax is axes[0] else "default")
            ax.fill_between(x, low, high, color=color, alpha=0.07, step="post" if ax is axes[0] else None)
    axes[0].set_ylabel("seeds that reached the goal (training)")
    axes[1].set_ylabel(f"seeds with eval return > {next(iter(records.values()))['goal']['solved_return']:g}")
    for ax in axes:
        ax.set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.legend(loc="upper left", fontsize=7)
    return _finish(fig, axes, f"{title} (bands: 95% Wilson intervals)")


def coverage_figure(records: dict[str, dict], title: str):
    """State-plane visit histograms of the first coverage_steps steps, summed over seeds, one per strategy."""
    from matplotlib.colors import LogNorm

    fig, axes = figure(1, len(records), figsize=(3.2 * len(records), 3.2), dpi=120, squeeze=False)
    for ax, (exploration, record) in zip(axes[0], records.items(), strict=True):
        cov = record["coverage"]
        counts = np.sum(np.array(cov["counts"]), axis=0).T  # [y, x]
        extent = (cov["low"][0], cov["high"][0], cov["low"][1], cov["high"][1])
        ax.imshow(np.where(counts > 0, counts, np.nan), origin="lower", extent=extent, aspect="auto",
                  cmap="viridis", norm=LogNorm(vmin=1))  # fmt: skip
        visited = np.mean(coverage_fraction(cov["counts"]))
        ax.set_title(f"{exploration}: {visited:.0%} of cells", fontsize=9)
    coverage = next(iter(records.values()))["coverage"]
    axes[0, 0].set_ylabel(coverage["labels"][1])
    subtitle = f"states visited in the first {coverage['steps']:,} steps (all seeds)"
    return _finish(fig, axes, f"{title}: {subtitle}", xlabel=coverage["labels"][0])


def sigma_figure(records: dict[str, dict], title: str):
    """σ (parameter-noise strategies) and the measured action distance over training, median and IQR."""
    fig, axes = figure(1, 2, figsize=(11, 4), dpi=120)
    for i, (exploration, record) in enumerate(records.items()):
        color = COLORS.get(exploration, f"C{i}")
        for ax, name in zip(axes, ("sigma", "action_distance"), strict=True):
            if name == "sigma" and not record["config"]["exploration"].startswith("param"):
                continue
            steps, values = series(record, name)
            if name == "action_distance":  # one noisy probe per block: smooth over SMOOTH_BLOCKS
                window = min(SMOOTH_BLOCKS, len(steps))
                values = np.array([np.convolve(row, np.ones(window) / window, mode="valid") for row in values])
                steps = steps[window - 1 :]
            ax.plot(steps, np.nanmedian(values, axis=0), color=color, label=exploration)
            q25, q75 = np.nanquantile(values, [0.25, 0.75], axis=0)
            ax.fill_between(steps, q25, q75, color=color, alpha=0.15)
    delta = next(iter(records.values()))["config"]["target_distance"]
    axes[1].axhline(delta, color="black", linestyle=":", linewidth=1, label=f"δ = {delta:g}")
    axes[0].set_ylabel("parameter-noise σ")
    axes[0].set_yscale("log")
    axes[1].set_ylabel(f"action distance (rolling mean of {SMOOTH_BLOCKS} probes)")
    for ax in axes:
        ax.legend(fontsize=8)
    return _finish(fig, axes, f"{title}: noise scale over training (median, IQR over seeds)")


def autocorrelation_figure(records: dict[str, dict], title: str):
    """Autocorrelation of a − π_θ(s) against lag, for a fresh actor at σ₀ and for the trained one."""
    fig, axes = figure(1, 2, figsize=(11, 4), dpi=120, sharey=True)
    bands: set[str] = set()
    for exploration, record in records.items():
        color = COLORS.get(exploration, "tab:gray")
        ac = record["autocorrelation"]
        for ax, when in zip(axes, ("start", "end"), strict=True):
            values = nan_rows(ac[when])
            if not np.isfinite(values).any():
                continue  # no perturbation (exploration "none")
            low, high, band = seed_band(values, statistic=np.nanmean)
            bands.add(band)
            ax.plot(ac["lag"], np.nanmean(values, axis=0), color=color, label=exploration)
            ax.fill_between(ac["lag"], low, high, color=color, alpha=0.15)
    axes[0].set_title("fresh actor, σ₀", fontsize=9)
    axes[1].set_title("trained actor, final σ", fontsize=9)
    axes[0].set_ylabel("autocorrelation of a − π_θ(s)")
    for ax in axes:
        ax.axhline(0, color="black", linewidth=0.6)
        ax.legend(fontsize=8)
    title = f"{title}: temporal consistency of exploration (mean over seeds; band: {band_text(bands)})"
    return _finish(fig, axes, title, xlabel="lag (steps within an episode)")


class Report(NamedTuple):
    """One task's summary: the table rows, the Markdown, and the figures by name."""

    rows: list[dict]  # summary_table
    markdown: str
    figures: dict[str, Any]  # success (a task with a goal), coverage, sigma, autocorrelation: matplotlib Figures


def title(env: str) -> str:
    """A task's name in titles: ``SparsePendulum`` for ``SparsePendulum-v1``."""
    return env.split("-")[0]


def report(env: str, records: dict[str, dict]) -> Report:
    """The table and the diagnostic figures of one task's ``{exploration: record}`` (the eval-return
    figure is :func:`pn_jax.results.plot_runs`'s)."""
    rows = summary_table(records)
    label = title(env)
    figures = {}
    if next(iter(records.values())).get("goal"):
        figures["success"] = success_figure(records, label)
    figures["coverage"] = coverage_figure(records, label)
    figures["sigma"] = sigma_figure(records, label)
    figures["autocorrelation"] = autocorrelation_figure(records, label)
    return Report(rows, markdown(rows, env, records), figures)


class Result(NamedTuple):
    """What :func:`run` returns, keyed by task."""

    records: dict[str, dict[str, dict]]  # {env: {exploration: metrics.json record}}
    reports: dict[str, Report]  # {env: Report}


def run(config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None) -> Result:
    """Trains every task × strategy of ``config`` and reports each task.

    Args:
      config: the experiment (``quick`` caps the seeds at 4, as :func:`prepare` says).
      devices: ``"all"`` or a count of devices to spread the seeds over.
      progress: show a progress bar per run.
      log: receives one line per finished run (e.g. ``print``).

    Raises:
      ValueError: naming a bad field, before anything compiles.
    """
    config = prepare(config)
    records, reports = {}, {}
    for env in config.env:
        records[env] = dict(train_task(env, config, devices=devices, progress=progress, log=log))
        reports[env] = report(env, records[env])
    return Result(records, reports)
