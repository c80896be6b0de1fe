"""Locomotion on brax: does parameter noise escape HalfCheetah's upside-down local optimum?

Plappert et al. (2018) report that DDPG with action noise often learns to flip the cheetah onto
its back and wiggle forward, while parameter noise finds the upright run. This script trains every
(learner, exploration) pair of a task for the same seeds and budget and measures that behaviour:
after training, each seed's unperturbed actor plays ``--final-episodes`` episodes and we record how
many end with the torso upside down (the world-z component of its up axis below 0, from the
physics state). It also writes learning curves (IQM with 95% CIs, or the seeds' range below 5
seeds), σ and the action distance over training, and a final-return table with paired tests of
each exploration against parameter noise under the same learner, on their common seeds.

Example: python scripts/locomotion.py --out runs/locomotion   (halfcheetah, 129 minutes measured on 2 CPU cores)
         python scripts/locomotion.py --task hopper --out runs/locomotion   (a task that terminates)
         python scripts/locomotion.py --quick --out runs/locomotion_quick   (a few minutes)
--runs picks some of a task's runs (they join those already in --out with --overwrite).
On a GPU the same command runs each learner-strategy pair as one program over all its seeds;
add e.g. --num-seeds 32 --small-seeds 32. Writes <task>/<algo>-<exploration>/metrics.json per run
and, per task, summary.md, summary.csv, returns.png, sigma.png and upside_down.png.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from typing import Annotated, Any, NamedTuple

import jax
import numpy as np
import tyro

from pn_jax import DDPGConfig, TD3Config, make_train, parallel
from pn_jax import envs as envs_lib
from pn_jax.cli.common import (
    CACHE_HELP,
    check_output_folder,
    claim_output_folder,
    default_cache_dir,
    fail,
    guarded,
    on_interrupt,
    parse,
    run_record,
    seed_keys,
    train_sharded,
    use_compilation_cache,
    write_or_rescue,
)
from pn_jax.cli.reproduce import plot_sigma
from pn_jax.envs.brax_envs import torso_up
from pn_jax.networks import Actor
from pn_jax.results import (
    algo_label,
    comparison_lines,
    fmt_stat,
    interval_cell,
    interval_header,
    json_list,
    paired_comparisons,
    plot_settings,
    series,
    summary_rows,
    with_holm,
    write_record,
    write_rows_csv,
)
from pn_jax.train import run_episodes


class Task(NamedTuple):
    """A locomotion experiment: the env, every (algo, exploration, seeds) run, and the step budget."""

    env: str
    runs: tuple[tuple[str, str, str], ...]  # (algo, exploration, "main" or "small" seed count)
    total_steps: int


TASKS: dict[str, Task] = {
    "halfcheetah": Task(
        "brax/halfcheetah",
        (
            ("ddpg", "param", "main"),
            ("ddpg", "ou", "main"),
            ("ddpg", "gaussian", "main"),
            ("ddpg", "none", "small"),
            ("td3", "param", "small"),
            ("td3", "gaussian", "small"),
        ),
        300_000,
    ),
    "hopper": Task("brax/hopper", (("ddpg", "param", "small"), ("ddpg", "gaussian", "small")), 100_000),
}
"""The paper's HalfCheetah comparison (plus TD3), and Hopper, whose episodes end when it falls."""

ALGOS = {"ddpg": DDPGConfig, "td3": TD3Config}

UPSIDE_DOWN = 0.0
"""An episode ends upside down when the torso's up axis has a world-z component below this."""


@dataclasses.dataclass(frozen=True)
class Locomotion:
    """Task, seeds and budget; everything else is shared by every run (same seeds, same budget)."""

    task: str = "halfcheetah"
    """halfcheetah (DDPG × param / ou / gaussian / none, TD3 × param / gaussian) or hopper (DDPG × param / gaussian)."""
    num_seeds: int = 8
    """seeds of the main runs (DDPG × param / ou / gaussian); seed k is jax.random.key(seed + k) in every run."""
    small_seeds: int = 4
    """seeds of the other runs (the first small_seeds of the main runs' seeds)."""
    seed: int = 0
    """first seed."""
    total_steps: int = 0
    """env steps per seed (0: the task's budget, 300k for halfcheetah, 100k for hopper)."""
    num_envs: int = 8
    """environments per seed; each acts with its own perturbed actor under parameter noise."""
    updates_per_step: float = 1.0
    """learner updates per vector step of num_envs envs (1: one update per num_envs env steps)."""
    learning_starts: int = 10_000
    """env steps of uniform random actions before the first update."""
    buffer_size: int = 1_000_000
    """replay capacity per seed (the paper's 10⁶)."""
    evaluations: int = 10
    """evaluations of the unperturbed actor over training (eval_every = total_steps / evaluations)."""
    eval_episodes: int = 5
    """1000-step episodes per evaluation (10 evaluations × 5 episodes: 50k env steps beside 300k of training)."""
    final_episodes: int = 10
    """episodes of each trained actor for the behaviour diagnostic (upside-down fraction)."""
    brax_backend: str = "positional"
    """brax physics pipeline."""
    runs: tuple[str, ...] = ()
    """train only these runs of the task, e.g. ddpg-none td3-param (default: all); with --overwrite
    they join the runs already in --out, and the report covers every run of the task found there."""
    quick: bool = False
    """tiny budget (DDPG param vs gaussian, 2 seeds, 8k steps) that checks the pipeline in a few minutes."""
    out: str = "runs/locomotion"
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


def quick_args(args: Locomotion) -> tuple[Locomotion, Task]:
    """The task to run, and the arguments after ``--quick`` shrinks them."""
    task = TASKS[args.task]
    if not args.quick:
        return args, task
    runs = tuple(r for r in task.runs if r[0] == "ddpg" and r[1] in ("param", "gaussian"))
    small = dict(num_seeds=2, small_seeds=2, total_steps=8_000, num_envs=4, learning_starts=2_000)
    args = dataclasses.replace(args, **small, evaluations=2, eval_episodes=2, final_episodes=2)
    return args, task._replace(runs=runs)


def run_config(algo: str, exploration: str, args: Locomotion, task: Task) -> DDPGConfig:
    """The config of one run: the paper's 64×64 LayerNorm actor, the shared budget and schedule."""
    total = args.total_steps or task.total_steps
    return ALGOS[algo](
        env=task.env,
        exploration=exploration,
        total_steps=total,
        num_envs=args.num_envs,
        updates_per_step=args.updates_per_step,
        learning_starts=args.learning_starts,
        buffer_size=args.buffer_size,
        eval_every=total // args.evaluations,
        eval_episodes=args.eval_episodes,
        hidden_sizes=(64, 64),
        layer_norm=True,
        brax_backend=args.brax_backend,
    )


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
            policy = lambda obs: actor.apply(state.agent.actor_params, obs)  # noqa: E731
            episodes = run_episodes(episode_key, env, policy, num_episodes, probe=torso_up)
            return None, (metrics, episodes.returns, episodes.final_probe)

        return run

    return build


def run_label(algo: str, exploration: str) -> str:
    return f"{algo}-{exploration}"


def run_task(args: Locomotion, task: Task, mesh) -> None:
    """Trains the runs of ``task`` that ``--runs`` selects, writing each one's metrics.json."""
    for algo, exploration, seed_count in task.runs:
        if args.runs and run_label(algo, exploration) not in args.runs:
            continue
        count = args.num_seeds if seed_count == "main" else args.small_seeds
        seeds = list(range(args.seed, args.seed + count))
        config = run_config(algo, exploration, args, task)
        label = run_label(algo, exploration)
        on_interrupt(lambda label=label: interrupted_note(args, task, label))
        (metrics, returns, up), compile_seconds, run_seconds = train_sharded(
            config,
            (seed_keys(seeds),),
            mesh,
            args.progress,
            f"{args.task} {label}",
            build=with_behaviour(args.final_episodes),
        )
        record = run_record(config, metrics, seeds, mesh, compile_seconds, run_seconds)
        record["behaviour"] = {
            "episodes": args.final_episodes,
            "upside_down_below": UPSIDE_DOWN,
            "final_return": json_list(returns),
            "torso_up": json_list(up),
        }
        folder = os.path.join(args.out, args.task, label)
        write_or_rescue(functools.partial(write_record, record, folder), record, folder)
        row = summary_row(label, record)
        print(
            f"{args.task} {label}: compile {compile_seconds:.0f} s, run {run_seconds:.0f} s, "
            f"final eval IQM {fmt_stat(row['final_iqm'])}, upside down {row['upside_down']:.0%}"
        )


def interrupted_note(args: Locomotion, task: Task, label: str) -> str:
    """The line a Ctrl-C during run ``label`` prints: which runs are done and how to train the rest."""
    labels = [run_label(algo, exploration) for algo, exploration, _ in task.runs]
    chosen = [name for name in labels if not args.runs or name in args.runs]
    folder = os.path.join(args.out, args.task)
    rest = [name for name in chosen if not os.path.exists(os.path.join(folder, name, "metrics.json"))]
    done = len(chosen) - len(rest)
    return (
        f"interrupted during {args.task} {label}; {done} of {len(chosen)} runs are written in {folder}; "
        f"train the others with the same flags and --runs {' '.join(rest)} --overwrite"
    )


def load_records(args: Locomotion, task: Task) -> dict[str, dict]:
    """The metrics.json records of ``task`` in ``--out``, in the task's order; names the missing ones."""
    records, missing = {}, []
    for algo, exploration, _ in task.runs:
        label = run_label(algo, exploration)
        path = os.path.join(args.out, args.task, label, "metrics.json")
        if os.path.exists(path):
            with open(path) as f:
                records[label] = json.load(f)
        else:
            missing.append(label)
    if not records:
        fail(f"report_only: no run of {args.task} in {os.path.join(args.out, args.task)}; train it first")
    if missing:
        print(f"not run yet (left out of the report): {', '.join(missing)}", file=sys.stderr)
    return records


def upside_down(record: dict) -> np.ndarray:
    """``[S]`` fraction of each seed's behaviour episodes that ended upside down."""
    up = np.asarray(record["behaviour"]["torso_up"], dtype=np.float64)
    return np.mean(up < record["behaviour"]["upside_down_below"], axis=1)


def summary_row(label: str, record: dict) -> dict:
    """Final eval IQM with its CI, the upside-down fraction, final σ and the run's time."""
    sigma = series(record, "sigma")[1][:, -1]
    flipped = upside_down(record)
    param = record["config"]["exploration"].startswith("param")
    (stats,) = summary_rows({label: record})
    return {
        "run": stats.pop("setting"),
        **stats,
        "upside_down": float(np.mean(flipped)),
        "seeds_mostly_upside_down": int(np.sum(flipped > 0.5)),
        "final_sigma_median": float(np.nanmedian(sigma)) if param else None,
        "run_seconds": record["run_seconds"],
        "compile_seconds": record["compile_seconds"],
    }


def write_table(rows: list[dict], args: Locomotion, records: dict[str, dict], folder: str) -> str:
    """Writes ``summary.csv`` and ``summary.md``; returns the Markdown."""
    write_rows_csv(rows, os.path.join(folder, "summary.csv"))
    config = next(iter(records.values()))["config"]
    device = next(iter(records.values()))["device"]
    header, mark = interval_header([r["seeds"] - r["diverged"] for r in rows])
    lines = [
        f"# {config['env']}: {config['total_steps']:,} env steps per seed ({device})",
        "",
        f"{config['num_envs']} envs per seed, {config['updates_per_step']:g} update per vector step, 64×64 "
        f"LayerNorm actor, backend {config['brax_backend']}. Final IQM: last evaluation ({config['eval_episodes']} "
        "episodes per seed), 95% stratified-bootstrap CI from 5 seeds on, the seeds' range [min, max] below. "
        f"Upside down: fraction of the {args.final_episodes} episodes per seed of the trained actor that end "
        "with the torso's up axis pointing down; 'seeds > ½' counts the seeds that do so in most episodes.",
        "",
        f"| run | seeds | final IQM [{header}] | median | min | max | upside down | seeds > ½ | final σ | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sigma = "—" if r["final_sigma_median"] is None else f"{r['final_sigma_median']:.3f}"
        minutes = (r["run_seconds"] + r["compile_seconds"]) / 60
        lines.append(
            f"| {r['run']} | {r['seeds']} | {fmt_stat(r['final_iqm'])} {interval_cell(r, mark)} | "
            f"{fmt_stat(r['median'])} | {fmt_stat(r['min'])} | {fmt_stat(r['max'])} | "
            f"{r['upside_down']:.0%} | {r['seeds_mostly_upside_down']}/{r['seeds']} | {sigma} | {minutes:.0f} min |"
        )
    lines += comparison_lines(paired_with_param(records))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write(text)
    return text


def paired_with_param(records: dict[str, dict]) -> list[dict]:
    """Under each learner, every exploration against parameter noise on their common seeds
    (:func:`pn_jax.results.paired_comparisons`), Holm-adjusted over all of them together."""
    rows = []
    for algo in dict.fromkeys(algo_label(record) for record in records.values()):
        group = {label: r for label, r in records.items() if algo_label(r) == algo}
        if (reference := run_label(algo.lower(), "param")) in group:
            rows += paired_comparisons(group, reference)
    return with_holm(rows)


def plot_upside_down(records: dict[str, dict], path: str, title: str) -> None:
    """Each seed's final return against the fraction of its episodes that end upside down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    cmap = plt.get_cmap("tab10")
    for i, (label, record) in enumerate(records.items()):
        returns = np.mean(np.asarray(record["behaviour"]["final_return"], dtype=np.float64), axis=1)
        jitter = (np.arange(len(returns)) - len(returns) / 2) * 0.004
        ax.scatter(upside_down(record) + jitter, returns, color=cmap(i % 10), label=label, alpha=0.8, s=22)
    ax.set_xlabel("fraction of the trained actor's episodes ending upside down")
    ax.set_ylabel("mean return of those episodes")
    ax.set_xlim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(args: Locomotion, records: dict[str, dict]) -> str:
    """Writes the table and every figure for the task; returns the table."""
    folder = os.path.join(args.out, args.task)
    text = write_table([summary_row(label, r) for label, r in records.items()], args, records, folder)
    title = next(iter(records.values()))["config"]["env"]
    plot_settings(records, os.path.join(folder, "returns.png"), f"{title}: eval return by learner and exploration")
    param = {label: r for label, r in records.items() if r["config"]["exploration"].startswith("param")}
    if param:
        plot_sigma(param, os.path.join(folder, "sigma.png"), title)
    plot_upside_down(records, os.path.join(folder, "upside_down.png"), f"{title}: behaviour of the trained actors")
    return text


def validate(args: Locomotion, task: Task) -> None:
    """Checks the run flags (config fields are checked by the configs themselves)."""
    for name in ("num_seeds", "small_seeds", "evaluations", "final_episodes"):
        if getattr(args, name) <= 0:
            fail(f"{name}: must be a positive integer, got {getattr(args, name)}")
    if args.total_steps < 0:
        fail(f"total_steps: must be >= 0 (0: the task's budget), got {args.total_steps}")
    if args.small_seeds > args.num_seeds:
        fail(f"small_seeds ({args.small_seeds}) must not exceed num_seeds ({args.num_seeds})")
    labels = [run_label(algo, exploration) for algo, exploration, _ in task.runs]
    unknown = [label for label in args.runs if label not in labels]
    if unknown:
        fail(f"runs: {', '.join(unknown)} not in {args.task}; choose from {', '.join(labels)}")
    for algo, exploration, _ in task.runs:
        try:
            run_config(algo, exploration, args, task)
        except ValueError as error:
            if str(error).startswith("eval_every"):  # the script sets it from --evaluations
                total = args.total_steps or task.total_steps
                fail(f"evaluations: {args.evaluations} evaluations of {total} steps do not fit the schedule ({error})")
            fail(str(error))


def main(args: Locomotion) -> dict[str, dict[str, Any]]:
    use_compilation_cache(args.compilation_cache)
    if args.task not in TASKS:
        fail(f"task: choose one of {', '.join(TASKS)}, got {args.task!r}")
    args, task = quick_args(args)
    validate(args, task)
    if args.report_only:
        records = load_records(args, task)
        check_output_folder(os.path.join(args.out, args.task))
    else:
        mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(args.devices)))
        check_output_folder(args.out)
        claim_output_folder(os.path.join(args.out, args.task), args.overwrite, sweep=True)
        run_task(args, task, mesh)
        records = load_records(args, task)
    print(write_or_rescue(lambda: report(args, records), records, os.path.join(args.out, args.task)))
    return records


def cli(argv: list[str] | None = None) -> None:
    main(parse(Locomotion, argv, (Locomotion,), __doc__))
