"""Does parameter noise explore better? Sparse-reward tasks × every exploration strategy × seeds.

For each task and strategy, one jitted program trains --num-seeds seeds of DDPG at the same step
budget and records the exploration diagnostics: when each seed first reached the goal, how much
of the state plane its first steps covered, and how temporally consistent its exploratory actions
are (autocorrelation of the perturbation a − π_θ(s) along episodes, for a fresh actor at σ₀ and
for the trained one).

Example: python scripts/reproduce.py --out runs/reproduce   (12–13 minutes on 2 idle CPU cores)
         python scripts/reproduce.py --quick --out runs/reproduce_quick   (about 3.5 minutes)
Writes <task>/<exploration>/metrics.json per run and, per task, summary.md, summary.csv and the
figures returns.png, success.png, coverage.png, sigma.png, autocorrelation.png into --out.
Seed k of every strategy starts from the same key, so summary.md compares strategies with paired
tests (exact McNemar for reached / solved, a sign-flip permutation test for the final return),
each against param, with the number of comparisons and Holm-adjusted p-values.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Annotated, Any, NamedTuple

import jax
import numpy as np
import tyro

from pn_jax import DDPGConfig, make_train, parallel
from pn_jax import envs as envs_lib
from pn_jax.cli.common import (
    CACHE_HELP,
    claim_output_folder,
    default_cache_dir,
    fail,
    folder_name,
    guarded,
    parse,
    run_record,
    seed_keys,
    train_sharded,
    use_compilation_cache,
    write_or_rescue,
)
from pn_jax.diagnostics import autocorrelation, exploration_rollout
from pn_jax.noise import EXPLORATIONS
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
    plot_runs,
    seed_band,
    seed_stats,
    series,
    success_curve,
    wilson_ci,
    write_record,
    write_rows_csv,
)

TASKS: dict[str, dict[str, int]] = {
    "MountainCarContinuous-v0": {"total_steps": 100_000, "eval_every": 10_000, "coverage_steps": 20_000},
    "SparsePendulum-v1": {"total_steps": 50_000, "eval_every": 5_000, "coverage_steps": 10_000},
}
"""Step budget (equal for every strategy), evaluation interval and coverage window per task."""

QUICK: dict[str, int] = {"total_steps": 10_000, "eval_every": 5_000, "coverage_steps": 5_000, "eval_episodes": 3}
"""--quick: a small budget for every task (the figures show the pipeline, not the result)."""

ROLLOUT_STEPS, MAX_LAG = 1_000, 100
"""Steps of the autocorrelation rollouts and the longest lag measured."""

SMOOTH_BLOCKS = 25
"""The action-distance curves average this many consecutive adaptation probes."""

COLORS = {"param": "tab:blue", "param+gaussian": "tab:purple", "gaussian": "tab:orange", "ou": "tab:green"}


@dataclasses.dataclass(frozen=True)
class Reproduce:
    """Tasks, strategies and budget; the shared DDPG settings are :class:`pn_jax.DDPGConfig` defaults."""

    env: tuple[str, ...] = tuple(TASKS)
    """tasks to run (any continuous env; the budgets of TASKS apply to those it names)."""
    exploration: tuple[str, ...] = EXPLORATIONS
    """strategies to compare."""
    num_seeds: int = 8
    """seeds per strategy; seed k uses jax.random.key(seed + k) for every strategy, split once into a
    training key and a diagnostics key."""
    seed: int = 0
    """first seed."""
    total_steps: int = 0
    """env steps per seed for every strategy (0: the task's budget from TASKS)."""
    quick: bool = False
    """tiny budget (4 seeds, 10k steps) that checks the pipeline (about 3.5 minutes on 2 CPU cores)."""
    sigma_init: float = 0.2
    """initial parameter-noise σ."""
    target_distance: float = 0.2
    """δ for σ adaptation."""
    resample_every: int = 0
    """0: new perturbation per episode; K: every K steps."""
    layer_norm: bool = True
    """LayerNorm in the actor."""
    action_noise_std: float = 0.2
    """Gaussian / OU action-noise std."""
    out: str = "runs/reproduce"
    """output folder (one that already holds results is refused, except with --report-only)."""
    devices: str = "all"
    """devices to spread the seeds over: 'all' or a count."""
    progress: bool = True
    """show a progress bar per run."""
    report_only: bool = False
    """train nothing: redraw the tables and figures from the metrics.json files already in --out."""
    overwrite: bool = False
    """train into an --out that already holds results, replacing files of the same name."""
    compilation_cache: Annotated[str, tyro.conf.arg(help=CACHE_HELP)] = default_cache_dir()


def task_config(env: str, exploration: str, args: Reproduce) -> DDPGConfig:
    """The :class:`DDPGConfig` of one (task, strategy) run."""
    budget = dict(QUICK) if args.quick else dict(TASKS.get(env, TASKS["SparsePendulum-v1"]))
    if args.total_steps:
        budget["total_steps"] = args.total_steps
        budget["eval_every"] = min(budget["eval_every"], args.total_steps)
        budget["coverage_steps"] = min(budget["coverage_steps"], args.total_steps)
    return DDPGConfig(
        env=env,
        exploration=exploration,
        sigma_init=args.sigma_init,
        target_distance=args.target_distance,
        resample_every=args.resample_every,
        layer_norm=args.layer_norm,
        action_noise_std=args.action_noise_std,
        **budget,
    )


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


def run_task(env: str, args: Reproduce, mesh) -> dict[str, dict]:
    """Trains every strategy on ``env``; writes and returns ``{exploration: metrics.json record}``."""
    seeds = list(range(args.seed, args.seed + args.num_seeds))
    records = {}
    for exploration in args.exploration:
        config = task_config(env, exploration, args)
        (metrics, rho_start, rho_end), compile_seconds, run_seconds = train_sharded(
            config, (seed_keys(seeds),), mesh, args.progress, f"{env} {exploration}", build=with_diagnostics
        )
        record = run_record(config, metrics, seeds, mesh, compile_seconds, run_seconds)
        record["autocorrelation"] = {
            "lag": list(range(MAX_LAG + 1)),
            "rollout_steps": ROLLOUT_STEPS,
            "start": json_list(rho_start),
            "end": json_list(rho_end),
        }
        folder = os.path.join(args.out, folder_name(env), exploration)
        write_or_rescue(functools.partial(write_record, record, folder), record, folder)
        records[exploration] = record
        print(f"{env} {exploration}: compile {compile_seconds:.1f} s, run {run_seconds:.1f} s, {_line(record)}")
    return records


def load_records(env: str, args: Reproduce) -> dict[str, dict]:
    """The metrics.json records a previous run wrote for ``env``, one per strategy."""
    records = {}
    for exploration in args.exploration:
        path = os.path.join(args.out, folder_name(env), exploration, "metrics.json")
        if not os.path.exists(path):
            fail(f"report_only: no run at {path}; train it first (drop --report-only)")
        with open(path) as f:
            records[exploration] = json.load(f)
    return records


def _line(record: dict) -> str:
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
        rho = {when: _rows(record["autocorrelation"][when]) for when in ("start", "end")}
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


def write_table(rows: list[dict], env: str, records: dict[str, dict], folder: str) -> str:
    """Writes ``summary.csv`` and ``summary.md`` (the strategies, then :func:`paired_comparisons`)."""
    write_rows_csv(rows, os.path.join(folder, "summary.csv"))
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
    text = "\n".join(lines + comparison_lines(paired_comparisons(records))) + "\n"
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write(text)
    return text


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rows(values: list) -> np.ndarray:
    """JSON rows (``None`` for missing) as a float array with NaNs."""
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64)


def _finish(fig, axes, path: str, title: str, xlabel: str = "environment steps per seed") -> None:
    """Labels and grids every axis, titles the figure, saves it to ``path`` and closes it."""
    for ax in np.ravel(axes):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    _plt().close(fig)


def plot_success(records: dict[str, dict], path: str, title: str) -> None:
    """Left: fraction of seeds that had reached the goal while training. Right: fraction solving at eval."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=120)
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
    _finish(fig, axes, path, f"{title} (bands: 95% Wilson intervals)")


def plot_coverage(records: dict[str, dict], path: str, title: str) -> None:
    """State-plane visit histograms of the first coverage_steps steps, summed over seeds, one per strategy."""
    from matplotlib.colors import LogNorm

    plt = _plt()
    fig, axes = plt.subplots(1, len(records), figsize=(3.2 * len(records), 3.2), dpi=120, squeeze=False)
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
    _finish(fig, axes, path, f"{title}: {subtitle}", xlabel=coverage["labels"][0])


def plot_sigma(records: dict[str, dict], path: str, title: str) -> None:
    """σ (parameter-noise strategies) and the measured action distance over training, median and IQR."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=120)
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
    _finish(fig, axes, path, f"{title}: noise scale over training (median, IQR over seeds)")


def plot_autocorrelation(records: dict[str, dict], path: str, title: str) -> None:
    """Autocorrelation of a − π_θ(s) against lag, for a fresh actor at σ₀ and for the trained one."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=120, sharey=True)
    bands: set[str] = set()
    for exploration, record in records.items():
        color = COLORS.get(exploration, "tab:gray")
        ac = record["autocorrelation"]
        for ax, when in zip(axes, ("start", "end"), strict=True):
            values = _rows(ac[when])
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
    _finish(fig, axes, path, title, xlabel="lag (steps within an episode)")


def report(env: str, records: dict[str, dict], folder: str) -> str:
    """Writes the summary table and every figure for one task; returns the table."""
    text = write_table(summary_table(records), env, records, folder)
    label = env.split("-")[0]
    plot_runs(records, os.path.join(folder, "returns"), f"{label}: eval return by exploration")  # .png and .pdf
    if next(iter(records.values())).get("goal"):
        plot_success(records, os.path.join(folder, "success.png"), label)
    plot_coverage(records, os.path.join(folder, "coverage.png"), label)
    plot_sigma(records, os.path.join(folder, "sigma.png"), label)
    plot_autocorrelation(records, os.path.join(folder, "autocorrelation.png"), label)
    return text


def validate(args: Reproduce) -> None:
    """Checks the run flags (config fields are checked by :class:`DDPGConfig` itself)."""
    if args.num_seeds <= 0:
        fail(f"num_seeds: must be a positive integer, got {args.num_seeds}")
    if args.total_steps < 0:
        fail(f"total_steps: must be >= 0 (0: the task's budget), got {args.total_steps}")
    for name in ("env", "exploration"):
        if not getattr(args, name):
            fail(f"{name}: give at least one")
    for env in args.env:
        guarded(lambda env=env: envs_lib.make(env))
    for env in args.env:
        for exploration in args.exploration:
            guarded(lambda env=env, exploration=exploration: task_config(env, exploration, args))


def main(args: Reproduce) -> dict[str, dict[str, Any]]:
    use_compilation_cache(args.compilation_cache)
    if args.quick:
        args = dataclasses.replace(args, num_seeds=min(args.num_seeds, 4))
    validate(args)
    if not args.report_only:
        mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(args.devices)))
        claim_output_folder(args.out, args.overwrite, sweep=True)
    results = {}
    for env in args.env:
        records = load_records(env, args) if args.report_only else run_task(env, args, mesh)
        folder = os.path.join(args.out, folder_name(env))
        print(write_or_rescue(functools.partial(report, env, records, folder), records, folder))
        results[env] = records
    return results


def cli(argv: list[str] | None = None) -> None:
    main(parse(Reproduce, argv, (Reproduce,), __doc__))
