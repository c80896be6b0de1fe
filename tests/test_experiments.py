"""pn_jax.experiments in-process, as a notebook calls them: reproduce's sparse-task diagnostics and the
DeepSea chains on tiny budgets, their records, tables and figures; and the commands writing the
same records, tables and figures into --out."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from matplotlib.figure import Figure

from pn_jax import parallel
from pn_jax.experiments.common import seed_keys, train_sharded

# Two strategies × 2 seeds, 1200 steps of SparsePendulum (2 evaluations, coverage over the run).
REPRODUCE = dict(
    env=("SparsePendulum-v1",), exploration=("param", "gaussian"), num_seeds=2, total_steps=1200, quick=True
)


@pytest.fixture(scope="module")
def reproduced():
    from pn_jax.experiments import reproduce

    lines: list[str] = []
    result = reproduce.run(reproduce.Config(**REPRODUCE), log=lines.append)
    return result, lines


def test_reproduce_returns_records_with_exploration_diagnostics(reproduced):
    from pn_jax.experiments.reproduce import MAX_LAG

    result, lines = reproduced
    assert list(result.records) == ["SparsePendulum-v1"]
    records = result.records["SparsePendulum-v1"]
    assert list(records) == ["param", "gaussian"]
    for exploration, record in records.items():
        assert record["config"]["exploration"] == exploration
        assert record["config"]["total_steps"] == 1200 and record["seeds"] == [0, 1]
        assert record["goal"]["solved_return"] == 100.0 and len(record["goal"]["first_step"]) == 2
        assert np.isfinite(np.asarray(record["eval"]["return"])).all()
        counts = np.asarray(record["coverage"]["counts"])  # [S, bins, bins]
        assert counts.shape[0] == 2 and counts[0].sum() == record["config"]["coverage_steps"]
        assert record["coverage"]["labels"] == ["angle", "angular velocity"]
        rho = np.asarray(record["autocorrelation"]["start"], dtype=float)  # [S, MAX_LAG + 1]
        assert rho.shape == (2, MAX_LAG + 1) and rho[:, 0] == pytest.approx(1.0)
    # The headline diagnostic: a perturbed actor's exploration is consistent, white noise is not.
    assert min(r[10] for r in records["param"]["autocorrelation"]["start"]) > 0.5
    assert max(abs(r[10]) for r in records["gaussian"]["autocorrelation"]["start"]) < 0.3
    assert [line.split(":")[0] for line in lines] == ["SparsePendulum-v1 param", "SparsePendulum-v1 gaussian"]
    assert "diverged 0/2, final eval IQM" in lines[0] and "compile" in lines[0]


def test_reproduce_reports_a_table_and_figures(reproduced):
    result, _ = reproduced
    report = result.reports["SparsePendulum-v1"]
    assert [row["exploration"] for row in report.rows] == ["param", "gaussian"]
    for row in report.rows:
        assert row["seeds"] == 2 and row["diverged"] == 0 and 0 < row["coverage"] <= 1
        assert np.isfinite([row["final_iqm"], row["ci_low"], row["ci_high"], row["rho10_start"]]).all()
    assert report.markdown.startswith("# SparsePendulum-v1: 1,200 env steps per seed, 2 seeds per strategy")
    assert "| median first goal step | diverged | final IQM [range] |" in report.markdown  # 2 seeds: a range
    assert "Paired comparisons (3 made;" in report.markdown and "| exact McNemar |" in report.markdown
    assert list(report.figures) == ["success", "coverage", "sigma", "autocorrelation"]
    for figure in report.figures.values():
        assert isinstance(figure, Figure) and figure.axes


def test_reproduce_command_writes_the_records_tables_and_figures(reproduced, tmp_path, monkeypatch, capsys):
    """The command around the experiment (its training replaced by the records above): one
    metrics.json per run, the summary and every figure; --report-only redraws them from --out."""
    from pn_jax.cli import reproduce as command
    from pn_jax.experiments import reproduce

    result, _ = reproduced
    trained = result.records["SparsePendulum-v1"]
    monkeypatch.setattr(reproduce, "train_task", lambda env, config, **_: iter(trained.items()))
    args = command.Reproduce(**REPRODUCE, progress=False, out=str(tmp_path))
    assert command.main(args)["SparsePendulum-v1"] == trained
    folder = tmp_path / "SparsePendulum-v1"
    for exploration, record in trained.items():
        assert json.loads((folder / exploration / "metrics.json").read_text()) == json.loads(json.dumps(record))
    for name in ("summary.md", "summary.csv", "returns.png", "returns.pdf", "success.png", "coverage.png",
                 "sigma.png", "autocorrelation.png"):  # fmt: skip
        assert (folder / name).stat().st_size > 0, name
    table = (folder / "summary.md").read_text()
    assert table == result.reports["SparsePendulum-v1"].markdown
    assert "| param | " in table and "| gaussian | " in table and "/2 |" in table
    assert (folder / "summary.csv").read_text().startswith("exploration,seeds,diverged,")
    assert "SparsePendulum-v1: 1,200 env steps per seed, 2 seeds per strategy" in capsys.readouterr().out

    (folder / "success.png").unlink()
    monkeypatch.setattr(reproduce, "train_task", lambda *a, **k: pytest.fail("--report-only trained"))
    command.main(command.Reproduce(**REPRODUCE, progress=False, out=str(tmp_path), report_only=True))
    assert (folder / "success.png").stat().st_size > 0


def test_chain_with_a_random_map_trains_each_seed_on_its_own_map():
    from pn_jax.experiments import chain

    config = chain.Config(sizes=(4,), exploration=("egreedy",), action_map="random", num_seeds=2, seed=5, episodes=20)
    assert chain.env_names(4, config) == ["DeepSeaRandom-4-5", "DeepSeaRandom-4-6"]
    lines: list[str] = []
    result = chain.run(config, log=lines.append)
    record = result.records[(4, "egreedy")]
    assert record["envs"] == ["DeepSeaRandom-4-5", "DeepSeaRandom-4-6"] and record["seeds"] == [5, 6]
    assert np.asarray(record["eval"]["return"]).shape == (2, 10)
    assert record["config"]["env"] == "DeepSeaRandom-4-<seed>"  # not one seed's map for all
    (row,) = result.rows
    assert (row["size"], row["exploration"], row["action_map"], row["seeds"]) == (4, "egreedy", "random", 2)
    assert 0 <= row["solved"] <= 2 and row["diverged"] == 0 and row["run_seconds"] > 0
    assert len(lines) == 1 and lines[0].startswith("DeepSeaRandom-4-<seed> egreedy: solved ")
    assert result.markdown.startswith(
        "# DeepSea chains (random action map per seed): DQN, 20 episodes per seed, 2 seeds"
    )
    assert isinstance(result.figure, Figure) and result.figure.axes[0].get_lines()
    # seed 6's row is a lone run of seed 6 on its own map, in seed order (the program chain.run compiled
    # for it, on one device: a hit in the persistent compilation cache, not another compile)
    lone = chain.chain_config(4, "egreedy", 20, "DeepSeaRandom-4-6")
    mesh = parallel.batch_mesh(jax.devices()[:1])
    alone, _, _ = train_sharded(lone, (seed_keys([6]),), mesh, False, "lone")
    np.testing.assert_allclose(record["eval"]["return"][1], np.asarray(alone.eval_return)[0], rtol=1e-5, atol=1e-6)


def test_experiments_refuse_bad_configs_before_compiling():
    from pn_jax.experiments import chain, reproduce

    with pytest.raises(ValueError, match="num_seeds: must be a positive integer"):
        reproduce.run(reproduce.Config(num_seeds=0))
    with pytest.raises(ValueError, match="episodes: must be a multiple of 10"):
        chain.run(chain.Config(episodes=15))
