"""pn_jax.results: statistics over seeds with diverged (non-finite) seeds, summaries, metrics.json, figures."""

from __future__ import annotations

import dataclasses
import math

import jax
import matplotlib.axes
import numpy as np
import pytest
from conftest import TINY, TINY_DQN
from scipy.stats import trim_mean

from pn_jax import DDPGConfig, DQNConfig, Metrics
from pn_jax.results import (
    FEW_SEEDS,
    bootstrap_ci,
    holm,
    interval_name,
    iqm,
    mcnemar_exact,
    metrics_dict,
    num_diverged,
    paired_permutation_test,
    plot_returns,
    seed_band,
    seed_stats,
    stratified_bootstrap_ci,
    summarize,
    summary_rows,
    write_summary,
)
from pn_jax.train import NonFinite

NAN, INF = math.nan, math.inf


# ---- IQM ----


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4, NAN, NAN, NAN, NAN], 2.5),  # the NaNs used to slide the window up: 3.5
        ([1, 2, 3, 4, INF, -INF, NAN, INF], 2.5),  # ±inf are diverged seeds too, not extremes to trim
        ([NAN, 4, 3, NAN, 2, 1], 2.5),  # order does not matter
        ([-100, -90, -80, -70, -60, -50, -40, NAN], -70.0),  # seven finite seeds: 5 kept (was -65)
        ([-100, -90, -80, -70, -60, -50, -40, -30], -65.0),  # eight finite seeds: 4 kept
        ([NAN, 7.0], 7.0),
    ],
)
def test_iqm_trims_the_finite_values_only(values, expected):
    assert float(iqm(np.array(values))) == pytest.approx(expected, abs=1e-12)


def test_iqm_of_no_finite_value_is_nan_and_every_seed_counts_as_diverged():
    values = np.array([NAN, INF, -INF, NAN])
    assert math.isnan(float(iqm(values)))
    assert int(num_diverged(values)) == 4
    assert math.isnan(float(iqm(np.zeros((0,)))))


def test_iqm_matches_a_quarter_trimmed_mean_for_every_seed_count():
    rng = np.random.default_rng(0)
    for n in range(1, 20):
        x = rng.normal(size=n)
        assert float(iqm(x)) == pytest.approx(trim_mean(x, 0.25), abs=1e-12), n
        assert float(iqm(np.concatenate([x, [NAN, INF]]))) == pytest.approx(trim_mean(x, 0.25), abs=1e-12), n


def test_iqm_trims_each_column_over_its_own_finite_values():
    values = np.array(
        [
            [1.0, 1.0, NAN],
            [2.0, 2.0, NAN],
            [3.0, 3.0, NAN],
            [4.0, 4.0, NAN],
            [5.0, NAN, NAN],
            [6.0, NAN, NAN],
            [7.0, INF, NAN],
            [8.0, NAN, NAN],
        ]
    )
    expected = [4.5, 2.5, NAN]  # 8 finite: ranks 2..5; 4 finite: ranks 1..2; none
    np.testing.assert_allclose(iqm(values, axis=0), expected)
    np.testing.assert_allclose(iqm(values.T, axis=1), expected)
    np.testing.assert_array_equal(num_diverged(values), [0, 4, 8])
    cube = np.stack([values, values[::-1]], axis=2)  # [S, 3, 2]: any shape after the seed axis
    np.testing.assert_allclose(iqm(cube), np.stack([expected, expected], axis=1))


# ---- bootstrap CIs ----


def test_bootstrap_ci_of_a_sample_with_diverged_seeds_is_the_ci_without_them():
    sample = np.random.default_rng(1).normal(size=10)
    with_nan = np.insert(sample, [3, 7, 10], [NAN, INF, -INF])
    low, high = bootstrap_ci(sample, seed=3)
    low_nan, high_nan = bootstrap_ci(with_nan, seed=3)
    assert float(low_nan) == float(low) and float(high_nan) == float(high)
    assert float(low) < float(iqm(sample)) < float(high)


def test_bootstrap_ci_takes_each_column_over_its_own_finite_seeds():
    values = np.random.default_rng(2).normal(size=(9, 4))
    values[4, 1] = NAN
    values[[0, 8], 2] = INF
    values[:, 3] = NAN
    low, high = bootstrap_ci(values, seed=5)
    for column in range(3):
        finite = values[np.isfinite(values[:, column]), column]
        alone = bootstrap_ci(finite, seed=5)
        assert (low[column], high[column]) == (float(alone[0]), float(alone[1])), column
    assert np.isnan(low[3]) and np.isnan(high[3])


def test_bootstrap_ci_without_diverged_seeds_resamples_the_columns_together():
    values = np.random.default_rng(3).normal(size=(6, 3))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 6, size=(2000, 6))
    stats = np.stack([iqm(values[i]) for i in idx])
    low, high = bootstrap_ci(values)
    np.testing.assert_array_equal(low, np.nanquantile(stats, 0.025, axis=0))
    np.testing.assert_array_equal(high, np.nanquantile(stats, 0.975, axis=0))


def test_stratified_bootstrap_ci_leaves_out_diverged_runs_and_tasks():
    scores = np.random.default_rng(4).normal(size=8)
    with_nan = np.insert(scores, [2, 5], [NAN, -INF])
    assert stratified_bootstrap_ci(with_nan, seed=1) == stratified_bootstrap_ci(scores, seed=1)
    two_tasks = np.stack([scores, scores + 10.0], axis=1)
    dead_task = np.concatenate([two_tasks, np.full((8, 1), NAN)], axis=1)
    assert stratified_bootstrap_ci(dead_task) == stratified_bootstrap_ci(two_tasks)
    ragged = np.concatenate([two_tasks, [[NAN, 10.5]]])  # task 0: 8 runs, task 1: 9 runs
    low, high = stratified_bootstrap_ci(ragged)
    assert scores.min() < low < iqm(ragged.reshape(-1)) < high < scores.max() + 10.0
    assert all(math.isnan(x) for x in stratified_bootstrap_ci(np.full((5, 2), NAN)))


# ---- summaries ----


def _record(final_returns: list, algo: str | None = "ddpg", config: DDPGConfig | DQNConfig | None = None) -> dict:
    """A metrics.json record whose eval returns end at ``final_returns`` (None: a diverged seed)."""
    config = config or DDPGConfig(**TINY)
    record = {
        "config": dataclasses.asdict(config),
        "seeds": list(range(len(final_returns))),
        "eval": {"step": [150, 300], "return": [[-500.0, r] for r in final_returns]},
    }
    return {"algo": algo, **record} if algo else record


def test_seed_stats_are_over_the_finite_seeds_with_the_diverged_ones_counted():
    stats = seed_stats(np.array([-100, -90, -80, -70, -60, -50, -40, NAN]))
    assert (stats.seeds, stats.diverged) == (8, 1)
    assert stats.iqm == pytest.approx(-70.0)
    assert (stats.median, stats.mean, stats.min, stats.max) == (-70.0, -70.0, -100.0, -40.0)
    finite = np.array([-100, -90, -80, -70, -60, -50, -40], dtype=np.float64)
    assert (stats.ci_low, stats.ci_high) == stratified_bootstrap_ci(finite)
    dead = seed_stats(np.array([NAN, INF]))
    assert (dead.seeds, dead.diverged) == (2, 2)
    assert all(math.isnan(x) for x in dead[2:])


@pytest.mark.parametrize("seeds", [1, 2, 3, 4])
def test_below_five_seeds_the_interval_is_the_range_which_is_what_the_bootstrap_gives(seeds):
    """With at most 4 seeds the percentile bootstrap of the IQM is exactly [min, max]: a range, not a CI."""
    scores = np.random.default_rng(seeds).normal(size=seeds)
    stats = seed_stats(np.append(scores, NAN))  # a diverged seed does not count towards FEW_SEEDS
    assert (stats.ci_low, stats.ci_high) == (scores.min(), scores.max())
    assert stratified_bootstrap_ci(scores) == pytest.approx((scores.min(), scores.max()))
    assert interval_name(seeds) == "range" and interval_name(FEW_SEEDS) == "95% CI"
    five = np.random.default_rng(0).normal(size=FEW_SEEDS)
    assert seed_stats(five)[3:5] == stratified_bootstrap_ci(five)
    assert five.min() < seed_stats(five).ci_low  # from 5 seeds on the bootstrap is no longer the range


def test_seed_band_is_a_bootstrap_ci_from_five_seeds_on_and_a_range_below():
    values = np.random.default_rng(5).normal(size=(6, 3))
    values[2:, 1] = NAN  # column 1: 2 finite seeds
    low, high, label = seed_band(values)
    boot = bootstrap_ci(values)
    assert (low[0], high[0]) == (boot[0][0], boot[1][0])
    assert (low[1], high[1]) == (values[:2, 1].min(), values[:2, 1].max())
    assert label == "95% bootstrap CI (range where < 5 seeds)"
    assert seed_band(values[:4])[2] == "range over seeds [min, max]"
    assert seed_band(values[:, [0, 2]])[2] == "95% bootstrap CI"


# ---- paired tests ----


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (5, 0, 0.0625),  # 2 / 2⁵
        (4, 0, 0.125),
        (6, 0, 0.03125),
        (0, 3, 0.25),
        (2, 2, 1.0),
        (3, 1, 0.625),  # 2·(1 + 4) / 16
        (7, 2, 2 * (1 + 9 + 36) / 512),
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact_against_hand_computed_binomial_tails(b, c, expected):
    concordant = 3  # seeds where both runs agree carry no information
    first = [True] * b + [False] * c + [True, False, True][:concordant]
    second = [False] * b + [True] * c + [True, False, True][:concordant]
    test = mcnemar_exact(first, second)
    assert (test.pairs, test.first_only, test.second_only) == (b + c + concordant, b, c)
    assert test.p == pytest.approx(expected)
    assert mcnemar_exact(second, first).p == test.p  # two-sided
    with pytest.raises(ValueError, match="mcnemar_exact: paired outcomes need equal lengths"):
        mcnemar_exact([True], [True, False])


def test_paired_permutation_test_against_hand_enumeration():
    # differences 3, 1, -2: of the 8 sign flips, |sum| is 2, 6, 0, 4, 4, 0, 6, 2; observed |3 + 1 - 2| = 2
    test = paired_permutation_test([5.0, 2.0, 0.0], [2.0, 1.0, 2.0])
    assert (test.pairs, test.exact) == (3, True)
    assert test.mean_difference == pytest.approx(2 / 3)
    assert test.p == pytest.approx(6 / 8)
    # every seed favours the first run: only the observed flip and its mirror are as extreme
    assert paired_permutation_test([10.0] * 8, [0.0] * 8).p == pytest.approx(2 / 2**8)
    assert paired_permutation_test([10.0, 11, 12, 13], [0.0, 1, 2, 3]).p == pytest.approx(0.125)  # 4 seeds: 2/16


def test_paired_permutation_test_leaves_out_diverged_pairs_and_estimates_above_the_exact_limit():
    first = np.array([4.0, 3.0, NAN, 2.0, -1.0, INF])
    second = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    assert paired_permutation_test(first, second) == paired_permutation_test(first[[0, 1, 3, 4]], second[[0, 1, 3, 4]])
    assert paired_permutation_test([NAN], [1.0]) == (0, pytest.approx(NAN, nan_ok=True), 1.0, True)
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=12), rng.normal(size=12)
    exact = paired_permutation_test(a, b)
    estimate = paired_permutation_test(a, b, exact_up_to=8, num_resamples=40_000)
    assert exact.exact and not estimate.exact
    assert estimate.p == pytest.approx(exact.p, abs=0.01)
    with pytest.raises(ValueError, match="paired_permutation_test: paired scores need equal lengths"):
        paired_permutation_test([1.0], [1.0, 2.0])


def test_holm_adjusts_in_order_of_the_raw_p_values():
    # sorted 0.01, 0.02, 0.04, 0.3 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.08, 0.3 (already non-decreasing)
    np.testing.assert_allclose(holm([0.04, 0.01, 0.3, 0.02]), [0.08, 0.04, 0.3, 0.06])
    np.testing.assert_allclose(holm([0.02, 0.021]), [0.04, 0.04])  # 0.021×1 raised to the earlier 0.04
    np.testing.assert_allclose(holm([0.9, 0.01, 0.4]), [0.9, 0.03, 0.8])  # 0.01×3, 0.4×2, 0.9×1
    np.testing.assert_allclose(holm([0.5, 0.6, 0.7]), [1.0, 1.0, 1.0])  # 1.5 and 1.2 capped at 1; 0.7 raised to 1


def test_summary_rows_and_tables_report_diverged_seeds(tmp_path):
    records = {
        "stable": _record([-150.0, -140.0, -130.0, -120.0]),
        "one diverged": _record([1.0, 2.0, 3.0, 4.0, None, None, None, None]),
        "all diverged": _record([None, None]),
    }
    rows = summary_rows(records)
    assert [row["diverged"] for row in rows] == [0, 4, 2]
    assert list(rows[0])[:4] == ["setting", "seeds", "diverged", "final_iqm"]
    assert rows[1]["seeds"] == 8 and rows[1]["final_iqm"] == pytest.approx(2.5)
    assert (rows[1]["median"], rows[1]["min"], rows[1]["max"]) == (2.5, 1.0, 4.0)
    assert math.isnan(rows[2]["final_iqm"]) and math.isnan(rows[2]["ci_low"])

    write_summary(rows, str(tmp_path / "summary.csv"), str(tmp_path / "summary.md"), "t")
    csv_lines = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("setting,seeds,diverged,final_iqm,ci_low,ci_high")
    assert csv_lines[2].startswith("one diverged,8,4,2.5,")
    table = (tmp_path / "summary.md").read_text().splitlines()
    assert "| setting | seeds | diverged | IQM | range | median | min | max |" in table  # 4 or fewer finite each
    body = [line for line in table if line.startswith("| ") and "---" not in line][1:]
    assert body[0] == "| one diverged | 8 | 4 | 2.5 | [1.0, 4.0] | 2.5 | 1.0 | 4.0 |"  # best IQM first
    assert body[1] == "| stable | 4 | 0 | -135.0 | [-150.0, -120.0] | -135.0 | -150.0 | -120.0 |"
    assert body[2] == "| all diverged | 2 | 2 | — | [—, —] | — | — | — |"  # no IQM: last
    assert any(line.startswith("With fewer than 5 seeds the interval is a range, not a confidence") for line in table)
    assert "95% CI" not in "\n".join(table[4:])  # only the sentence defining the interval names it

    mixed = summary_rows({"eight": _record([float(x) for x in range(8)]), "stable": records["stable"]})
    write_summary(mixed, str(tmp_path / "summary.csv"), str(tmp_path / "mixed.md"), "t")
    lines = (tmp_path / "mixed.md").read_text().splitlines()
    assert "| setting | seeds | diverged | IQM | 95% CI or range | median | min | max |" in lines
    assert any(line.startswith("| stable | 4 | 0 | -135.0 | [-150.0, -120.0] (range) |") for line in lines)
    eight = next(line for line in lines if line.startswith("| eight |"))
    assert "(range)" not in eight

    write_summary(mixed[:1], str(tmp_path / "summary.csv"), str(tmp_path / "eight.md"), "t")
    text = (tmp_path / "eight.md").read_text()
    assert "| IQM | 95% CI |" in text and "With fewer than 5 seeds" not in text  # 8 seeds: no caveat


def test_summarize_names_the_diverged_seeds():
    line = summarize(_record([-100, -90, -80, -70, -60, -50, -40, None]))
    assert line.startswith("final eval return over the 7 finite of 8 seeds (1 diverged): median -70.0, IQM -70.0")
    assert line.endswith("min -100.0, max -40.0")
    assert summarize(_record([1.0, 2.0])).startswith("final eval return over 2 seeds (0 diverged): median 1.5")
    assert summarize(_record([None])) == "final eval return over the 0 finite of 1 seed (1 diverged): " + (
        "median —, IQM —, min —, max —"
    )


# ---- metrics.json names the algorithm; the figure title uses it ----


def _fake_metrics(seeds: int) -> Metrics:
    """Metrics of ``seeds`` seeds with 2 evaluations and 3 log points each."""
    log = np.tile(np.array([50, 100, 150]), (seeds, 1))
    zeros = np.zeros((seeds, 3))
    return Metrics(
        eval_step=np.tile(np.array([150, 300]), (seeds, 1)),
        eval_return=np.array([[-300.0, NAN]] * seeds),
        eval_upside_down=np.full((seeds, 2), NAN),
        log_step=log,
        sigma=zeros + 0.2,
        action_distance=zeros,
        train_episode_return=zeros,
        critic_loss=zeros,
        actor_loss=zeros,
        goal_hits=zeros.astype(int),
        first_goal_step=np.full((seeds,), -1),
        coverage=np.zeros((seeds, 0, 0), int),
        nonfinite=NonFinite(*(np.full((seeds,), -1) for _ in NonFinite._fields)),
    )


@pytest.mark.parametrize(("config", "algo"), [(DDPGConfig(**TINY), "ddpg"), (DQNConfig(**TINY_DQN), "dqn")])
def test_metrics_json_records_the_algorithm(config, algo):
    record = metrics_dict(
        config, _fake_metrics(2), [0, 1], jax_version="x", device="cpu", compile_seconds=1.0, run_seconds=1.0
    )
    assert record["algo"] == algo == type(config).algo
    assert "algo" not in record["config"]  # a class attribute, not a config field
    assert record["eval"]["return"] == [[-300.0, None], [-300.0, None]]


@pytest.fixture
def titles(monkeypatch) -> list[str]:
    """Every title an axis is given while the test runs."""
    seen: list[str] = []
    set_title = matplotlib.axes.Axes.set_title

    def recording_set_title(ax, text, *args, **kwargs):
        seen.append(text)
        return set_title(ax, text, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", recording_set_title)
    return seen


@pytest.mark.parametrize(
    ("algo", "config", "expected"),
    [
        ("dqn", DQNConfig(**TINY_DQN), "CartPole-v1 — DQN, exploration=param"),
        ("ddpg", DDPGConfig(**TINY), "Pendulum-v1 — DDPG, exploration=param"),
        (None, DQNConfig(**TINY_DQN), "CartPole-v1 — DQN, exploration=param"),  # written before "algo"
        (None, DDPGConfig(**TINY), "Pendulum-v1 — DDPG, exploration=param"),
    ],
)
def test_returns_figure_is_titled_with_the_algorithm_that_ran(titles, tmp_path, algo, config, expected):
    path = tmp_path / "returns.png"
    plot_returns(_record([-100.0, None, -120.0], algo=algo, config=config), str(path))
    assert titles == [expected]
    assert path.stat().st_size > 1000


@pytest.mark.parametrize(("seeds", "band"), [(2, "range over seeds [min, max]"), (6, "95% bootstrap CI")])
def test_returns_figure_names_its_band_by_the_seed_count(monkeypatch, tmp_path, seeds, band):
    labels: list[str] = []
    fill_between = matplotlib.axes.Axes.fill_between

    def recording(ax, *args, **kwargs):
        labels.append(kwargs.get("label"))
        return fill_between(ax, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", recording)
    plot_returns(_record([-100.0 - i for i in range(seeds)]), str(tmp_path / "returns.png"))
    assert labels == [band]


# ---- reproduce.py: training and diagnostics draw from distinct keys ----


def test_reproduce_diagnostic_keys_differ_from_every_key_training_derives():
    from pn_jax.experiments import reproduce

    for seed in range(4):
        keys = reproduce.run_keys(jax.random.key(seed))
        # make_train's init splits its key into 4 (learner, env resets, exploration, loop);
        # exploration_rollout splits its own into 4 as well.
        training = [keys.train, *jax.random.split(keys.train, 4)]
        diagnostics = [k for parent in (keys.start, keys.end) for k in (parent, *jax.random.split(parent, 4))]
        drawn = {tuple(np.asarray(jax.random.key_data(k)).tolist()) for k in training + diagnostics}
        assert len(drawn) == len(training) + len(diagnostics), seed
