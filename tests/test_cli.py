"""scripts/train.py end to end: outputs on disk, and clean errors for bad flags; the shared
conventions of every command (booleans, plain-text help, default folders)."""

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
def test_bad_flags_exit_nonzero_with_a_clear_message(args, field, tmp_path, capsys, monkeypatch):
    from pn_jax.cli import train

    monkeypatch.setattr("pn_jax.runner.run", lambda *a, **k: pytest.fail(f"{args} reached training"))
    (tmp_path / "metrics.json").write_text("{}")  # a bad flag is reported before an existing --out
    with pytest.raises(SystemExit) as exit_info:
        train.cli([*args, "--out", str(tmp_path)])
    text = "".join(capsys.readouterr())
    assert exit_info.value.code not in (0, None)
    assert "Traceback" not in text
    assert field in text


def test_train_writes_metrics_csv_and_figure(root, tmp_path):
    out = tmp_path / "run"
    result = run(
        root,
        "--total-steps", "300", "--eval-every", "150", "--learning-starts", "128", "--batch-size", "32",
        "--hidden-sizes", "16", "16", "--eval-episodes", "2", "--num-seeds", "2", "--seed", "3",
        "--out", str(out), "--progress", "--compilation-cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The training program (one evaluation chunk, called repeatedly) has no host callback, so JAX
    # writes it to the persistent cache and a rerun loads it instead of compiling.
    cached = os.listdir(tmp_path / "cache")
    assert any("advance" in name for name in cached), cached
    assert "(per seed)" in result.stderr and "over all 2 seeds" in result.stdout
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


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--overwrite"], ["--overwrite", "True"]),
        (["--overwrite", "--seed", "3"], ["--overwrite", "True", "--seed", "3"]),
        (["--overwrite", "yes"], ["--overwrite", "True"]),
        (["--overwrite", "OFF"], ["--overwrite", "False"]),
        (["--overwrite=1"], ["--overwrite", "True"]),
        (["--no-overwrite"], ["--overwrite", "False"]),
        (["--overwrite", "-h"], ["--overwrite", "True", "-h"]),
        (["--no-overwrite=1"], ["--no-overwrite=1"]),
        (["--seed", "1"], ["--seed", "1"]),
    ],
)
def test_every_command_takes_booleans_the_same_ways(argv, expected):
    from pn_jax.cli.common import bool_args
    from pn_jax.cli.train import Run

    assert bool_args(argv, Run) == expected


@pytest.mark.parametrize(
    "argv", [["--overwrite", "maybe"], ["--overwrite", "-"], ["--overwrite", "-A"], ["--overwrite="]]
)
def test_a_boolean_flag_with_another_value_is_one_line_naming_it(argv, capsys):
    from pn_jax.cli.common import bool_args
    from pn_jax.cli.train import Run

    with pytest.raises(SystemExit) as exit_info:
        bool_args(argv, Run)
    value = argv[1] if len(argv) > 1 else ""
    expected = f"error: overwrite: --overwrite takes true/false (also yes/no, on/off, 1/0), got {value!r}\n"
    assert exit_info.value.code == 2 and capsys.readouterr().err == expected


def test_help_is_plain_text_and_default_folders_name_algorithm_and_env(capsys):
    from pn_jax import DQNConfig, TD3Config
    from pn_jax.cli import train

    for argv in (["--help"], ["--algo", "dqn", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            train.cli(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "--overwrite" in text and "``" not in text and ":class:" not in text
    assert train.default_out(DQNConfig()) == os.path.join("runs", "dqn-cartpole-v1")
    assert train.default_out(TD3Config(env="brax/hopper", total_steps=100_000)) == os.path.join(
        "runs", "td3-brax-hopper"
    )
