"""scripts/reproduce.py: every strategy on a sparse task, its diagnostics, tables and figures."""

from __future__ import annotations

import json

import pytest
from conftest import run_script

FLAGS = ["--quick", "--total-steps", "1200", "--env", "SparsePendulum-v1", "--exploration", "param", "gaussian",
         "--num-seeds", "2", "--progress", "False"]  # fmt: skip


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    result = run_script("reproduce.py", *FLAGS, "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "SparsePendulum-v1", result.stdout


def test_writes_records_with_exploration_diagnostics(reproduction):
    folder, _ = reproduction
    for exploration in ("param", "gaussian"):
        record = json.loads((folder / exploration / "metrics.json").read_text())
        assert record["config"]["exploration"] == exploration
        assert record["config"]["total_steps"] == 1200 and len(record["seeds"]) == 2
        assert record["goal"]["solved_return"] == 100.0 and len(record["goal"]["first_step"]) == 2
        counts = record["coverage"]["counts"]
        assert sum(map(sum, counts[0])) == record["config"]["coverage_steps"]
        assert record["coverage"]["labels"] == ["angle", "angular velocity"]
        rho = record["autocorrelation"]
        assert len(rho["start"]) == 2 and len(rho["start"][0]) == len(rho["lag"])
        assert rho["start"][0][0] == pytest.approx(1.0)
    param = json.loads((folder / "param" / "metrics.json").read_text())["autocorrelation"]
    gaussian = json.loads((folder / "gaussian" / "metrics.json").read_text())["autocorrelation"]
    # The headline diagnostic: a perturbed actor's exploration is consistent, white noise is not.
    assert min(r[10] for r in param["start"]) > 0.5
    assert max(abs(r[10]) for r in gaussian["start"]) < 0.3


def test_writes_summary_and_figures(reproduction):
    folder, stdout = reproduction
    for name in ("summary.md", "summary.csv", "returns.png", "success.png", "coverage.png", "sigma.png",
                 "autocorrelation.png"):  # fmt: skip
        assert (folder / name).stat().st_size > 0, name
    table = (folder / "summary.md").read_text()
    assert "| param | " in table and "| gaussian | " in table and "/2 |" in table
    assert "| median first goal step | diverged | final IQM [95% CI] |" in table
    assert (folder / "summary.csv").read_text().startswith("exploration,seeds,diverged,")
    assert "param: compile" in stdout and "diverged 0/2, final eval IQM" in stdout
    assert "SparsePendulum-v1: 1,200 env steps per seed, 2 seeds per strategy" in stdout


def test_report_only_redraws_from_saved_runs(reproduction):
    folder, _ = reproduction
    (folder / "success.png").unlink()
    out = str(folder.parent)
    result = run_script("reproduce.py", *FLAGS, "--out", out, "--report-only")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "success.png").exists()


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
