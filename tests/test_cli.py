"""scripts/train.py end to end: outputs on disk, and clean errors for bad flags; the shared
conventions of every command (booleans, plain-text help, default folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
        assert "--algo {ddpg,td3,dqn,ppo}" in text and "--preset {plappert2018,fujimoto2018}" in text
        assert "{param,gaussian,ou,param+gaussian,none}" in text or "{param,egreedy}" in text
        assert "(default: None)" not in text and "{None}" not in text  # derived fields say their default once
    assert train.default_out(DQNConfig()) == os.path.join("runs", "dqn-cartpole-v1")
    assert train.default_out(TD3Config(env="brax/hopper", total_steps=100_000)) == os.path.join(
        "runs", "td3-brax-hopper"
    )


COMMANDS = ("train", "ablate", "reproduce", "chain", "onpolicy", "bench", "locomotion", "plot")
"""Every entry point of :mod:`pn_jax.cli`, as ``pn_<name>``."""
HEAVY = ("jax", "gymnax", "flax", "brax", "matplotlib")
"""What building a command's parser must not import: it would take seconds."""


HELP_CASES = [
    *(pytest.param(command, ["--help"], 0, id=f"{command}-help") for command in COMMANDS),
    *(
        pytest.param(
            command,
            [*(["runs/param", "--out", "fig"] if command == "plot" else []), "--sigma-int", "1"],
            2,
            id=f"{command}-bad-flag",
        )
        for command in COMMANDS
    ),
    pytest.param("train", ["--algo", "dqn", "--help"], 0, id="train-dqn-help"),
]

# One interpreter answers every case in turn (an interpreter each paid its start-up 15 times):
# after each, the heavy modules loaded so far. They only accumulate, so a command that imports one
# shows up in its own case (and fails it) even with cases before it.
_PROBE = f"""
import contextlib, io, json, sys
cases, answers = json.loads(sys.argv[1]), []
for command, argv in cases:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        import pn_jax.cli
        sys.argv = [f"pn-{{command}}", *argv]
        try:
            getattr(pn_jax.cli, f"pn_{{command}}")()
            code = None
        except SystemExit as e:
            code = e.code
    answers.append([code, sorted(set({HEAVY!r}) & set(sys.modules)), out.getvalue(), err.getvalue()])
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def help_answers() -> dict:
    """``(command, argv) -> (exit code, heavy modules loaded by then, stdout, stderr)`` for every case."""
    cases = [case.values[:2] for case in HELP_CASES]
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(cases)], capture_output=True, text=True, check=True)
    answers = json.loads(done.stdout.splitlines()[-1])
    assert done.stderr == "", done.stderr[-300:]
    return {(command, tuple(argv)): answer for (command, argv), answer in zip(cases, answers, strict=True)}


@pytest.mark.parametrize(("command", "argv", "code"), HELP_CASES)
def test_help_and_a_bad_flag_answer_without_importing_jax(command, argv, code, help_answers):
    """``--help`` and a mistyped flag answer in well under a second, in every command: building the
    parser imports none of JAX, gymnax, flax, brax or matplotlib (they load only when a run starts)."""
    from pn_jax import cli

    assert {name for name in vars(cli) if name.startswith("pn_")} == {f"pn_{name}" for name in COMMANDS}
    exit_code, heavy, out, err = help_answers[(command, tuple(argv))]
    assert (exit_code, heavy) == (code, []), (out[-300:], err[-300:])
    if code == 0:
        assert err == "" and "did you mean" not in out and "usage: " in out
    else:
        assert "--sigma-int" in err and "Traceback" not in err


def test_help_text_paragraphs_are_joined_and_errors_are_one_line():
    from pn_jax.cli.common import join_lines, one_line_error

    assert join_lines("one\n    two (three)\n    --flag x\n\n- item\n  more\n- next") == (
        "one two (three) --flag x\n\n- item more\n- next"
    )
    plain = " Invalid choice \n ----- \n  invalid choice 'x' for argument '--a'.  \n  -----\n  For full helptext \n"
    assert one_line_error(plain) == "invalid choice 'x' for argument '--a'."


def _main_of(command: str, out: str):
    """``main`` of a writing command and its tiny arguments with ``out``, and the function that
    would start its training (each test replaces it with a failure: nothing may reach it)."""
    from conftest import TINY, flags_of

    from pn_jax import runner
    from pn_jax.cli import ablate, bench, locomotion, train
    from pn_jax.experiments import ablate as ablate_experiment
    from pn_jax.experiments import bench as bench_experiment

    if command == "train":
        return lambda: train.cli([*flags_of(TINY), "--out", out]), (runner, "run")
    if command == "ablate":
        args = ablate.Ablation(**{**TINY, "exploration": ("param",), "num_seeds": 1, "out": out})
        return lambda: ablate.main(args), (ablate_experiment, "run_exploration")
    if command == "locomotion":
        return lambda: locomotion.main(locomotion.Locomotion(quick=True, out=out)), (locomotion, "run_task")
    return lambda: bench.main(bench.Bench(out=out)), (bench_experiment, "compare")


@pytest.mark.parametrize(
    "command,where",
    [
        (command, where)
        for command in ("train", "ablate", "locomotion", "bench")
        for where in ("a folder" if command == "bench" else "a file", "below a file", "unwritable")
    ],
)
def test_an_output_location_that_cannot_take_the_outputs_is_one_line_before_training(
    command, where, tmp_path, capsys, monkeypatch
):
    """--out a file (for bench, a folder: it writes a file), a folder that would have to be made
    inside a file, or one that cannot be written into: exit 2 with one line, before compiling."""
    from pn_jax.cli import common

    existing = tmp_path / "metrics.json"
    existing.write_text("{}")
    out = {"a file": existing, "below a file": existing / "run", "a folder": tmp_path, "unwritable": tmp_path / "x"}
    if where == "unwritable":  # (permissions cannot stop the tests' root user: the probe fails instead)

        def refuse(**_):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(common.tempfile, "TemporaryFile", refuse)
    run, (module, name) = _main_of(command, str(out[where]))
    monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail(f"{command} reached training"))
    with pytest.raises(SystemExit) as exit_info:
        run()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: out: "), err
    expected = {
        "a file": "is a file, not a folder",
        "below a file": f"{existing} is a file, so ",
        "a folder": "is a folder; give the path of a file",
        "unwritable": "cannot write into",
    }
    assert expected[where] in lines[0]
    assert existing.read_text() == "{}"


def test_outputs_that_fail_to_write_leave_the_results_in_a_file_named_by_the_error(tmp_path, capsys, monkeypatch):
    from pn_jax.cli.common import write_or_rescue

    results = {"eval": {"return": [[1.5, float("nan")]]}}

    def disk_full():
        raise OSError(28, "No space left on device")

    with pytest.raises(SystemExit) as exit_info:
        write_or_rescue(disk_full, results, str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: out: writing the outputs into {tmp_path / 'run'} failed ([Errno 28] No space")
    saved = err.strip().rpartition("the results are saved in ")[2]
    assert os.path.dirname(saved) == str(tmp_path) and os.path.basename(saved).startswith("run-unsaved-")
    assert json.loads(open(saved).read())["eval"]["return"][0][0] == 1.5

    # Nowhere beside --out to write (its parent is a file): the system's temporary folder.
    (tmp_path / "file").write_text("")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pytest.raises(SystemExit):
        write_or_rescue(disk_full, results, str(tmp_path / "file" / "run"))
    saved = capsys.readouterr().err.strip().rpartition("the results are saved in ")[2]
    assert os.path.dirname(saved) == str(tmp_path / "tmp") and os.path.exists(saved)


def test_a_trained_run_whose_outputs_cannot_be_written_is_not_lost(tmp_path, capsys, monkeypatch):
    from conftest import TINY, flags_of

    from pn_jax import results
    from pn_jax.cli import train

    def broken_figure(record, out):
        raise RuntimeError("the figure could not be drawn")

    monkeypatch.setattr(results, "save_run", broken_figure)
    with pytest.raises(SystemExit) as exit_info:
        train.cli([*flags_of(TINY), "--num-seeds", "2", "--progress", "False", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    assert "failed (the figure could not be drawn); the results are saved in " in err
    record = json.loads(open(err.strip().rpartition(" ")[2]).read())
    assert record["seeds"] == [0, 1] and record["eval"]["step"] == [150, 300]  # a whole metrics.json


_LONG_PROGRAM = """
import jax, jax.numpy as jnp
from pn_jax.cli.common import interrupts_exit, on_interrupt

spin = jax.jit(lambda x: jax.lax.fori_loop(0, 2_000_000_000, lambda i, y: jnp.sin(y) + 1e-3, x))
with interrupts_exit():
    on_interrupt(lambda: "stopped inside the compiled program")
    compiled = spin.lower(jnp.zeros(64)).compile()
    print("running", flush=True)
    jax.block_until_ready(compiled(jnp.zeros(64)))  # hours: only Ctrl-C ends it
    print("finished", flush=True)
"""


def test_ctrl_c_inside_a_compiled_program_exits_at_once_with_its_note():
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-c", _LONG_PROGRAM], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "running\n"
    time.sleep(0.5)  # inside the compiled loop, where Python cannot raise KeyboardInterrupt
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert time.perf_counter() - sent < 10  # the loop would run for hours
    assert err.strip() == "stopped inside the compiled program" and "finished" not in out
