"""scripts/train.py end to end: outputs on disk, and clean errors for bad flags."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_script


def run(root, *args, timeout=300):
    return run_script("train.py", *args, timeout=timeout)


@pytest.mark.parametrize(
    "args,field",
    [
        (["--sigma-init", "-1"], "sigma_init"),
        (["--env", "CartPole-v1"], "env"),
        (["--env", "Nope-v0"], "env"),
        (["--exploration", "eps"], "exploration"),
        (["--batch-size", "512", "--buffer-size", "256"], "batch_size"),
        (["--total-steps", "abc"], "total-steps"),
        (["--no-such-flag", "1"], "no-such-flag"),
        (["--num-seeds", "0"], "num_seeds"),
        (["--devices", "99"], "devices"),
        (["--updates-per-step", "0.3"], "updates_per_step"),
    ],
)
def test_bad_flags_exit_nonzero_with_a_clear_message(root, args, field, tmp_path):
    (tmp_path / "metrics.json").write_text("{}")  # a bad flag is reported before an existing --out
    result = run(root, *args, "--out", str(tmp_path), timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert field in result.stderr + result.stdout


def test_train_writes_metrics_csv_and_figure(root, tmp_path):
    out = tmp_path / "run"
    result = run(
        root,
        "--total-steps", "300", "--eval-every", "150", "--learning-starts", "128", "--batch-size", "32",
        "--hidden-sizes", "16", "16", "--eval-episodes", "2", "--num-seeds", "2", "--seed", "3",
        "--out", str(out), "--progress", "False",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "metrics.json").read_text())
    assert record["seeds"] == [3, 4]
    assert record["config"]["total_steps"] == 300
    assert record["eval"]["step"] == [150, 300]
    assert len(record["eval"]["return"]) == 2 and len(record["eval"]["return"][0]) == 2
    assert len(record["sigma"]["step"]) == 6 and len(record["sigma"]["value"][1]) == 6
    assert set(record) >= {"jax_version", "device", "compile_seconds", "run_seconds", "env_steps_per_second"}
    assert record["env_steps_per_second"] > 0
    if (os.cpu_count() or 1) > 1:  # the scripts expose one XLA device per core and shard seeds over them
        assert record["device"].endswith(f"{os.cpu_count()} XLA devices"), record["device"]
    assert (out / "metrics.csv").read_text().startswith("metric,seed,step,value")
    assert (out / "returns.png").stat().st_size > 1000
