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

Example: python scripts/locomotion.py --out runs/locomotion   (halfcheetah: DDPG × param / ou / gaussian / none,
           8 seeds × 300k steps each: 51 minutes measured on 2 CPU cores)
         python scripts/locomotion.py --task hopper --out runs/locomotion   (param vs gaussian, 4 seeds: 5 minutes;
           also walker2d: 6 minutes)
         python scripts/locomotion.py --quick --out runs/locomotion_quick   (2 tiny runs: 2 minutes, mostly compiling)
--runs picks some of a task's runs (they join those already in --out with --overwrite).
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
from typing import Annotated, Any, NamedTuple

import jax
import numpy as np
import tyro

from pn_jax import DDPGConfig, make_train, parallel
from pn_jax import envs as envs_lib
from pn_jax.cli.common import (
    CACHE_HELP,
    check_output_folder,
    claim_output_folder,
    default_cache_dir,
    fail,
    folder_name,
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
from pn_jax.config import PRESETS, preset
from pn_jax.networks import Actor
from pn_jax.results import (
    algo_label,
    comparison_lines,
    fmt_stat,
    interval_cell,
    interval_header,
    json_list,
    paired_comparisons,
    plot_runs,
    series,
    summary_rows,
    with_holm,
    write_record,
    write_rows_csv,
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
    """The task of ``--task``: one of :data:`TASKS`, or your own continuous env by name (registered or
    ``package.module:callable``), run as DDPG × param / gaussian on the main seeds for 300k steps."""
    if name in TASKS:
        return TASKS[name]
    return Task(name, (("ddpg", "param", "main"), ("ddpg", "gaussian", "main")), 300_000)


UPSIDE_DOWN = 0.0
"""An episode ends upside down when the torso's up axis has a world-z component below this."""


@dataclasses.dataclass(frozen=True)
class Locomotion:
    """Task, seeds and budget; everything else is shared by every run (same seeds, same budget)."""

    task: str = "halfcheetah"
    """halfcheetah (DDPG × param / ou / gaussian / none), hopper or walker2d (DDPG × param / gaussian), or
    your own env as package.module:callable (DDPG × param / gaussian, the main seeds, 300k steps)."""
    preset: str = "plappert2018"
    """the settings every run shares (see pn-train --help), a preset DDPG takes; the flags below override some."""
    num_seeds: int = 8
    """seeds of the main runs (halfcheetah's four); seed k is jax.random.key(seed + k) in every run."""
    small_seeds: int = 4
    """seeds of the other runs (the first small_seeds of the main runs' seeds)."""
    seed: int = 0
    """first seed."""
    total_steps: int = 0
    """env steps per seed (0: the task's budget, 300k)."""
    num_envs: int | None = None
    """environments per seed; each acts with its own perturbed actor under parameter noise (default: the preset's)."""
    updates_per_step: float | None = None
    """learner updates per vector step of num_envs envs (default: the preset's)."""
    learning_starts: int | None = None
    """env steps of uniform random actions before the first update (default: the preset's)."""
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
    """tiny budget (DDPG param vs gaussian, 2 seeds, 8k steps) that checks the pipeline (2 minutes on 2 CPU
    cores, mostly compiling)."""
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
    task = task_of(args.task)
    if not args.quick:
        return args, task
    runs = tuple(r for r in task.runs if r[0] == "ddpg" and r[1] in ("param", "gaussian"))
    small = dict(num_seeds=2, small_seeds=2, total_steps=8_000, learning_starts=2_000)
    args = dataclasses.replace(args, **small, evaluations=2, eval_episodes=2, final_episodes=2)
    return args, task._replace(runs=runs)


def run_config(algo: str, exploration: str, args: Locomotion, task: Task) -> DDPGConfig:
    """The config of one run: the preset's settings, with the shared budget and evaluation schedule."""
    total = args.total_steps or task.total_steps
    chosen = {name: getattr(args, name) for name in ("num_envs", "updates_per_step", "learning_starts")}
    return preset(
        args.preset,
        algo,
        env=task.env,
        exploration=exploration,
        total_steps=total,
        eval_every=total // args.evaluations,
        eval_episodes=args.eval_episodes,
        brax_backend=args.brax_backend,
        **{name: value for name, value in chosen.items() if value is not None},
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
            policy = lambda obs: actor.apply(state.agent.actor_params, network_input(config, state.obs_stats, obs))  # noqa: E731
            episodes = run_episodes(episode_key, env, policy, num_episodes, probe=env.upright)
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
        folder = os.path.join(args.out, folder_name(args.task), label)
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
    folder = os.path.join(args.out, folder_name(args.task))
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


def write_table(rows: list[dict], args: Locomotion, records: dict[str, dict], folder: str) -> str:
    """Writes ``summary.csv`` and ``summary.md``; returns the Markdown. The upside-down columns are
    there for a task whose body can flip (:attr:`Task.flips`)."""
    write_rows_csv(rows, os.path.join(folder, "summary.csv"))
    config = next(iter(records.values()))["config"]
    device = next(iter(records.values()))["device"]
    flips = task_of(args.task).flips
    header, mark = interval_header([r["seeds"] - r["diverged"] for r in rows])
    legend = (
        " Upside down at evaluations: share of all evaluation episodes over training that ended with the torso's "
        "up axis pointing down; 'ever > ½': seeds with an evaluation mostly upside down; first upright + forward: "
        "median over seeds of the step of the first evaluation with no episode upside down and a mean return "
        "above 0 (never: at least half the seeds never had one). After training: the "
        f"{args.final_episodes} episodes per seed of the trained actor."
        if flips
        else ""
    )
    flip_columns = "upside down at evaluations | ever > ½ | first upright + forward | upside down after training | "
    flip_header = flip_columns if flips else ""
    lines = [
        f"# {config['env']}: {config['total_steps']:,} env steps per seed ({device})",
        "",
        f"Settings: the {args.preset} preset (pn-train --help lists it): {config['num_envs']} env per seed, "
        f"{config['updates_per_step']:g} updates per vector step, batch {config['batch_size']}, "
        f"{'×'.join(map(str, config['hidden_sizes']))} actor and critic, observation normalisation "
        f"{'on' if config['obs_norm'] else 'off'}, backend {config['brax_backend']}. Final IQM: last evaluation "
        f"({config['eval_episodes']} episodes per seed), 95% stratified-bootstrap CI from 5 seeds on, the seeds' "
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
    """Two panels. Left: the share of evaluation episodes that ended upside down at each evaluation,
    mean over seeds, one curve per run (thin lines: single seeds). Right: each seed's mean return
    after training against the share of those episodes that ended upside down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (during_ax, after_ax) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    cmap = plt.get_cmap("tab10")
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
    fig.savefig(path)
    plt.close(fig)


def report(args: Locomotion, records: dict[str, dict]) -> str:
    """Writes the table and every figure for the task; returns the table."""
    folder = os.path.join(args.out, folder_name(args.task))
    text = write_table([summary_row(label, r) for label, r in records.items()], args, records, folder)
    title = next(iter(records.values()))["config"]["env"]
    plot_runs(  # returns.png and returns.pdf
        records,
        os.path.join(folder, "returns"),
        f"{title} ({args.preset}): eval return by exploration",
        published=task_of(args.task).published,
        published_source=f"{PAPER} (not brax)",
    )
    param = {label: r for label, r in records.items() if r["config"]["exploration"].startswith("param")}
    if param:
        plot_sigma(param, os.path.join(folder, "sigma.png"), title)
    if task_of(args.task).flips:
        plot_upside_down(records, os.path.join(folder, "upside_down.png"), f"{title}, upside down")
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
    if args.task not in TASKS and not (envs_lib.is_entry_point(args.task) or envs_lib.is_registered(args.task)):
        fail(f"task: choose one of {', '.join(TASKS)}, or your own env as package.module:callable; got {args.task!r}")
    if args.task not in TASKS:
        guarded(lambda: envs_lib.make(args.task, brax_backend=args.brax_backend))
    if args.preset not in PRESETS:
        fail(f"preset: unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    args, task = quick_args(args)
    validate(args, task)
    if args.report_only:
        records = load_records(args, task)
        check_output_folder(os.path.join(args.out, folder_name(args.task)))
    else:
        mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(args.devices)))
        check_output_folder(args.out)
        claim_output_folder(os.path.join(args.out, folder_name(args.task)), args.overwrite, sweep=True)
        run_task(args, task, mesh)
        records = load_records(args, task)
    print(write_or_rescue(lambda: report(args, records), records, os.path.join(args.out, folder_name(args.task))))
    return records


def cli(argv: list[str] | None = None) -> None:
    main(parse(Locomotion, argv, (Locomotion,), __doc__))
