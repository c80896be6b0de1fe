"""Results on disk and the statistics behind them: metrics.json / metrics.csv / returns.png, and the
figures for papers (:func:`plot_runs`: PNG and PDF, one column wide, in :data:`PAPER_STYLE`).

Intervals over seeds are 95% bootstrap CIs from :data:`FEW_SEEDS` finite seeds on and the seeds'
range below; runs of different strategies on the same seeds are compared with paired tests
(:func:`mcnemar_exact`, :func:`paired_permutation_test`, :func:`holm` for several at once).

The only module (with :mod:`pn_jax.progress`) that writes files or prints.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from pn_jax import envs
from pn_jax.train import NONFINITE_QUANTITIES, Metrics, NonFinite, build_env


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along ``axis`` over the finite values of each slice.

    Non-finite values (NaN, ±inf: a diverged seed) are left out before trimming, so each slice
    keeps the middle 50% of its own ``n`` finite values: sorted ranks ``floor(n/4)`` to
    ``ceil(3n/4) - 1`` (all of them for ``n < 4``). A slice with no finite value gives NaN.

    Args:
      values: e.g. ``[S, ...]`` per-seed scores.
      axis: the axis to reduce (seeds).

    Returns:
      ``values`` without ``axis``; count the left-out values with :func:`num_diverged`.
    """
    values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    finite = np.isfinite(values)
    n = np.sum(finite, axis=0)
    ordered = np.sort(np.where(finite, values, np.nan), axis=0)  # the finite values first, NaNs last
    rank = np.arange(values.shape[0]).reshape((-1,) + (1,) * (values.ndim - 1))
    window = (rank >= n // 4) & (rank < -(-3 * n // 4))
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty window: 0 / 0 = NaN
        return np.sum(np.where(window, ordered, 0.0), axis=0) / np.sum(window, axis=0)


def num_diverged(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """How many values along ``axis`` (seeds) are not finite (NaN or ±inf), as ints."""
    return np.sum(~np.isfinite(np.asarray(values, dtype=np.float64)), axis=axis)


def bootstrap_ci(
    values: np.ndarray,
    statistic=iqm,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of ``statistic`` over the finite seeds (axis 0 of ``values [S, ...]``).

    Seeds are resampled with replacement among those finite at a position, so a non-finite value
    (a diverged seed) changes nothing but ``n``: the CI of a column equals the CI of its finite
    values alone, given the same ``seed``. Columns finite on the same seeds share their resamples.

    Args:
      values: ``[S, ...]`` per-seed values.
      statistic: ``f(x [n, K], axis=0) -> [K]``, column by column (e.g. :func:`iqm`, ``np.mean``).
      num_resamples: bootstrap resamples.
      confidence: two-sided level.
      seed: NumPy generator seed (host-side statistics only; training uses JAX keys).

    Returns:
      ``(low, high)`` arrays of shape ``[...]``; NaN where no seed is finite.
    """
    values = np.asarray(values, dtype=np.float64)
    columns = values.reshape(values.shape[0], -1)  # [S, K]
    low, high = np.full(columns.shape[1], np.nan), np.full(columns.shape[1], np.nan)
    patterns, which = np.unique(np.isfinite(columns).T, axis=0, return_inverse=True)
    for p, finite in enumerate(patterns):
        if finite.any():
            same = which.reshape(-1) == p
            low[same], high[same] = _percentiles(columns[finite][:, same], statistic, num_resamples, confidence, seed)
    return low.reshape(values.shape[1:]), high.reshape(values.shape[1:])


def _percentiles(
    values: np.ndarray, statistic, num_resamples: int, confidence: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap of ``statistic`` over the rows of finite ``values [n, K]``."""
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

    Runs are resampled with replacement independently within each task (column), among that
    task's finite scores only, then ``statistic`` is taken over all resampled scores together.
    A non-finite score (a diverged run) changes nothing but its task's run count: the CI of
    ``[R]`` scores with a NaN equals the CI of the finite ones alone, given the same ``seed``.

    Args:
      scores: ``[R, T]`` final scores of ``R`` runs (seeds) on ``T`` tasks; ``[R]`` means one task.
      statistic: ``f(x [n], axis=0) -> scalar`` (default :func:`iqm`).
      num_resamples, confidence, seed: as in :func:`bootstrap_ci`.

    Returns:
      ``(low, high)``; NaN if no score is finite.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    finite = np.isfinite(scores)
    counts = np.sum(finite, axis=0)
    tasks = counts > 0  # a task without a finite score has nothing to resample
    if not tasks.any():
        return math.nan, math.nan
    counts = counts[tasks]
    packed = np.zeros((counts.max(), len(counts)))  # each task's finite scores in its first rows, in order
    for column, t in enumerate(np.flatnonzero(tasks)):
        packed[: counts[column], column] = scores[finite[:, t], t]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, counts, size=(num_resamples, counts.max(), len(counts)))
    resampled = np.take_along_axis(packed[None], idx, axis=1)
    used = np.arange(counts.max())[:, None] < counts  # [rows, tasks]: rows a task resamples
    stats = statistic(resampled[:, used].T, axis=0)
    alpha = (1.0 - confidence) / 2
    return float(np.nanquantile(stats, alpha)), float(np.nanquantile(stats, 1 - alpha))


FEW_SEEDS = 5
"""Below this many finite seeds an interval over seeds is their range [min, max], never a 95% CI.

With 4 or fewer seeds the percentile bootstrap of the IQM returns exactly the seeds' minimum and
maximum (a resample whose IQM window holds only the smallest seed, or only the largest, comes up
in more than 2.5% of resamples), so calling it a 95% CI would claim a coverage it does not have."""


def interval_name(seeds: int) -> str:
    """What an interval over ``seeds`` finite seeds is: ``"95% CI"`` from :data:`FEW_SEEDS` on, else ``"range"``."""
    return "95% CI" if seeds >= FEW_SEEDS else "range"


class SeedStats(NamedTuple):
    """Statistics of one score per seed, over the finite seeds; ``diverged`` counts the others."""

    seeds: int  # all seeds, diverged ones included
    diverged: int  # seeds whose score is NaN or ±inf, left out of every statistic below
    iqm: float  # NaN when every seed diverged, like the rest
    ci_low: float  # 95% stratified-bootstrap CI of the IQM; with < FEW_SEEDS finite seeds: min (a range)
    ci_high: float  # its upper end; with < FEW_SEEDS finite seeds: max
    median: float
    mean: float
    min: float
    max: float


def seed_stats(scores: np.ndarray) -> SeedStats:
    """:class:`SeedStats` of ``scores [S]`` (e.g. each seed's final eval return).

    The interval is the IQM's 95% stratified-bootstrap CI with at least :data:`FEW_SEEDS` finite
    seeds and their range ``[min, max]`` below that; :func:`interval_name` names it.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return SeedStats(scores.size, scores.size, *(math.nan,) * 7)
    low, high = stratified_bootstrap_ci(finite) if finite.size >= FEW_SEEDS else (finite.min(), finite.max())
    return SeedStats(
        seeds=scores.size,
        diverged=scores.size - finite.size,
        iqm=float(iqm(finite)),
        ci_low=float(low),
        ci_high=float(high),
        median=float(np.median(finite)),
        mean=float(np.mean(finite)),
        min=float(np.min(finite)),
        max=float(np.max(finite)),
    )


def seed_band(values: np.ndarray, statistic=iqm) -> tuple[np.ndarray, np.ndarray, str]:
    """A band over seeds for a curve: ``(low [...], high [...], label)`` from ``values [S, ...]``.

    Where at least :data:`FEW_SEEDS` seeds are finite, the 95% percentile-bootstrap CI of
    ``statistic``; elsewhere the finite seeds' range ``[min, max]``. The label says which.
    """
    values = np.asarray(values, dtype=np.float64)
    low, high = bootstrap_ci(values, statistic=statistic)
    few = np.sum(np.isfinite(values), axis=0) < FEW_SEEDS
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its band stays NaN
        low = np.where(few, np.nanmin(values, axis=0), low)
        high = np.where(few, np.nanmax(values, axis=0), high)
    if few.all():
        label = "range over seeds [min, max]"
    elif few.any():
        label = f"95% bootstrap CI (range where < {FEW_SEEDS} seeds)"
    else:
        label = "95% bootstrap CI"
    return low, high, label


def fmt_stat(value: float | None, spec: str = ".1f") -> str:
    """``value`` formatted for a table, ``—`` for None or NaN (e.g. every seed diverged)."""
    return "—" if value is None or math.isnan(value) else format(value, spec)


def wilson_ci(successes: np.ndarray, trials: int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``successes / trials`` (element-wise)."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = np.asarray(successes, dtype=np.float64) / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


class McNemar(NamedTuple):
    """An exact McNemar test of one yes/no outcome on paired seeds."""

    pairs: int  # seeds compared (both outcomes known)
    first_only: int  # pairs where only the first run had the outcome (b)
    second_only: int  # pairs where only the second had it (c)
    p: float  # two-sided: 2·P(Binomial(b + c, ½) ≤ min(b, c)), at most 1; 1 when b + c = 0


def mcnemar_exact(first: Sequence[bool], second: Sequence[bool]) -> McNemar:
    """Exact McNemar test: do two runs on the same seeds differ in how often an outcome happens?

    Seed ``k`` of both runs started from the same key, so the outcomes are paired; only the seeds
    where they disagree carry information, and under "no difference" each such seed is as likely to
    favour either run. The p-value is the two-sided exact binomial test of those ``b + c`` seeds.

    Args:
      first: ``[S]`` outcome per seed of the first run (e.g. reached the goal).
      second: ``[S]`` the same seeds' outcome in the second run.

    Returns:
      :class:`McNemar`; e.g. ``b = 5, c = 0`` gives ``p = 2 / 2⁵ = 0.0625``.
    """
    first, second = np.asarray(first, dtype=bool).reshape(-1), np.asarray(second, dtype=bool).reshape(-1)
    if first.shape != second.shape:
        raise ValueError(f"mcnemar_exact: paired outcomes need equal lengths, got {first.size}, {second.size}")
    b, c = int(np.sum(first & ~second)), int(np.sum(second & ~first))
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return McNemar(first.size, b, c, min(1.0, 2.0 * tail))


class PairedPermutation(NamedTuple):
    """A paired sign-flip permutation test of the mean difference between two runs' scores."""

    pairs: int  # seeds compared (finite in both runs)
    mean_difference: float  # mean over those seeds of first − second
    p: float  # two-sided
    exact: bool  # every sign flip enumerated (else a Monte Carlo estimate)


def paired_permutation_test(
    first: Sequence[float], second: Sequence[float], exact_up_to: int = 16, num_resamples: int = 20_000, seed: int = 0
) -> PairedPermutation:
    """Paired sign-flip permutation test: is the mean of ``first − second`` over seeds nonzero?

    Under "no difference" the sign of each seed's difference is a coin flip. The p-value is the
    fraction of the ``2ⁿ`` sign assignments whose ``|mean|`` is at least the observed one (each
    assignment and its mirror both count, so it is two-sided; the smallest possible value is
    ``2 / 2ⁿ``: 0.125 with 4 seeds, 0.0078 with 8). Pairs with a non-finite score (a diverged
    seed) are left out.

    Args:
      first, second: ``[S]`` per-seed scores of two runs on the same seeds.
      exact_up_to: enumerate every sign flip up to this many pairs; above, ``num_resamples`` random ones.
      num_resamples, seed: the Monte Carlo estimate's size and NumPy seed (``(hits + 1) / (R + 1)``).

    Returns:
      :class:`PairedPermutation`; ``p = 1`` and ``mean_difference = NaN`` without any finite pair.
    """
    first, second = np.asarray(first, dtype=np.float64).reshape(-1), np.asarray(second, dtype=np.float64).reshape(-1)
    if first.shape != second.shape:
        raise ValueError(f"paired_permutation_test: paired scores need equal lengths, got {first.size}, {second.size}")
    d = (first - second)[np.isfinite(first) & np.isfinite(second)]
    n = d.size
    if n == 0:
        return PairedPermutation(0, math.nan, 1.0, True)
    observed = abs(d.sum())
    tolerance = 1e-9 * max(float(np.abs(d).sum()), 1e-300)  # sums equal up to rounding count as ties
    if n <= exact_up_to:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)  # [2ⁿ, n]: every ±1 assignment
        p = float(np.mean(np.abs(signs @ d) >= observed - tolerance))
        return PairedPermutation(n, float(d.mean()), p, True)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(num_resamples, n))
    hits = int(np.sum(np.abs(signs @ d) >= observed - tolerance))
    return PairedPermutation(n, float(d.mean()), (hits + 1) / (num_resamples + 1), False)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values of ``m`` comparisons made together (same order as given).

    The ``i``-th smallest p is multiplied by ``m − i`` (``i`` from 0), made non-decreasing in that
    order and capped at 1; rejecting where the adjusted p is below α keeps the chance of any false
    rejection among the ``m`` at most α.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (p.size - np.arange(p.size))))
    out = np.empty_like(p)
    out[order] = adjusted
    return out


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
    env: envs.Env | None = None,
) -> dict:
    """The public ``metrics.json`` record for a run of ``len(seeds)`` vmapped seeds.

    ``metrics`` fields carry a leading seed axis ``[S, ...]``; ``algo`` names the learner
    (``config.algo``: ``"ddpg"``, ``"dqn"``). ``env`` is the environment trained on (default: the
    one ``config.env`` names; give it for your own object passed to ``make_train(config, env=...)``).
    """
    if env is None:
        env = build_env(config)
    m = {k: np.asarray(v) for k, v in metrics._asdict().items() if k != "nonfinite"}
    steps_trained = int(m["eval_step"][0][-1]) if m["eval_step"].size else 0  # < total_steps if it stopped early
    total_steps = len(seeds) * steps_trained
    return {
        "algo": config.algo,
        "config": dataclasses.asdict(config),
        "jax_version": jax_version,
        "device": device,
        "seeds": [int(s) for s in seeds],
        "compile_seconds": float(compile_seconds),
        "run_seconds": float(run_seconds),
        "env_steps_per_second": total_steps / run_seconds if run_seconds > 0 else None,
        "eval": {
            "step": m["eval_step"][0].astype(int).tolist(),
            "return": json_list(m["eval_return"]),
            **({"upside_down": json_list(m["eval_upside_down"])} if envs.brax_envs.has_torso(config.env) else {}),
        },
        "sigma": {"step": m["log_step"][0].astype(int).tolist(), "value": json_list(m["sigma"])},
        "action_distance": {"step": m["log_step"][0].astype(int).tolist(), "value": json_list(m["action_distance"])},
        "train_episode_return": {
            "step": m["log_step"][0].astype(int).tolist(),
            "value": json_list(m["train_episode_return"]),
        },
        "nonfinite_step": {
            name: [int(s) for s in np.asarray(step)] for name, step in metrics.nonfinite._asdict().items()
        },
        "env_class": envs.describe(env),
        **_exploration_records(config, m, env),
    }


def _exploration_records(config: Any, m: dict[str, np.ndarray], env: envs.Env) -> dict:
    """``goal`` (sparse tasks) and ``coverage`` (when ``coverage_steps > 0``) parts of metrics.json."""
    out = {}
    if env.goal is not None:
        out["goal"] = {
            "reward_above": env.goal.reward_above,
            "solved_return": env.goal.solved_return,
            "first_step": [None if s < 0 else int(s) for s in m["first_goal_step"]],
            "hits": {"step": m["log_step"][0].astype(int).tolist(), "value": m["goal_hits"].astype(int).tolist()},
        }
    if getattr(config, "coverage_steps", 0):
        out["coverage"] = {
            "steps": int(getattr(config, "coverage_steps", 0)),
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


def series(record: dict, name: str, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(steps [L], values [S, L])`` of a metrics.json series (``eval``, ``sigma``, …); null → NaN.

    ``key``: the values to read (default ``return`` for ``eval``, ``value`` for the others), e.g.
    ``series(record, "eval", "upside_down")``."""
    key = key or ("return" if name == "eval" else "value")
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


def algo_label(record: dict) -> str:
    """The learner of a metrics.json record for titles, e.g. ``"DQN"``.

    Records written before ``"algo"`` was recorded hold only DDPG or DQN runs; a DQN config is
    the one with an ``lr`` field (DDPG has ``actor_lr`` and ``critic_lr``).
    """
    algo = record.get("algo") or ("dqn" if "lr" in record["config"] else "ddpg")
    return algo.upper()


def diverged_note(values: np.ndarray) -> str:
    """``" (k diverged)"`` for the seeds (rows of ``values [S, ...]``) with any non-finite value, else ``""``."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    count = int(np.sum(~np.all(np.isfinite(values), axis=1)))
    return f" ({count} diverged)" if count else ""


COLUMN_WIDTH = 3.4
"""Inches: one column of a two-column paper (3.25–3.5 in at NeurIPS, ICML, IEEE). A figure drawn at
this width goes in unscaled, so its text prints at the size it was set in (:data:`PAPER_STYLE`)."""
TEXT_WIDTH = 7.0
"""Inches: the whole text width of a two-column paper, for a figure with too many curves for a column."""
PAPER_STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.2,
    "axes.grid": True,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.3,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,  # TrueType fonts in PDF (many venues refuse Type 3 fonts)
    "ps.fonttype": 42,
    "svg.fonttype": "none",  # SVG text stays text: searchable and editable
}
"""The matplotlib settings of every figure (:func:`paper_style`): no text below 8 pt, 300 dpi PNG."""
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
OTHER_IMAGE_SUFFIXES = (".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif", ".bmp", ".pgf", ".svgz")
"""Image formats a figure is not written in: an ``out`` ending so is refused rather than taken for a name."""


@contextlib.contextmanager
def paper_style():
    """Within it, figures are drawn and saved in :data:`PAPER_STYLE`; yields ``matplotlib.pyplot``
    (on the non-interactive Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(PAPER_STYLE):
        yield plt


def step_tick(value: float, _position: Any = None) -> str:
    """An env-step tick label: ``150``, ``20k``, ``1.5M``."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def figure_paths(out: str) -> tuple[str, str]:
    """The two files of a figure: ``(PNG path, vector path)``.

    ``fig``, ``fig.png`` and ``fig.pdf`` give ``fig.png`` and ``fig.pdf``; ``fig.svg`` gives ``fig.png``
    and ``fig.svg``. Any other suffix is part of the name (``fig.v2`` → ``fig.v2.png``), except
    another image format's (``.jpg``, ``.eps``, …): ``ValueError``, as for a folder or an empty name.
    """
    stem, suffix = os.path.splitext(out)
    if not os.path.basename(out) or os.path.isdir(out):
        raise ValueError(
            f"out: {out} is a folder; give a figure's file name in it, e.g. {os.path.join(out, 'returns')}"
        )
    if suffix.lower() in OTHER_IMAGE_SUFFIXES:
        raise ValueError(
            f"out: {out} asks for {suffix[1:].upper()}; a figure is written as PNG and PDF (or SVG): "
            "give FIG, FIG.png, FIG.pdf or FIG.svg"
        )
    if suffix.lower() not in FIGURE_SUFFIXES:
        stem = out
    return stem + ".png", stem + (".svg" if suffix.lower() == ".svg" else ".pdf")


class RunsFigure(NamedTuple):
    """What :func:`plot_runs` wrote."""

    png: str  # path of the PNG (300 dpi)
    vector: str  # path of the PDF (or SVG)
    band: str  # what the shaded bands are (:func:`band_text`), as the legend says


class _Curve(NamedTuple):
    label: str
    steps: np.ndarray  # [L]
    values: np.ndarray  # [S, L]
    band: tuple[np.ndarray, np.ndarray, str]  # seed_band(values)


def _legend_columns(labels: Sequence[str], width: float) -> int:
    """The most legend columns (up to 4) whose entries fit side by side in ``width`` inches at 8 pt."""
    per_char, handle = 4.6 / 72, 0.45  # inches: a mean 8 pt character; a line handle and its gap
    longest = max((len(label) for label in labels), default=0) * per_char + handle
    return max(1, min(4, len(labels), int(0.95 * width // longest)))


def _draw_runs(
    plt: Any,
    records: dict[str, dict],
    title: str | None,
    published: Sequence[tuple[str, int, float]] = (),
    published_source: str = "published",
    width: float | None = None,
) -> tuple[Any, str]:
    """One IQM curve with its band per record, in :data:`PAPER_STYLE`: ``(figure, band text)``.

    The legend goes under the axes (it never hides a curve) and its title says what the bands are;
    when some runs have a CI and others a range, each entry gives its run's seed count.
    """
    if not records:
        raise ValueError("records: no run to plot")
    curves = []
    for label, record in records.items():
        steps, values = series(record, "eval")
        curves.append(_Curve(label, steps, values, seed_band(values)))
    bands = {curve.band[2] for curve in curves}
    band = band_text(bands)
    labels = [
        curve.label + (f" ({curve.values.shape[0]} seeds)" if len(bands) > 1 else "") + diverged_note(curve.values)
        for curve in curves
    ]
    stars = [f"{label}: {published_source}" for label, _, _ in published if label in records]
    width = width or (COLUMN_WIDTH if len(curves) <= 6 else TEXT_WIDTH)
    columns = _legend_columns(labels + stars, width)
    rows = -(-len(labels + stars) // columns)
    height = (2.3 if width <= COLUMN_WIDTH else 3.2) + 0.17 * (rows + 1) + (0.2 if title else 0.0)
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    many = len(curves) > 10
    colors = plt.get_cmap("viridis" if many else "tab10")
    for i, (curve, label) in enumerate(zip(curves, labels, strict=True)):
        color = colors(i / max(1, len(curves) - 1)) if many else colors(i % 10)
        low, high, _ = curve.band
        ax.fill_between(curve.steps, low, high, color=color, alpha=0.15, linewidth=0)
        ax.plot(curve.steps, iqm(curve.values), color=color, label=label)
        for point_label, step, value in published:
            if point_label == curve.label:
                ax.plot(
                    [step],
                    [value],
                    marker="*",
                    markersize=9,
                    color=color,
                    markeredgecolor="black",
                    markeredgewidth=0.5,
                    linestyle="none",
                    label=f"{curve.label}: {published_source}",
                )
    _axes_text(ax, title, "eval return (IQM over seeds)", width)
    handles, _ = ax.get_legend_handles_labels()
    fig.legend(handles=handles, loc="outside lower center", ncols=columns, frameon=False, title=f"shaded: {band}")
    return fig, band


def _axes_text(ax: Any, title: str | None, ylabel: str, width: float) -> None:
    """Title (wrapped to the figure's width), axis labels and env-step ticks."""
    import textwrap

    from matplotlib.ticker import FuncFormatter

    if title:
        ax.set_title(textwrap.fill(title, width=int((width - 0.6) * 14)))  # the axes' width at 9 pt
    ax.set_xlabel("environment steps per seed")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_formatter(FuncFormatter(step_tick))
    ax.margins(x=0.01)


def plot_runs(
    records: dict[str, dict],
    out: str,
    title: str | None = None,
    *,
    published: Sequence[tuple[str, int, float]] = (),
    published_source: str = "published",
    width: float | None = None,
) -> RunsFigure:
    """A figure for a paper: several runs' eval return vs env steps, one IQM curve each, as PNG and PDF.

    Each curve is the IQM over the run's seeds at each evaluation, shaded with its band
    (:func:`seed_band`): a 95% bootstrap CI with at least :data:`FEW_SEEDS` finite seeds, the seeds'
    range below; the legend's title says which (:func:`band_text`). Drawn in :data:`PAPER_STYLE`,
    :data:`COLUMN_WIDTH` wide for up to 6 runs (:data:`TEXT_WIDTH` for more), so it goes into a
    paper unscaled with no text below 8 pt.

    Args:
      records: ``{legend label: metrics.json record}``, in legend order (e.g. strategies, presets).
      out: ``FIG``, ``FIG.png``, ``FIG.pdf`` or ``FIG.svg``; both files are written (:func:`figure_paths`).
      title: above the axes; None for none (a paper's caption usually says it).
      published: ``(label, env step, return)`` points drawn as stars in that run's colour.
      published_source: the stars' legend text after the label (e.g. ``"Plappert et al. 2018"``).
      width: inches, instead of the default.

    Returns:
      :class:`RunsFigure`: the paths written and the band text.

    Example::

        records = {"param": json.load(open("runs/param/metrics.json")), "OU": json.load(open("runs/ou/metrics.json"))}
        plot_runs(records, "figures/pendulum")  # figures/pendulum.png and figures/pendulum.pdf
    """
    png, vector = figure_paths(out)
    with paper_style() as plt:
        fig, band = _draw_runs(plt, records, title, published, published_source, width)
        try:
            for path in (png, vector):
                fig.savefig(path)
        finally:
            plt.close(fig)
    return RunsFigure(png, vector, band)


def run_labels(records: Sequence[dict], folders: Sequence[str]) -> list[str]:
    """Legend labels that tell runs apart by what differs between them, one per record.

    In turn: those of the preset (where the record names one), learner, exploration strategy and
    env that differ between the runs (e.g. ``"TD3, param"``); with at most two config fields more
    where those leave two runs alike (``"param, sigma_init=0.4"``); else the run folders' names (their
    paths below the folder they share, when two names are alike). One run: its learner and strategy.

    Args:
      records: metrics.json records.
      folders: the folder each was read from.
    """
    described = [
        {
            "preset": record.get("preset"),
            "algo": algo_label(record),
            "exploration": record["config"].get("exploration"),
            "env": record["config"].get("env"),
        }
        for record in records
    ]
    if len(records) == 1:
        return [f"{described[0]['algo']}, {described[0]['exploration']}"]
    named = [key for key in described[0] if len({repr(d[key]) for d in described}) > 1]
    labels = [[str(d[key]) for key in named] for d in described]
    if len({tuple(label) for label in labels}) < len(labels):
        configs = [record["config"] for record in records]
        fields = sorted({k for config in configs for k in config if k not in ("exploration", "env")})
        differ = [k for k in fields if len({repr(config.get(k)) for config in configs}) > 1]
        if 0 < len(differ) <= 2:
            labels = [
                label + [f"{k}={_config_text(config.get(k))}" for k in differ]
                for label, config in zip(labels, configs, strict=True)
            ]
    joined = [", ".join(label) for label in labels]
    return joined if len(set(joined)) == len(joined) and all(joined) else _folder_names(folders)


def _config_text(value: Any) -> str:
    """A config value for a legend: ``0.2``, ``1e-05``, ``64x64`` for layer sizes."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "x".join(_config_text(v) for v in value)
    return str(value)


def _folder_names(folders: Sequence[str]) -> list[str]:
    """Each folder's own name, or its path below the folder they all share when two names are alike."""
    paths = [os.path.normpath(os.path.abspath(folder)) for folder in folders]
    names = [os.path.basename(path) for path in paths]
    if len(set(names)) == len(names):
        return names
    common = os.path.commonpath(paths)
    return [os.path.relpath(path, common) if path != common else os.path.basename(path) for path in paths]


def plot_returns(record: dict, path: str, title: str | None = None) -> None:
    """Eval return vs env steps of one run: IQM over seeds with a band (:func:`seed_band`), and each seed faintly.

    The band is a 95% bootstrap CI with at least :data:`FEW_SEEDS` finite seeds, their range below
    that (the legend says which). Statistics at each step are over the seeds finite there; the
    legend counts the diverged seeds. Drawn like :func:`plot_runs` (:data:`PAPER_STYLE`, one column
    wide), in the format ``path`` names.
    """
    steps, values = series(record, "eval")
    config = record["config"]
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.9), layout="constrained")
        for row in values:
            ax.plot(steps, row, color="tab:blue", alpha=0.2, linewidth=0.6)
        low, high, band = seed_band(values)
        ax.plot(steps, iqm(values), color="tab:blue", label=f"IQM over {values.shape[0]} seeds{diverged_note(values)}")
        ax.fill_between(steps, low, high, color="tab:blue", alpha=0.25, linewidth=0, label=band)
        title = title or f"{config['env']} — {algo_label(record)}, exploration={config['exploration']}"
        _axes_text(ax, title, f"eval return (mean of {config['eval_episodes']} episodes)", COLUMN_WIDTH)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(
            handles=handles, loc="outside lower center", ncols=_legend_columns(labels, COLUMN_WIDTH), frameon=False
        )
        try:
            fig.savefig(path)
        finally:
            plt.close(fig)


RUN_FILES = ("metrics.json", "metrics.csv", "returns.png")
CHECKPOINT_DIR = "checkpoints"  # a run's checkpoints: OUT/checkpoints/<env step>/


def write_record(record: dict, out_dir: str) -> str:
    """Writes ``out_dir/metrics.json`` atomically (a run stopped meanwhile leaves none, never half
    of one), creating ``out_dir``; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "metrics.json")
    with open(path + ".partial", "w") as f:
        json.dump(record, f, indent=1, allow_nan=False)
    os.replace(path + ".partial", path)
    return path


def save_run(record: dict, out_dir: str) -> dict[str, str]:
    """Writes ``metrics.csv``, ``returns.png`` and, last and atomically, ``metrics.json`` into ``out_dir``."""
    paths = {name: os.path.join(out_dir, name) for name in RUN_FILES}
    os.makedirs(out_dir, exist_ok=True)
    write_csv(record, paths["metrics.csv"])
    plot_returns(record, paths["returns.png"])
    write_record(record, out_dir)  # last: a metrics.json on disk means every file of the run was written
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
    """One line: final eval return median / IQM / min / max over the finite seeds, and how many diverged."""
    stats = seed_stats(final_returns(record))
    finite = stats.seeds - stats.diverged
    seeds = f"{stats.seeds} seed{'s' if stats.seeds != 1 else ''}"
    over = f"the {finite} finite of {seeds}" if stats.diverged else seeds
    return (
        f"final eval return over {over} ({stats.diverged} diverged): median {fmt_stat(stats.median)}, "
        f"IQM {fmt_stat(stats.iqm)}, min {fmt_stat(stats.min)}, max {fmt_stat(stats.max)}"
    )


def summary_rows(records: dict[str, dict]) -> list[dict]:
    """One row per setting: final eval return IQM with its interval (:func:`seed_stats`), median, mean.

    Statistics are over the seeds whose final return is finite; ``diverged`` counts the others.
    ``ci_low``/``ci_high`` are a 95% CI with at least :data:`FEW_SEEDS` finite seeds, else the range.

    Args:
      records: ``{label: metrics.json record}``.
    """
    rows = []
    for label, record in records.items():
        stats = seed_stats(final_returns(record))
        rows.append(
            {
                "setting": label,
                "seeds": stats.seeds,
                "diverged": stats.diverged,
                "final_iqm": stats.iqm,
                "ci_low": stats.ci_low,
                "ci_high": stats.ci_high,
                "median": stats.median,
                "mean": stats.mean,
                "min": stats.min,
                "max": stats.max,
            }
        )
    return rows


def write_summary(rows: list[dict], csv_path: str, md_path: str, title: str) -> None:
    """``summary.csv`` (all columns) and ``summary.md`` (a Markdown table, best IQM first).

    The interval column is headed ``95% CI`` when every setting has at least :data:`FEW_SEEDS`
    finite seeds and ``range`` when none has; a mixed table marks each range ``(range)``.
    """
    write_rows_csv(rows, csv_path)
    lines = [
        f"# {title}",
        "",
        "Final deterministic eval return per setting: IQM over seeds with an interval: a 95% "
        f"stratified-bootstrap CI with at least {FEW_SEEDS} finite seeds, the seeds' range [min, max] with fewer.",
        "Statistics are over the finite seeds; *diverged* counts the seeds whose final return is NaN or ±inf.",
    ]
    header, mark = interval_header([row["seeds"] - row["diverged"] for row in rows])
    if header != "95% CI":
        lines += [
            f"With fewer than {FEW_SEEDS} seeds the interval is a range, not a confidence interval, and "
            "whether two ranges overlap says nothing about a difference: compare settings with a paired "
            "test over more seeds.",
        ]
    lines += [
        "",
        f"| setting | seeds | diverged | IQM | {header} | median | min | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (math.isnan(r["final_iqm"]), -r["final_iqm"])):
        lines.append(
            f"| {row['setting']} | {row['seeds']} | {row['diverged']} | {fmt_stat(row['final_iqm'])} | "
            f"{interval_cell(row, mark)} | {fmt_stat(row['median'])} | {fmt_stat(row['min'])} | "
            f"{fmt_stat(row['max'])} |"
        )
    with open(md_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def interval_header(finite_seeds: Sequence[int]) -> tuple[str, bool]:
    """``(column header, mark ranges)`` for a table whose rows have ``finite_seeds`` finite seeds each.

    ``("95% CI", False)`` when every row has at least :data:`FEW_SEEDS`, ``("range", False)`` when
    none has, else ``("95% CI or range", True)``: each row below :data:`FEW_SEEDS` is marked.
    """
    few = [n < FEW_SEEDS for n in finite_seeds]
    if not any(few):
        return "95% CI", False
    return ("range", False) if all(few) else ("95% CI or range", True)


def interval_cell(row: dict, mark: bool = False) -> str:
    """``[low, high]`` of a :func:`summary_rows`-style row, with `` (range)`` when ``mark`` and it is one."""
    cell = f"[{fmt_stat(row['ci_low'])}, {fmt_stat(row['ci_high'])}]"
    finite = row["seeds"] - row["diverged"]
    return cell + (" (range)" if mark and interval_name(finite) == "range" else "")


def plot_settings(
    records: dict[str, dict],
    path: str,
    title: str,
    published: Sequence[tuple[str, int, float]] = (),
    published_source: str = "published",
) -> None:
    """Eval return vs env steps, one IQM curve per setting with a band (:func:`seed_band`), into ``path``.

    :func:`plot_runs`'s figure (the legend's title says what the bands are: 95% bootstrap CIs, seed
    ranges below :data:`FEW_SEEDS` finite seeds, or both), in the one format ``path`` names.
    ``published``: ``(setting label, env step, return)`` points drawn as stars in their setting's
    colour, labelled ``published_source`` in the legend.
    """
    with paper_style() as plt:
        fig, _ = _draw_runs(plt, records, title, published, published_source)
        try:
            fig.savefig(path)
        finally:
            plt.close(fig)


def band_text(labels: set[str]) -> str:
    """One description of the bands of several curves (labels from :func:`seed_band`)."""
    if not labels:
        return "none"
    if len(labels) == 1:
        return next(iter(labels))
    return f"95% bootstrap CI, or range with < {FEW_SEEDS} seeds"


def plot_heatmap(records: dict[str, dict], x_field: str, y_field: str, path: str, title: str) -> None:
    """Final eval-return IQM over a two-field grid (e.g. σ₀ × δ), one cell per setting (:data:`PAPER_STYLE`)."""
    finals = {}
    for record in records.values():
        finals[(record["config"][x_field], record["config"][y_field])] = float(iqm(final_returns(record)))
    xs, ys = sorted({x for x, _ in finals}), sorted({y for _, y in finals})
    grid = np.full((len(ys), len(xs)), np.nan)
    for (x, y), value in finals.items():
        grid[ys.index(y), xs.index(x)] = value
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(0.7 * len(xs) + 2.0, 0.55 * len(ys) + 1.4), layout="constrained")
        image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
        ax.grid(False)
        low, high = np.nanmin(grid), np.nanmax(grid)
        for i in range(len(ys)):
            for j in range(len(xs)):
                bright = high > low and (grid[i, j] - low) / (high - low) > 0.6
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="black" if bright else "white")
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        ax.set_xlabel(x_field)
        ax.set_ylabel(y_field)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, label="final eval return (IQM)")
        try:
            fig.savefig(path)
        finally:
            plt.close(fig)


def paired_comparisons(records: dict[str, dict], reference: str | None = None) -> list[dict]:
    """Every run against a reference run on their common seeds: paired tests of each outcome.

    The reference is ``reference``, else ``param`` when it ran, else the first run. Outcomes:
    reached the goal while training and solved at the final evaluation (exact McNemar test) on
    sparse tasks, and the final eval return (paired sign-flip permutation test of the mean
    difference) everywhere. Seed k of every run starts from the same key, so the pairs are the
    seeds both runs trained (a run with none in common is left out). ``holm_p`` adjusts every
    ``p`` for the number of comparisons in the list.
    """
    reference = reference or ("param" if "param" in records else next(iter(records)))
    base = records[reference]
    rows = []
    for name, record in records.items():
        common = [seed for seed in base["seeds"] if seed in record["seeds"]]
        if name == reference or not common:
            continue
        mine, theirs = ([run["seeds"].index(seed) for seed in common] for run in (base, record))
        pair = f"{reference} vs {name}"
        if base.get("goal") and record.get("goal"):
            for outcome, hit in (("reached goal", _reached), ("solved", _solved)):
                first, second = hit(base)[mine], hit(record)[theirs]
                test = mcnemar_exact(first, second)
                rows.append(
                    {
                        "comparison": pair,
                        "outcome": outcome,
                        "first": f"{int(np.sum(first))}/{test.pairs}",
                        "second": f"{int(np.sum(second))}/{test.pairs}",
                        "difference": f"{test.first_only} / {test.second_only} seeds",
                        "test": "exact McNemar",
                        "p": test.p,
                    }
                )
        first, second = final_returns(base)[mine], final_returns(record)[theirs]
        test = paired_permutation_test(first, second)
        rows.append(
            {
                "comparison": pair,
                "outcome": "final return",
                "first": f"mean {fmt_stat(float(np.nanmean(first)) if np.isfinite(first).any() else None)}",
                "second": f"mean {fmt_stat(float(np.nanmean(second)) if np.isfinite(second).any() else None)}",
                "difference": f"{fmt_stat(test.mean_difference, '+.1f')} over {test.pairs} seeds",
                "test": "paired permutation" + ("" if test.exact else " (Monte Carlo)"),
                "p": test.p,
            }
        )
    return with_holm(rows)


def with_holm(comparisons: list[dict]) -> list[dict]:
    """``comparisons`` with ``holm_p``: each ``p`` adjusted for all the comparisons in the list."""
    for row, adjusted in zip(comparisons, holm([row["p"] for row in comparisons]), strict=True):
        row["holm_p"] = float(adjusted)
    return comparisons


def _reached(record: dict) -> np.ndarray:
    return np.array([step is not None for step in record["goal"]["first_step"]])


def _solved(record: dict) -> np.ndarray:
    return final_returns(record) > record["goal"]["solved_return"]  # a diverged (NaN) seed did not solve


def comparison_lines(comparisons: list[dict]) -> list[str]:
    """The Markdown section of :func:`paired_comparisons` (empty without comparisons)."""
    if not comparisons:
        return []
    m = len(comparisons)
    lines = [
        "",
        f"Paired comparisons ({m} made; seed k of every strategy starts from the same key): exact McNemar test "
        "on the seeds where the two strategies differ (only A / only B), and a sign-flip permutation test of "
        "the mean per-seed difference in final return (A − B). p is two-sided; Holm p adjusts it for all "
        f"{m} comparisons. With n seeds no test can give p below 2/2ⁿ.",
        "",
        "| A vs B | outcome | A | B | difference | test | p | Holm p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in comparisons:
        lines.append(
            f"| {r['comparison']} | {r['outcome']} | {r['first']} | {r['second']} | {r['difference']} | "
            f"{r['test']} | {r['p']:.3g} | {r['holm_p']:.3g} |"
        )
    return lines
