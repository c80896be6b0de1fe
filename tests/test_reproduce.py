"""scripts/reproduce.py: clean errors for bad flags, and the summary's paired comparisons on synthetic
records (training, the records it writes and the figures: test_experiments.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--env", "Nope-v0"], "env: unknown environment 'Nope-v0'"),
        (["--env", "CartPole-v1"], "discrete action space"),
        (["--exploration", "wiggle"], "exploration: unknown strategy 'wiggle'"),
        (["--num-seeds", "0"], "num_seeds: must be a positive integer"),
        (["--report-only", "--out", "/nonexistent/run"], "report_only: no run at"),
    ],
)
def test_bad_flags_fail_cleanly(flags, message, capsys, monkeypatch):
    from pn_jax.cli import reproduce

    monkeypatch.setattr(reproduce, "run_task", lambda *a, **k: pytest.fail(f"{flags} reached training"))
    with pytest.raises(SystemExit) as exit_info:
        reproduce.cli(["--progress", "False", *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err and "Traceback" not in err


# ---- the summary's paired comparisons, on synthetic records (no training) ----


def _record(exploration: str, finals: list[float], first_steps: list, seeds: list[int] | None = None) -> dict:
    """A reproduce.py metrics.json record of a sparse task with these final returns and first goal steps."""
    n = len(finals)
    return {
        "config": {"exploration": exploration, "total_steps": 1000, "coverage_bins": 2, "coverage_steps": 10},
        "seeds": seeds or list(range(n)),
        "eval": {"step": [500, 1000], "return": [[0.0, f] for f in finals]},
        "goal": {"solved_return": 90.0, "first_step": first_steps},
        "coverage": {"counts": [[[1, 0], [0, 0]]] * n},
        "autocorrelation": {"start": [[1.0] * 11] * n, "end": [[1.0] * 11] * n},
    }


def test_paired_comparisons_use_the_same_seeds_of_each_strategy_against_param():
    from pn_jax import results

    records = {
        "gaussian": _record("gaussian", [0.0] * 8, [None] * 8),
        "param": _record("param", [94.0, 0, 0, 94, 94, 0, 94, 0], [100, 200, 300, None, 400, None, 500, None]),
        "ou": _record("ou", [94.0, 0, 0, 0, 0, 0, 0, 0], [100, None, None, None, None, None, None, 50]),
        "elsewhere": _record("none", [0.0] * 8, [None] * 8, seeds=list(range(10, 18))),  # not paired: left out
    }
    rows = results.paired_comparisons(records)
    outcomes = ("reached goal", "solved", "final return")
    assert [(r["comparison"], r["outcome"]) for r in rows] == [
        (f"param vs {other}", outcome) for other in ("gaussian", "ou") for outcome in outcomes
    ]
    reach, solve, returns = rows[:3]
    assert (reach["first"], reach["second"], reach["difference"], reach["p"]) == ("5/8", "0/8", "5 / 0 seeds", 0.0625)
    assert (solve["first"], solve["second"], solve["p"]) == ("4/8", "0/8", 0.125)
    assert returns["difference"] == "+47.0 over 8 seeds" and returns["p"] == pytest.approx(2 / 16)
    # param vs ou: seeds 0 (both reached), 7 (only ou) and 1, 2, 4, 6 (only param) differ
    assert rows[3]["difference"] == "4 / 1 seeds" and rows[3]["p"] == pytest.approx(2 * 6 / 32)
    assert rows[4]["difference"] == "3 / 0 seeds" and rows[4]["p"] == pytest.approx(0.25)
    raw = np.array([r["p"] for r in rows])
    assert [r["holm_p"] for r in rows] == pytest.approx(results.holm(raw).tolist())
    assert min(r["holm_p"] - r["p"] for r in rows) >= 0


def test_summary_names_the_tests_and_counts_the_comparisons():
    from pn_jax.experiments import reproduce

    records = {
        "param": _record("param", [94.0, 93.0, 0.0, 95.0], [10, 20, None, 30]),
        "gaussian": _record("gaussian", [0.0, 0.0, 0.0, 0.0], [None, None, None, None]),
    }
    text = reproduce.markdown(reproduce.summary_table(records), "Sparse-v0", records)
    assert text.startswith("# Sparse-v0: 1,000 env steps per seed, 4 seeds per strategy")
    assert "final IQM [range]" in text and "95% CI]" not in text  # 4 seeds: a range
    assert "Paired comparisons (3 made; seed k of every strategy starts from the same key)" in text
    assert "| param vs gaussian | reached goal | 3/4 | 0/4 | 3 / 0 seeds | exact McNemar | 0.25 | 0.75 |" in text
    returns = "| param vs gaussian | final return | mean 70.5 | mean 0.0 | +70.5 over 4 seeds | paired permutation |"
    assert returns in text
    alone = reproduce.markdown(reproduce.summary_table(records), "x", {"param": records["param"]})
    assert "Paired comparisons" not in alone  # nothing to compare
