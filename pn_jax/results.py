"""Results on disk and the statistics behind them: metrics.json / metrics.csv / returns.png.

The only module (with :mod:`pn_jax.progress`) that writes files or prints.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from pn_jax import envs
from pn_jax.train import NONFINITE_QUANTITIES, Metrics, NonFinite


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% along ``axis`` (NaNs ignored)."""
    values = np.sort(np.asarray(values, dtype=np.float64), axis=axis)
    n = values.shape[axis]
    lo, hi = int(math.floor(0.25 * n)), int(math.ceil(0.75 * n))
    if hi <= lo:
        lo, hi = 0, n
    return np.nanmean(np.take(values, np.arange(lo, hi), axis=axis), axis=axis)


def bootstrap_ci(
    values: np.ndarray,
    statistic=iqm,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of ``statistic`` over seeds (axis 0 of ``values [S, ...]``).

    Args:
      values: ``[S, ...]`` per-seed values.
      statistic: ``f(x [S, ...], axis=0) -> [...]``.
      num_resamples: bootstrap resamples.
      confidence: two-sided level.
      seed: NumPy generator seed (host-side statistics only; training uses JAX keys).

    Returns:
      ``(low, high)`` arrays of shape ``[...]``.
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.shape[0], size=(num_resamples, values.shape[0]))
    stats = np.stack([statistic(values[i], axis=0) for i in idx])
    alpha = (1.0 - confidence) / 2
    return np.nanquantile(stats, alpha, axis=0), np.nanquantile(stats, 1 - alpha, axis=0)


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic=iqm,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Stratified percentile bootstrap CI (Agarwal et al., 2021) of an aggregate over runs × tasks.

    Runs are resampled with replacement independently within each task (column), then
    ``statistic`` is taken over all resampled scores together.

    Args:
      scores: ``[R, T]`` final scores of ``R`` runs (seeds) on ``T`` tasks; ``[R]`` means one task.
      statistic: ``f(x [n], axis=0) -> scalar`` (default :func:`iqm`).
      num_resamples, confidence, seed: as in :func:`bootstrap_ci`.

    Returns:
      ``(low, high)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    runs, tasks = scores.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, runs, size=(num_resamples, runs, tasks))
    resampled = np.take_along_axis(scores[None], idx, axis=1).reshape(num_resamples, runs * tasks)
    stats = statistic(resampled.T, axis=0)
    alpha = (1.0 - confidence) / 2
    return float(np.nanquantile(stats, alpha)), float(np.nanquantile(stats, 1 - alpha))


def wilson_ci(successes: np.ndarray, trials: int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``successes / trials`` (element-wise)."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = np.asarray(successes, dtype=np.float64) / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def success_curve(first_steps: Sequence[int | None], steps: np.ndarray) -> np.ndarray:
    """Fraction of seeds that had reached the goal by each of ``steps`` (``None``: never)."""
    reached = np.array([np.inf if s is None else s for s in first_steps], dtype=np.float64)
    return np.mean(reached[None, :] <= np.asarray(steps, dtype=np.float64)[:, None], axis=1)


def coverage_fraction(counts: np.ndarray) -> np.ndarray:
    """Fraction of state-plane cells visited at least once, per seed (``counts [S, C, C]``)."""
    counts = np.asarray(counts)
    return np.mean(counts.reshape(counts.shape[0], -1) > 0, axis=1)


def json_list(x: np.ndarray) -> Any:
    """JSON-safe nested lists of floats: NaN and inf become null."""
    arr = np.asarray(x, dtype=np.float64)
    return [None if not math.isfinite(v) else v for v in arr.tolist()] if arr.ndim == 1 else [json_list(r) for r in arr]


def metrics_dict(
    config: Any,
    metrics: Metrics,
    seeds: Sequence[int],
    *,
    jax_version: str,
    device: str,
    compile_seconds: float,
    run_seconds: float,
) -> dict:
    """The public ``metrics.json`` record for a run of ``len(seeds)`` vmapped seeds.

    ``metrics`` fields carry a leading seed axis ``[S, ...]``.
    """
    m = {k: np.asarray(v) for k, v in metrics._asdict().items() if k != "nonfinite"}
    steps_trained = int(m["eval_step"][0][-1]) if m["eval_step"].size else 0  # < total_steps if it stopped early
    total_steps = len(seeds) * steps_trained
    return {
        "config": dataclasses.asdict(config),
        "jax_version": jax_version,
        "device": device,
        "seeds": [int(s) for s in seeds],
        "compile_seconds": float(compile_seconds),
        "run_seconds": float(run_seconds),
        "env_steps_per_second": total_steps / run_seconds if run_seconds > 0 else None,
        "eval": {"step": m["eval_step"][0].astype(int).tolist(), "return": json_list(m["eval_return"])},
        "sigma": {"step": m["log_step"][0].astype(int).tolist(), "value": json_list(m["sigma"])},
        "action_distance": {"step": m["log_step"][0].astype(int).tolist(), "value": json_list(m["action_distance"])},
        "train_episode_return": {
            "step": m["log_step"][0].astype(int).tolist(),
            "value": json_list(m["train_episode_return"]),
        },
        "nonfinite_step": {
            name: [int(s) for s in np.asarray(step)] for name, step in metrics.nonfinite._asdict().items()
        },
        **_exploration_records(config, m),
    }


def _exploration_records(config: Any, m: dict[str, np.ndarray]) -> dict:
    """``goal`` (sparse tasks) and ``coverage`` (when ``coverage_steps > 0``) parts of metrics.json."""
    env = envs.make(config.env, discrete=not envs.is_continuous(config.env))
    out = {}
    if env.goal is not None:
        out["goal"] = {
            "reward_above": env.goal.reward_above,
            "solved_return": env.goal.solved_return,
            "first_step": [None if s < 0 else int(s) for s in m["first_goal_step"]],
            "hits": {"step": m["log_step"][0].astype(int).tolist(), "value": m["goal_hits"].astype(int).tolist()},
        }
    if config.coverage_steps:
        out["coverage"] = {
            "steps": int(config.coverage_steps),
            "labels": list(env.plane.labels),
            "low": [float(x) for x in env.plane.low],
            "high": [float(x) for x in env.plane.high],
            "counts": m["coverage"].astype(int).tolist(),  # [S][x bin][y bin]
        }
    return out


def check_finite(metrics: Metrics, seeds: Sequence[int]) -> None:
    """Raises ``FloatingPointError`` naming the quantity, seed and env step of the first non-finite value.

    ``metrics`` (or a :class:`pn_jax.train.TrainState`) carries ``nonfinite`` with a leading seed axis.
    """
    message = nonfinite_message(metrics.nonfinite, seeds)
    if message:
        raise FloatingPointError(message)


def nonfinite_message(nonfinite: NonFinite, seeds: Sequence[int]) -> str | None:
    """``"<quantity> became non-finite at env step N (seed s)"`` for the earliest failure, or None."""
    failures = [
        (int(step), NONFINITE_QUANTITIES[name], int(seed))
        for name, steps in nonfinite._asdict().items()
        for seed, step in zip(seeds, np.asarray(steps).reshape(-1), strict=True)
        if step >= 0
    ]
    if not failures:
        return None
    step, quantity, seed = min(failures)
    return f"{quantity} became non-finite at env step {step} (seed {seed})"


def series(record: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps [L], values [S, L])`` of a metrics.json series (``eval``, ``sigma``, …); null → NaN."""
    key = "return" if name == "eval" else "value"
    values = np.array([[np.nan if v is None else v for v in row] for row in record[name][key]], dtype=np.float64)
    return np.asarray(record[name]["step"]), values


def final_returns(record: dict) -> np.ndarray:
    """``[S]`` last eval return of each seed of a metrics.json record."""
    return series(record, "eval")[1][:, -1]


def write_rows_csv(rows: list[dict], path: str) -> None:
    """A CSV with one line per dict of ``rows`` (the first row's keys are the columns)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_csv(record: dict, path: str) -> None:
    """Long format: ``metric, seed, step, value`` (one row per seed and logged point)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "seed", "step", "value"])
        for name in ("eval", "sigma", "action_distance", "train_episode_return"):
            steps, values = series(record, name)
            metric = "eval_return" if name == "eval" else name
            for seed, row in zip(record["seeds"], values, strict=True):
                for step, value in zip(steps, row, strict=True):
                    writer.writerow([metric, seed, int(step), "" if np.isnan(value) else f"{value:.6g}"])


def plot_returns(record: dict, path: str, title: str | None = None) -> None:
    """Eval return vs env steps: IQM over seeds with a 95% bootstrap band, and each seed faintly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, values = series(record, "eval")
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for row in values:
        ax.plot(steps, row, color="tab:blue", alpha=0.15, linewidth=0.8)
    center = iqm(values)
    low, high = bootstrap_ci(values)
    ax.plot(steps, center, color="tab:blue", label=f"IQM over {values.shape[0]} seeds")
    ax.fill_between(steps, low, high, color="tab:blue", alpha=0.25, label="95% bootstrap CI")
    config = record["config"]
    ax.set_title(title or f"{config['env']} — DDPG, exploration={config['exploration']}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"eval return (mean of {config['eval_episodes']} episodes)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


RUN_FILES = ("metrics.json", "metrics.csv", "returns.png")
CHECKPOINT_DIR = "checkpoints"  # a run's checkpoints: OUT/checkpoints/<env step>/


def save_run(record: dict, out_dir: str) -> dict[str, str]:
    """Writes ``metrics.json`` (atomically), ``metrics.csv`` and ``returns.png`` into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in RUN_FILES}
    partial = paths["metrics.json"] + ".partial"
    with open(partial, "w") as f:
        json.dump(record, f, indent=1, allow_nan=False)
    os.replace(partial, paths["metrics.json"])
    write_csv(record, paths["metrics.csv"])
    plot_returns(record, paths["returns.png"])
    return paths


def existing_run(out_dir: str) -> list[str]:
    """The names of a run's outputs (metrics files, ``checkpoints``) already in ``out_dir``."""
    return [name for name in (*RUN_FILES, CHECKPOINT_DIR) if os.path.exists(os.path.join(out_dir, name))]


def runs_in(out_dir: str, depth: int = 2) -> list[str]:
    """A run's outputs in ``out_dir`` or in folders up to ``depth`` levels below it (a sweep's
    ``<exploration>/<setting>/``), as paths relative to ``out_dir``; ``[]`` if it holds none."""
    found: list[str] = []

    def visit(folder: str, relative: str, level: int) -> None:
        found.extend(os.path.join(relative, name) for name in existing_run(folder))
        if level < depth:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.is_dir() and entry.name != CHECKPOINT_DIR and not entry.name.startswith("."):
                    visit(entry.path, os.path.join(relative, entry.name), level + 1)

    if os.path.isdir(out_dir):
        visit(out_dir, "", 0)
    return found


def clear_run(out_dir: str) -> None:
    """Deletes a run's outputs from ``out_dir`` (only those :func:`existing_run` lists)."""
    import shutil

    for name in existing_run(out_dir):
        path = os.path.join(out_dir, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def summarize(record: dict) -> str:
    """One line: final eval return median / IQM / min / max over seeds."""
    final = final_returns(record)
    return (
        f"final eval return over {len(final)} seeds: median {np.nanmedian(final):.1f}, "
        f"IQM {iqm(final):.1f}, min {np.nanmin(final):.1f}, max {np.nanmax(final):.1f}"
    )


def summary_rows(records: dict[str, dict]) -> list[dict]:
    """One row per setting: final eval return IQM with a 95% stratified-bootstrap CI, median, mean.

    Args:
      records: ``{label: metrics.json record}``.
    """
    rows = []
    for label, record in records.items():
        final = final_returns(record)
        low, high = stratified_bootstrap_ci(final)
        rows.append(
            {
                "setting": label,
                "seeds": len(final),
                "final_iqm": float(iqm(final)),
                "ci_low": low,
                "ci_high": high,
                "median": float(np.nanmedian(final)),
                "mean": float(np.nanmean(final)),
                "min": float(np.nanmin(final)),
                "max": float(np.nanmax(final)),
            }
        )
    return rows


def write_summary(rows: list[dict], csv_path: str, md_path: str, title: str) -> None:
    """``summary.csv`` (all columns) and ``summary.md`` (a Markdown table, best IQM first)."""
    write_rows_csv(rows, csv_path)
    lines = [
        f"# {title}",
        "",
        "Final deterministic eval return per setting: IQM over seeds with a 95% stratified-bootstrap CI.",
        "",
        "| setting | seeds | IQM | 95% CI | median | min | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: -r["final_iqm"]):
        lines.append(
            f"| {row['setting']} | {row['seeds']} | {row['final_iqm']:.1f} | [{row['ci_low']:.1f}, "
            f"{row['ci_high']:.1f}] | {row['median']:.1f} | {row['min']:.1f} | {row['max']:.1f} |"
        )
    with open(md_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def plot_settings(records: dict[str, dict], path: str, title: str) -> None:
    """Eval return vs env steps, one IQM curve with a 95% bootstrap band per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colors = plt.get_cmap("viridis" if len(records) > 10 else "tab10")
    for i, (label, record) in enumerate(records.items()):
        steps, values = series(record, "eval")
        color = colors(i / max(1, len(records) - 1)) if len(records) > 10 else colors(i)
        low, high = bootstrap_ci(values)
        ax.plot(steps, iqm(values), color=color, label=label, linewidth=1.2)
        ax.fill_between(steps, low, high, color=color, alpha=0.12)
    ax.set_title(title)
    ax.set_xlabel("environment steps per seed")
    ax.set_ylabel("eval return (IQM over seeds, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6 if len(records) > 8 else 8, loc="best", ncol=2 if len(records) > 8 else 1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_heatmap(records: dict[str, dict], x_field: str, y_field: str, path: str, title: str) -> None:
    """Final eval-return IQM over a two-field grid (e.g. σ₀ × δ), one cell per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finals = {}
    for record in records.values():
        finals[(record["config"][x_field], record["config"][y_field])] = float(iqm(final_returns(record)))
    xs, ys = sorted({x for x, _ in finals}), sorted({y for _, y in finals})
    grid = np.full((len(ys), len(xs)), np.nan)
    for (x, y), value in finals.items():
        grid[ys.index(y), xs.index(x)] = value
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 2.5, 1.0 * len(ys) + 1.8), dpi=120)
    image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
    low, high = np.nanmin(grid), np.nanmax(grid)
    for i in range(len(ys)):
        for j in range(len(xs)):
            bright = high > low and (grid[i, j] - low) / (high - low) > 0.6
            ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="black" if bright else "white")
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    ax.set_xlabel(x_field)
    ax.set_ylabel(y_field)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="final eval return (IQM)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
