"""scripts/locomotion.py: run configs, the upside-down diagnostic and the report, from saved records.

Training a brax task takes minutes of compiling, so the tests check the configs (validated, equal
for every strategy) and redraw the report from synthetic records; the brax pieces the script runs
(``run_episodes`` with ``torso_up``, the upside-down share at evaluations) are tested in test_brax.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pn_jax import preset
from pn_jax.experiments.locomotion import TASKS


def test_every_run_of_a_task_shares_budget_schedule_and_network():
    from pn_jax.experiments import locomotion

    args = locomotion.Config()
    task = locomotion.TASKS["halfcheetah"]
    configs = [locomotion.run_config(algo, exploration, args, task) for algo, exploration, _ in task.runs]
    assert {type(c).__name__ for c in configs} == {"DDPGConfig"}
    # every run is the plappert2018 preset but for its exploration and the shared evaluation schedule
    for config in configs:
        assert config == preset(
            "plappert2018",
            env="brax/halfcheetah",
            exploration=config.exploration,
            total_steps=300_000,
            eval_every=30_000,
            eval_episodes=5,
        )
    config = configs[0]
    assert config.obs_norm and config.critic_layer_norm and config.updates_per_step == 0.5
    assert config.total_steps // config.eval_every == args.evaluations
    assert [r[:2] for r in task.runs if r[2] == "main"] == [("ddpg", e) for e in ("param", "ou", "gaussian", "none")]
    assert args.num_seeds >= 8 and args.small_seeds >= 4
    overridden = locomotion.run_config("ddpg", "param", locomotion.Config(num_envs=4, learning_starts=800), task)
    assert (overridden.num_envs, overridden.learning_starts, overridden.batch_size) == (4, 800, 64)


def _record(
    exploration: str, seeds: int, final: list[float], up: list[list[float]], during: list[list[float]] | None = None
) -> dict:
    steps = [1000, 2000]
    during = [[0.0, 0.0] for _ in range(seeds)] if during is None else during
    return {
        "algo": "ddpg",
        "config": {
            "env": "brax/halfcheetah",
            "exploration": exploration,
            "total_steps": 2000,
            "num_envs": 1,
            "updates_per_step": 0.5,
            "batch_size": 64,
            "hidden_sizes": [64, 64],
            "obs_norm": True,
            "brax_backend": "positional",
            "eval_episodes": 5,
            "target_distance": 0.2,
        },
        "device": "cpu: test",
        "seeds": list(range(seeds)),
        "run_seconds": 60.0,
        "compile_seconds": 60.0,
        "eval": {"step": steps, "return": [[-10.0, f] for f in final], "upside_down": during},
        "sigma": {"step": steps, "value": [[0.2, 0.1 + 0.01 * i] for i in range(seeds)]},
        "action_distance": {"step": steps, "value": [[0.2, 0.2] for _ in range(seeds)]},
        "behaviour": {"episodes": len(up[0]), "upside_down_below": 0.0, "final_return": up, "torso_up": up},
    }


def test_report_counts_upside_down_episodes_and_draws_the_figures(tmp_path, capsys):
    from pn_jax.cli import locomotion as command
    from pn_jax.experiments import locomotion

    records = {
        "ddpg-param": _record("param", 4, [2000.0, 1800.0, 2100.0, 1900.0], [[1.0, 0.9], [0.8, 1.0]] * 2),
        "ddpg-gaussian": _record(
            "gaussian",
            4,
            [900.0, 1000.0, 1100.0, 950.0],
            [[-1.0, -0.9], [0.9, -0.5]] * 2,
            during=[[0.0, 1.0], [0.6, 0.2], [1.0, 1.0], [0.2, 0.0]],
        ),
    }
    np.testing.assert_array_equal(locomotion.upside_down(records["ddpg-gaussian"]), [1.0, 0.5, 1.0, 0.5])
    # upright and forward: no episode upside down and a mean return above 0 (the first evaluation's is -10)
    assert locomotion.first_upright_forward(records["ddpg-param"]) == [2000] * 4
    assert locomotion.first_upright_forward(records["ddpg-gaussian"]) == [None, None, None, 2000]
    rows = [locomotion.summary_row(label, r) for label, r in records.items()]
    assert rows[0]["upside_down"] == 0.0 and rows[0]["final_sigma_median"] == pytest.approx(0.115)
    assert rows[1]["upside_down"] == 0.75 and rows[1]["seeds_mostly_upside_down"] == 2
    assert rows[1]["upside_down_evals"] == pytest.approx(0.5) and rows[1]["seeds_ever_mostly_upside_down"] == 3
    assert rows[1]["first_upright_forward"] == "never never never 2000"
    assert rows[1]["first_upright_forward_median"] is None and rows[0]["first_upright_forward_median"] == 2000
    assert rows[1]["final_sigma_median"] is None
    with pytest.raises(SystemExit) as exit_:
        command.main(command.Locomotion(out=str(tmp_path), report_only=True))
    assert exit_.value.code == 2 and "no run of halfcheetah" in capsys.readouterr().err
    for label, record in records.items():
        folder = tmp_path / "halfcheetah" / label
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(record))
    reported = command.main(command.Locomotion(out=str(tmp_path), report_only=True))
    assert list(reported) == ["ddpg-param", "ddpg-gaussian"]  # the runs found, in the task's order
    missing = "not run yet (left out of the report): ddpg-ou, ddpg-none"
    assert missing in capsys.readouterr().err
    text = (tmp_path / "halfcheetah" / "summary.md").read_text()
    assert "| ddpg-gaussian | 4 |" in text and "| 50% | 3/4 | never | 75% | — |" in text
    assert "| 0% | 0/4 | 2,000 | 0% | 0.115 |" in text
    assert "ddpg-gaussian never never never 2000" in text
    assert "final IQM [range]" in text and "95% CI]" not in text  # 4 seeds: the seeds' range
    # param ahead on all 4 shared seeds: the smallest p a paired test of 4 seeds can give
    assert "| ddpg-param vs ddpg-gaussian | final return | mean 1950.0 | mean 987.5 | +962.5 over 4 seeds |" in text
    assert "paired permutation | 0.125 | 0.125 |" in text
    for name in ("summary.md", "summary.csv", "returns.png", "sigma.png", "upside_down.png"):
        assert (tmp_path / "halfcheetah" / name).stat().st_size > 0, name


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"task": "ant"}, "task: choose one of halfcheetah, hopper, walker2d"),
        ({"preset": "nope"}, "preset: unknown preset 'nope'"),
        ({"small_seeds": 9}, "small_seeds (9) must not exceed num_seeds (8)"),
        ({"num_envs": 3}, "learning_starts"),
        ({"evaluations": 7}, "evaluations: 7 evaluations of 300000 steps do not fit"),
        ({"runs": ("ddpg-sac",)}, "runs: ddpg-sac not in halfcheetah; choose from ddpg-param"),
    ],
)
def test_bad_flags_are_refused_before_anything_compiles(changes, message, tmp_path, capsys):
    from pn_jax.cli import locomotion

    with pytest.raises(SystemExit) as exit_:
        locomotion.main(locomotion.Locomotion(out=str(tmp_path / "x"), **changes))
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_ctrl_c_names_the_runs_written_and_how_to_train_the_rest(tmp_path):
    from pn_jax.cli import locomotion

    args = locomotion.Locomotion(out=str(tmp_path), runs=("ddpg-param", "ddpg-ou", "ddpg-none"))
    (tmp_path / "halfcheetah" / "ddpg-param").mkdir(parents=True)
    (tmp_path / "halfcheetah" / "ddpg-param" / "metrics.json").write_text("{}")
    note = locomotion.interrupted_note(args, TASKS["halfcheetah"], "ddpg-ou")
    assert note == (
        f"interrupted during halfcheetah ddpg-ou; 1 of 3 runs are written in {tmp_path / 'halfcheetah'}; "
        "train the others with the same flags and --runs ddpg-ou ddpg-none --overwrite"
    )


def test_paired_tests_compare_each_learner_with_its_own_param_run_on_the_common_seeds():
    from pn_jax.experiments import locomotion

    up = [[1.0]] * 8
    records = {
        "ddpg-param": _record("param", 8, [10.0, 20, 30, 40, 50, 60, 70, 80], up),
        "ddpg-none": _record("none", 4, [0.0, 30, 20, 30], up[:4]),  # seeds 0-3: paired with param's first four
        "td3-param": {**_record("param", 4, [5.0, 5, 5, 5], up[:4]), "algo": "td3"},
        "td3-gaussian": {**_record("gaussian", 4, [6.0, 6, 6, 6], up[:4]), "algo": "td3"},
    }
    rows = locomotion.paired_with_param(records)
    assert [r["comparison"] for r in rows] == ["ddpg-param vs ddpg-none", "td3-param vs td3-gaussian"]
    assert rows[0]["difference"] == "+5.0 over 4 seeds"  # (10 + -10 + 10 + 10) / 4
    assert rows[1]["difference"] == "-1.0 over 4 seeds" and rows[1]["p"] == 0.125
    assert rows[0]["p"] == 10 / 16  # 6 of the 16 sign flips of (10, -10, 10, 10) sum to 0
    assert [r["holm_p"] for r in rows] == [10 / 16, 0.25]  # Holm over both: 0.125 · 2, then max(0.25, 0.625)


def test_tasks_that_cannot_flip_have_no_upside_down_columns(tmp_path):
    """Hopper and Walker2d episodes end when they fall, and staying alive pays: neither 'upside down'
    nor 'upright and forward' means anything there."""
    from pn_jax.cli import locomotion

    assert TASKS["halfcheetah"].flips and not TASKS["hopper"].flips
    records = {
        "ddpg-param": {**_record("param", 4, [900.0, 800, 950, 1000], [[1.0]] * 4), "config": {}},
        "ddpg-gaussian": {**_record("gaussian", 4, [500.0, 600, 700, 800], [[1.0]] * 4), "config": {}},
    }
    for label, record in records.items():
        record["config"] = {**_record("param", 4, [0.0] * 4, [[1.0]] * 4)["config"], "env": "brax/hopper"}
        record["config"]["exploration"] = label.split("-")[1]
        folder = tmp_path / "hopper" / label
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(record))
    locomotion.main(locomotion.Locomotion(task="hopper", out=str(tmp_path), report_only=True))
    text = (tmp_path / "hopper" / "summary.md").read_text()
    assert "upside down" not in text and "upright" not in text
    assert "| run | seeds | final IQM [range] | median | min | max | final σ | wall time |" in text
    assert not (tmp_path / "hopper" / "upside_down.png").exists()


def test_each_trained_run_is_written_as_it_finishes_and_reported_with_the_others(tmp_path, monkeypatch, capsys):
    """The command around the experiment (its training replaced by two records): --runs trains those
    two, each metrics.json is written as its run finishes, and the report covers every run in --out."""
    from pn_jax.cli import locomotion as command
    from pn_jax.experiments import locomotion

    up = [[1.0, 0.9], [0.8, 1.0]] * 2
    records = {
        "ddpg-param": _record("param", 4, [2000.0, 1800.0, 2100.0, 1900.0], up),
        "ddpg-ou": _record("ou", 4, [900.0, 1000.0, 1100.0, 950.0], up),
    }
    written = []

    def train_runs(config, task, **_):
        assert [run[:2] for run in locomotion.selected_runs(config, task)] == [("ddpg", "param"), ("ddpg", "ou")]
        for label, record in records.items():
            written.append(sorted(p.parent.name for p in tmp_path.glob("halfcheetah/*/metrics.json")))
            yield label, record

    monkeypatch.setattr(locomotion, "train_runs", train_runs)
    reported = command.main(command.Locomotion(out=str(tmp_path), runs=("ddpg-param", "ddpg-ou"), progress=False))
    assert written == [[], ["ddpg-param"]]  # the first run was on disk before the second one trained
    assert list(reported) == ["ddpg-param", "ddpg-ou"]
    assert "not run yet (left out of the report): ddpg-gaussian, ddpg-none" in capsys.readouterr().err
    text = (tmp_path / "halfcheetah" / "summary.md").read_text()
    assert "| ddpg-param | 4 |" in text and "| ddpg-ou | 4 |" in text
    for name in ("summary.csv", "returns.png", "sigma.png", "upside_down.png"):
        assert (tmp_path / "halfcheetah" / name).stat().st_size > 0, name
