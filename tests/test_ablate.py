"""scripts/ablate.py and pn_jax.experiments.ablate: grid construction, one compile per exploration kind,
outputs, clean errors."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os

import jax
import numpy as np
import pytest
from conftest import TINY

from pn_jax import DDPGConfig, make_train
from pn_jax.results import bootstrap_ci, iqm, stratified_bootstrap_ci

TINY_FLAGS = [
    "--total-steps", "300", "--eval-every", "150", "--learning-starts", "128", "--batch-size", "32",
    "--buffer-size", "1000", "--hidden-sizes", "16", "16", "--eval-episodes", "2", "--progress", "False",
]  # fmt: skip


def test_grid_spans_only_the_hyperparameters_a_strategy_reads():
    from pn_jax.experiments import ablate

    grid = ablate.Grid(
        sigma_init=(0.1, 0.2), target_distance=(0.1, 0.2, 0.4), action_noise_std=(0.1, 0.3), tau=(0.005, 0.01)
    )
    every_kind = dataclasses.replace(grid, exploration=("param", "gaussian", "none", "param+gaussian"))
    counts = {name: len(points) for name, points in ablate.configs(every_kind).items()}
    assert counts == {"param": 2 * 3 * 2, "gaussian": 2 * 2, "none": 2, "param+gaussian": 2 * 3 * 2 * 2}
    labels = [label for _, label in ablate.configs(grid)["param"]]
    assert labels[0] == "param tau=0.005 sigma_init=0.1 target_distance=0.1"
    assert len(set(labels)) == len(labels)


def test_a_grid_value_given_twice_is_refused(capsys):
    from pn_jax.cli import ablate

    with pytest.raises(SystemExit) as exit_info:
        ablate.cli([*TINY_FLAGS, "--sigma-init", "0.1", "0.2", "0.1", "--progress", "False"])
    assert exit_info.value.code == 2
    assert "sigma_init: 0.1 given more than once; give each grid value once" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """The command in this process (its flags parsed as on the command line), and what it printed."""
    from pn_jax.cli import ablate

    out = tmp_path_factory.mktemp("ablate")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        ablate.cli([
            *TINY_FLAGS, "--exploration", "param", "none", "--sigma-init", "0.05", "0.5",
            "--target-distance", "0.1", "0.3", "--num-seeds", "2", "--seed", "7", "--out", str(out),
        ])  # fmt: skip
    return out, printed.getvalue()


def test_one_compile_per_exploration_kind(ablation):
    out, stdout = ablation
    timings = json.loads((out / "timings.json").read_text())["programs"]
    assert {name: t["train_compiles"] for name, t in timings.items()} == {"param": 1, "none": 1}
    assert {name: t["grid_points"] for name, t in timings.items()} == {"param": 4, "none": 1}
    assert "training-program compiles per exploration kind: param 1, none 1" in stdout


def test_writes_one_record_per_setting_and_a_summary(ablation):
    out, _ = ablation
    folders = sorted(os.path.relpath(p, out) for p, _, files in os.walk(out) if "metrics.json" in files)
    assert folders == [
        "none/default",
        "param/sigma_init=0.05,target_distance=0.1",
        "param/sigma_init=0.05,target_distance=0.3",
        "param/sigma_init=0.5,target_distance=0.1",
        "param/sigma_init=0.5,target_distance=0.3",
    ]
    record = json.loads((out / "param/sigma_init=0.5,target_distance=0.1/metrics.json").read_text())
    assert record["seeds"] == [7, 8] and record["config"]["sigma_init"] == 0.5
    assert record["sigma"]["value"][0][0] == pytest.approx(0.5)
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("setting,seeds,diverged,final_iqm,ci_low,ci_high") and len(rows) == 6
    assert "| param sigma_init=0.5 target_distance=0.1 | 2 | 0 |" in (out / "summary.md").read_text()
    assert (out / "returns.png").stat().st_size > 1000
    assert (out / "heatmap_param.png").stat().st_size > 1000  # the two-way σ₀ × δ grid


def test_grid_point_equals_a_lone_run_with_that_config(ablation):
    out, _ = ablation
    record = json.loads((out / "param/sigma_init=0.05,target_distance=0.3/metrics.json").read_text())
    config = DDPGConfig(**{**TINY, "sigma_init": 0.05, "target_distance": 0.3})
    _, lone = jax.jit(make_train(config))(jax.random.key(8))
    np.testing.assert_allclose(record["eval"]["return"][1], np.asarray(lone.eval_return), rtol=2e-4)
    np.testing.assert_allclose(record["sigma"]["value"][1], np.asarray(lone.sigma), rtol=1e-5)


@pytest.mark.parametrize(
    "args,field",
    [
        (["--sigma-init", "0.1", "-1"], "sigma_init"),
        (["--exploration", "param", "eps"], "exploration"),
        (["--target-distance"], "target_distance: give at least one value"),
        (["--devices", "99"], "devices"),
        (["--num-seeds", "0"], "num_seeds"),
    ],
)
def test_bad_flags_exit_2_with_the_field_named(args, field, tmp_path, capsys, monkeypatch):
    from pn_jax.cli import ablate
    from pn_jax.experiments import ablate as experiment

    monkeypatch.setattr(experiment, "run_exploration", lambda *a, **k: pytest.fail(f"{args} reached training"))
    (tmp_path / "summary" / "metrics.json").parent.mkdir()
    (tmp_path / "summary" / "metrics.json").write_text("{}")  # a bad flag is reported before an existing --out
    with pytest.raises(SystemExit) as exit_info:
        ablate.cli([*TINY_FLAGS, *args, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2, err
    assert "Traceback" not in out + err
    assert field in err


def test_stratified_bootstrap_matches_plain_bootstrap_for_one_task_and_covers_the_iqm():
    scores = np.random.default_rng(0).normal(size=16)
    low, high = stratified_bootstrap_ci(scores)
    plain_low, plain_high = bootstrap_ci(scores[:, None])
    assert low == pytest.approx(float(plain_low[0]), abs=0.15) and high == pytest.approx(float(plain_high[0]), abs=0.15)
    assert low < iqm(scores) < high
    two_tasks = np.stack([scores, scores + 100.0], axis=1)
    low2, high2 = stratified_bootstrap_ci(two_tasks)
    assert low2 < iqm(two_tasks.reshape(-1)) < high2
    # every resample keeps 16 runs per task, so the aggregate stays between the two tasks' scores
    assert scores.min() < low2 and high2 < scores.max() + 100.0
