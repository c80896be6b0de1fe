"""Locomotion on brax at the paper's DDPG schedule: does parameter noise escape HalfCheetah's upside-down optimum?

Plappert et al. (2018) report that DDPG with action noise often learns to flip the cheetah onto
its back and wiggle forward, while parameter noise finds the upright run. This experiment trains
every (learner, exploration) pair of a task with the same seeds, budget and settings (``preset``,
default plappert2018: OpenAI baselines' DDPG as the paper ran it) and measures that behaviour at
every evaluation: the share of evaluation episodes that end with the torso upside down (the
world-z component of its up axis below 0, from the physics state) and, per seed, the step of the
first evaluation that ran upright and forward (no episode upside down, mean return above 0).
After training each seed's unperturbed actor plays ``final_episodes`` more episodes.

Example (a notebook; the brax extra, about 2 minutes on 2 CPU cores, mostly compiling)::

    from pn_jax.experiments import locomotion
    out = locomotion.run(locomotion.Config(quick=True), log=print)
    print(out.report.markdown); out.report.figures["upside_down"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from pn_jax import DDPGConfig, make_train
from pn_jax import envs as envs_lib
from pn_jax.config import PRESETS, preset
from pn_jax.experiments.common import Log, figure, mesh_of, say, seed_list, train_record
from pn_jax.experiments.configs import LocomotionConfig as Config
from pn_jax.experiments.reproduce import sigma_figure
from pn_jax.networks import Actor
from pn_jax.results import (
    algo_label,
    comparison_lines,
    fmt_stat,
    interval_cell,
    interval_header,
    json_list,
    paired_comparisons,
    series,
    summary_rows,
    with_holm,
)
from pn_jax.train import network_input, run_episodes


class Task(NamedTuple):
    """A locomotion experiment: the env, every (algo, exploration, seeds) run, the step budget, and
    published points to draw beside the curves."""

    env: str
    runs: tuple[tuple[str, str, str], ...]  # (algo, exploration, "main" or "small" seed count)
    total_steps: int
    published: tuple[tuple[str, int, float], ...] = ()  # (run label, env step, return)
    flips: bool = False  # the body can end up on its back without the episode ending (the upside-down diagnostic)


PAPER = "Plappert et al. 2018, MuJoCo"
"""Whose published points the figures show: read off the HalfCheetah DDPG curves of the paper's runs
in OpenAI's baselines-results plots (parameter noise ≈ 3.4k, OU ≈ 2.5k, Gaussian ≈ 1.6k at 300k steps)."""

TASKS: dict[str, Task] = {
    "halfcheetah": Task(
        "brax/halfcheetah",
        (
            ("ddpg", "param", "main"),
            ("ddpg", "ou", "main"),
            ("ddpg", "gaussian", "main"),
            ("ddpg", "none", "main"),
        ),
        300_000,
        (("ddpg-param", 300_000, 3400.0), ("ddpg-ou", 300_000, 2500.0), ("ddpg-gaussian", 300_000, 1600.0)),
        flips=True,
    ),
    "hopper": Task("brax/hopper", (("ddpg", "param", "small"), ("ddpg", "gaussian", "small")), 300_000),
    "walker2d": Task("brax/walker2d", (("ddpg", "param", "small"), ("ddpg", "gaussian", "small")), 300_000),
}
"""The paper's HalfCheetah comparison, and Hopper and Walker2d, whose episodes end when they fall (so
they never end upside down, and a return above 0 is only staying alive: no flip diagnostic there)."""


def task_of(name: str) -> Task:
    """The task of ``task``: one of :data:`TASKS`, or your own continuous env by name (registered or
    ``package.module:callable``), run as DDPG × param / gaussian on the main seeds for 300k steps."""
    if name in TASKS:
        return TASKS[name]
    return Task(name, (("ddpg", "param", "main"), ("ddpg", "gaussian", "main")), 300_000)


UPSIDE_DOWN = 0.0
"""An episode ends upside down when the torso's up axis has a world-z component below this."""


def quick_args(config: Config) -> tuple[Config, Task]:
    """The task to run, and the config after ``quick`` shrinks it."""
    task = task_of(config.task)
    if not config.quick:
        return config, task
    runs = tuple(r for r in task.runs if r[0] == "ddpg" and r[1] in ("param", "gaussian"))
    small = dict(num_seeds=2, small_seeds=2, total_steps=8_000, learning_starts=2_000)
    config = dataclasses.replace(config, **small, evaluations=2, eval_episodes=2, final_episodes=2)
    return config, task._replace(runs=runs)


def run_config(algo: str, exploration: str, config: Config, task: Task) -> DDPGConfig:
    """The config of one run: the preset's settings, with the shared budget and evaluation schedule."""
    total = config.total_steps or task.total_steps
    chosen = {name: getattr(config, name) for name in ("num_envs", "updates_per_step", "learning_starts")}
    return preset(
        config.preset,
        algo,
        env=task.env,
        exploration=exploration,
        total_steps=total,
        eval_every=total // config.evaluations,
        eval_episodes=config.eval_episodes,
        brax_backend=config.brax_backend,
        **{name: value for name, value in chosen.items() if value is not None},
    )


def run_label(algo: str, exploration: str) -> str:
    return f"{algo}-{exploration}"


def prepare(config: Config) -> tuple[Config, Task]:
    """``(config as it runs, its task)`` (``quick`` shrinks it), checked before anything compiles.

    Raises:
      ValueError: naming the first bad field (the run configs' own fields via the configs).
    """
    name = config.task
    if name not in TASKS and not (envs_lib.is_entry_point(name) or envs_lib.is_registered(name)):
        choices = f"choose one of {', '.join(TASKS)}, or your own env as package.module:callable"
        raise ValueError(f"task: {choices}; got {name!r}")
    if name not in TASKS:
        envs_lib.make(name, brax_backend=config.brax_backend)
    if config.preset not in PRESETS:
        raise ValueError(f"preset: unknown preset {config.preset!r}; choose one of {', '.join(PRESETS)}")
    config, task = quick_args(config)
    for field in ("num_seeds", "small_seeds", "evaluations", "final_episodes"):
        if getattr(config, field) <= 0:
            raise ValueError(f"{field}: must be a positive integer, got {getattr(config, field)}")
    if config.total_steps < 0:
        raise ValueError(f"total_steps: must be >= 0 (0: the task's budget), got {config.total_steps}")
    if config.small_seeds > config.num_seeds:
        raise ValueError(f"small_seeds ({config.small_seeds}) must not exceed num_seeds ({config.num_seeds})")
    labels = [run_label(algo, exploration) for algo, exploration, _ in task.runs]
    if unknown := [label for label in config.runs if label not in labels]:
        raise ValueError(f"runs: {', '.join(unknown)} not in {name}; choose from {', '.join(labels)}")
    for algo, exploration, _ in task.runs:
        try:
            run_config(algo, exploration, config, task)
        except ValueError as error:
            if not str(error).startswith("eval_every"):
                raise
            total = config.total_steps or task.total_steps  # eval_every comes from evaluations
            raise ValueError(
                f"evaluations: {config.evaluations} evaluations of {total} steps do not fit the schedule ({error})"
            ) from error
    return config, task


def with_behaviour(num_episodes: int):
    """``build(config, progress_fn)``: training, then ``num_episodes`` episodes of the trained actor.

    The run returns ``(None, (metrics, returns [E], torso_up [E]))``: each episode's return and the
    torso's up-axis z-component before its last action (below 0: upside down).
    """

    def build(config: DDPGConfig, progress_fn=None):
        train = make_train(config, progress_fn=progress_fn)
        env = envs_lib.make(config.env, brax_backend=config.brax_backend)
        actor = Actor(env.action_dim, config.hidden_sizes, config.layer_norm)

        def run(key):
            train_key, episode_key = jax.random.split(key)
            state, metrics = train(train_key)
            policy = lambda obs: actor.apply(state.agent.actor_params, network_input(config, state.obs_stats, obs))  # noqa: E731
            episodes = run_episodes(episode_key, env, policy, num_episodes, probe=env.upright)
            return None, (metrics, episodes.returns, episodes.final_probe)

        return run

    return build


def selected_runs(config: Config, task: Task) -> list[tuple[str, str, str]]:
    """The runs of ``task`` that ``config.runs`` selects (all when empty), in the task's order."""
    return [run for run in task.runs if not config.runs or run_label(*run[:2]) in config.runs]


def train_run(algo: str, exploration: str, seed_count: str, config: Config, task: Task, mesh, progress=False) -> dict:
    """Trains one (learner, exploration) run over its seeds; its metrics.json record, with ``behaviour``
    (``final_return`` and ``torso_up``: ``[S, final_episodes]``)."""
    seeds = seed_list(config.seed, config.num_seeds if seed_count == "main" else config.small_seeds)
    ddpg = run_config(algo, exploration, config, task)
    desc = f"{config.task} {run_label(algo, exploration)}"
    record, (returns, up) = train_record(ddpg, seeds, mesh, progress, desc, with_behaviour(config.final_episodes))
    record["behaviour"] = {
        "episodes": config.final_episodes,
        "upside_down_below": UPSIDE_DOWN,
        "final_return": json_list(returns),
        "torso_up": json_list(up),
    }
    return record


def train_runs(
    config: Config, task: Task, *, devices: str | int = "all", progress: bool = False, log: Log = None
) -> Iterator[tuple[str, dict]]:
    """Trains the :func:`selected_runs` in turn, yielding ``(label, record)`` as each finishes (after
    logging its line)."""
    mesh = mesh_of(devices)
    for algo, exploration, seed_count in selected_runs(config, task):
        label = run_label(algo, exploration)
        record = train_run(algo, exploration, seed_count, config, task, mesh, progress)
        row = summary_row(label, record)
        say(
            log,
            f"{config.task} {label}: compile {record['compile_seconds']:.0f} s, run {record['run_seconds']:.0f} s, "
            f"final eval IQM {fmt_stat(row['final_iqm'])}, upside down {row['upside_down']:.0%}",
        )
        yield label, record


def upside_down(record: dict) -> np.ndarray:
    """``[S]`` fraction of each seed's behaviour episodes (after training) that ended upside down."""
    up = np.asarray(record["behaviour"]["torso_up"], dtype=np.float64)
    return np.mean(up < record["behaviour"]["upside_down_below"], axis=1)


def eval_upside_down(record: dict) -> np.ndarray:
    """``[S, E]`` share of each evaluation's episodes that ended upside down, per seed."""
    return series(record, "eval", "upside_down")[1]


def first_upright_forward(record: dict) -> list[int | None]:
    """Per seed, the env step of the first evaluation in which no episode ended upside down and the
    mean return was above 0 (the cheetah ran forward on its feet); None if no evaluation did."""
    steps, returns = series(record, "eval")
    upright = (eval_upside_down(record) == 0) & (returns > 0)
    return [int(steps[np.argmax(row)]) if row.any() else None for row in upright]


def summary_row(label: str, record: dict) -> dict:
    """Final eval IQM with its CI, upside-down shares over training and after it, final σ, run time."""
    sigma = series(record, "sigma")[1][:, -1]
    flipped, during = upside_down(record), eval_upside_down(record)
    first = first_upright_forward(record)
    param = record["config"]["exploration"].startswith("param")
    (stats,) = summary_rows({label: record})
    median_first = float(np.median([np.inf if step is None else step for step in first]))
    return {
        "run": stats.pop("setting"),
        **stats,
        "upside_down_evals": float(np.nanmean(during)),
        "seeds_ever_mostly_upside_down": int(np.sum(np.nanmax(during, axis=1) > 0.5)),
        "first_upright_forward": " ".join("never" if step is None else str(step) for step in first),
        "first_upright_forward_median": None if np.isinf(median_first) else median_first,
        "upside_down": float(np.mean(flipped)),
        "seeds_mostly_upside_down": int(np.sum(flipped > 0.5)),
        "final_sigma_median": float(np.nanmedian(sigma)) if param else None,
        "run_seconds": record["run_seconds"],
        "compile_seconds": record["compile_seconds"],
    }


def markdown(rows: list[dict], config: Config, records: dict[str, dict]) -> str:
    """The summary table in Markdown, then the paired tests. The upside-down columns are there for a
    task whose body can flip (:attr:`Task.flips`)."""
    run = next(iter(records.values()))["config"]
    device = next(iter(records.values()))["device"]
    flips = task_of(config.task).flips
    header, mark = interval_header([r["seeds"] - r["diverged"] for r in rows])
    legend = (
        " Upside down at evaluations: share of all evaluation episodes over training that ended with the torso's "
        "up axis pointing down; 'ever > ½': seeds with an evaluation mostly upside down; first upright + forward: "
        "median over seeds of the step of the first evaluation with no episode upside down and a mean return "
        "above 0 (never: at least half the seeds never had one). After training: the "
        f"{config.final_episodes} episodes per seed of the trained actor."
        if flips
        else ""
    )
    flip_columns = "upside down at evaluations | ever > ½ | first upright + forward | upside down after training | "
    flip_header = flip_columns if flips else ""
    lines = [
        f"# {run['env']}: {run['total_steps']:,} env steps per seed ({device})",
        "",
        f"Settings: the {config.preset} preset (pn-train --help lists it): {run['num_envs']} env per seed, "
        f"{run['updates_per_step']:g} updates per vector step, batch {run['batch_size']}, "
        f"{'×'.join(map(str, run['hidden_sizes']))} actor and critic, observation normalisation "
        f"{'on' if run['obs_norm'] else 'off'}, backend {run['brax_backend']}. Final IQM: last evaluation "
        f"({run['eval_episodes']} episodes per seed), 95% stratified-bootstrap CI from 5 seeds on, the seeds' "
        f"range [min, max] below.{legend}",
        "",
        f"| run | seeds | final IQM [{header}] | median | min | max | {flip_header}final σ | wall time |",
        "|---|---|---|---|---|---|" + ("---|" * 4 if flips else "") + "---|---|",
    ]
    for r in rows:
        sigma = "—" if r["final_sigma_median"] is None else f"{r['final_sigma_median']:.3f}"
        minutes = (r["run_seconds"] + r["compile_seconds"]) / 60
        first = r["first_upright_forward_median"]
        flip_cells = (
            f"{r['upside_down_evals']:.0%} | {r['seeds_ever_mostly_upside_down']}/{r['seeds']} | "
            f"{'never' if first is None else f'{first:,.0f}'} | {r['upside_down']:.0%} | "
        )
        lines.append(
            f"| {r['run']} | {r['seeds']} | {fmt_stat(r['final_iqm'])} {interval_cell(r, mark)} | "
            f"{fmt_stat(r['median'])} | {fmt_stat(r['min'])} | {fmt_stat(r['max'])} | "
            f"{flip_cells if flips else ''}{sigma} | {minutes:.0f} min |"
        )
    if flips:
        per_seed = "; ".join(f"{r['run']} {r['first_upright_forward']}" for r in rows)
        lines += ["", f"First upright + forward evaluation per seed: {per_seed}"]
    lines += comparison_lines(paired_with_param(records))
    return "\n".join(lines) + "\n"


def paired_with_param(records: dict[str, dict]) -> list[dict]:
    """Under each learner, every exploration against parameter noise on their common seeds
    (:func:`pn_jax.results.paired_comparisons`), Holm-adjusted over all of them together."""
    rows = []
    for algo in dict.fromkeys(algo_label(record) for record in records.values()):
        group = {label: r for label, r in records.items() if algo_label(r) == algo}
        if (reference := run_label(algo.lower(), "param")) in group:
            rows += paired_comparisons(group, reference)
    return with_holm(rows)


def upside_down_figure(records: dict[str, dict], title: str):
    """Two panels. Left: the share of evaluation episodes that ended upside down at each evaluation,
    mean over seeds, one curve per run (thin lines: single seeds). Right: each seed's mean return
    after training against the share of those episodes that ended upside down."""
    from matplotlib import colormaps

    fig, (during_ax, after_ax) = figure(1, 2, figsize=(12, 4.5), dpi=120)
    cmap = colormaps["tab10"]
    for i, (label, record) in enumerate(records.items()):
        steps, during = np.asarray(record["eval"]["step"]), eval_upside_down(record)
        during_ax.plot(steps, np.nanmean(during, axis=0), color=cmap(i % 10), label=label, linewidth=1.6)
        for row in during:
            during_ax.plot(steps, row, color=cmap(i % 10), alpha=0.25, linewidth=0.6)
        returns = np.mean(np.asarray(record["behaviour"]["final_return"], dtype=np.float64), axis=1)
        jitter = (np.arange(len(returns)) - len(returns) / 2) * 0.004
        after_ax.scatter(upside_down(record) + jitter, returns, color=cmap(i % 10), label=label, alpha=0.8, s=22)
    during_ax.set_xlabel("environment steps per seed")
    during_ax.set_ylabel("share of evaluation episodes ending upside down")
    during_ax.set_ylim(-0.05, 1.05)
    after_ax.set_xlabel("share of the trained actor's episodes ending upside down")
    after_ax.set_ylabel("mean return of those episodes")
    after_ax.set_xlim(-0.05, 1.05)
    for ax, part in ((during_ax, "during training"), (after_ax, "after training")):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{title}: {part}", fontsize=10)
    fig.tight_layout()
    return fig


class Report(NamedTuple):
    """A task's summary: the table rows, the Markdown, and the figures by name."""

    rows: list[dict]  # summary_row per run
    markdown: str
    figures: dict[str, Any]  # sigma (parameter-noise runs), upside_down (a task that flips): matplotlib Figures


def report(config: Config, records: dict[str, dict]) -> Report:
    """The table and the diagnostic figures of a task's ``{run label: record}`` (the eval-return figure
    with the published points is :func:`pn_jax.results.plot_runs`'s)."""
    rows = [summary_row(label, r) for label, r in records.items()]
    title = next(iter(records.values()))["config"]["env"]
    figures = {}
    param = {label: r for label, r in records.items() if r["config"]["exploration"].startswith("param")}
    if param:
        figures["sigma"] = sigma_figure(param, title)
    if task_of(config.task).flips:
        figures["upside_down"] = upside_down_figure(records, f"{title}, upside down")
    return Report(rows, markdown(rows, config, records), figures)


class Result(NamedTuple):
    """What :func:`run` returns."""

    records: dict[str, dict]  # {run label: metrics.json record}
    report: Report


def run(config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None) -> Result:
    """Trains the task's selected runs (see :func:`prepare`, :func:`train_runs`) and reports them.

    Raises:
      ValueError: naming a bad field, before anything compiles.
    """
    config, task = prepare(config)
    records = dict(train_runs(config, task, devices=devices, progress=progress, log=log))
    return Result(records, report(config, records))
