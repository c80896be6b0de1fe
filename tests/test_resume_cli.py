"""scripts/train.py under failure: SIGKILL halfway then --resume, Ctrl-C, determinism, NaN stops,
damaged checkpoints, a finished run resumed, and an --out that already holds a run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY, flags_of, run_script

from pn_jax import checkpoint

# 2 seeds, one per device (the scripts expose one XLA device per core), 6 chunks of 1000 steps, a
# checkpoint after each: about 1 s of training after the compile on 2 cores, and 3 chunks to kill it in.
FLAGS = [
    "--total-steps", "6000", "--eval-every", "1000", "--adapt-every", "50", "--learning-starts", "300",
    "--batch-size", "32", "--buffer-size", "2000", "--hidden-sizes", "16", "16", "--eval-episodes", "1",
    "--num-seeds", "2", "--seed", "5", "--progress", "False",
]  # fmt: skip
TOTAL, HALF, EVERY = 6000, 3000, "1000"
TIMINGS = ("compile_seconds", "run_seconds", "env_steps_per_second")


def numbers(out) -> dict:
    """metrics.json without its timings: every number a run computes."""
    record = json.loads((out / "metrics.json").read_text())
    return {key: value for key, value in record.items() if key not in TIMINGS}


def train(*args: str) -> subprocess.CompletedProcess:
    result = run_script("train.py", *args, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def kill_halfway(out) -> int:
    """Starts the run, SIGKILLs it once a checkpoint at half its steps or later is complete (the
    kill may land mid-chunk or mid-save); returns the latest complete checkpoint's step."""
    command = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), *FLAGS]
    command += ["--checkpoint-every", EVERY, "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not [s for s in checkpoint.steps(str(out / "checkpoints")) if s >= HALF]:
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, f"no checkpoint at half the run (step {HALF} or later) appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    done = checkpoint.steps(str(out / "checkpoints"))
    assert done and HALF <= done[-1] < TOTAL, f"the run got to {done} before the kill"
    assert not (out / "metrics.json").exists()
    return done[-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run SIGKILLed halfway and resumed, and the same run uninterrupted without checkpoints."""
    base = tmp_path_factory.mktemp("runs")
    killed, whole = base / "killed", base / "whole"
    killed_at = kill_halfway(killed)
    resumed = train("--resume", str(killed), "--progress", "False")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert train(*FLAGS, "--out", str(whole)).returncode == 0
    return killed, whole, killed_at


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(runs):
    """Resuming, and checkpointing itself, change no number: the killed-and-resumed run equals a run
    of the same config and seeds that never saved a checkpoint (another process: determinism)."""
    killed, whole, killed_at = runs
    assert HALF <= killed_at < TOTAL
    a, b = numbers(whole), numbers(killed)
    assert a["seeds"] == b["seeds"] == [5, 6]
    assert len(a["eval"]["return"][0]) == 6
    assert a == b  # every eval return, σ, distance and episode return, bit for bit (as JSON floats)
    assert checkpoint.steps(str(killed / "checkpoints")) == [TOTAL - 1000, TOTAL]
    assert not (whole / "checkpoints").exists()


def test_damaged_checkpoint_is_refused_with_a_clear_message(runs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(runs[0], copy)
    (copy / "metrics.json").unlink()  # (a complete run is not resumed: as if writing it had failed)
    latest = copy / "checkpoints" / str(TOTAL) / "arrays"
    largest = max((p for p in latest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    with open(largest, "r+b") as f:
        f.truncate(largest.stat().st_size // 2)
    result = train("--resume", str(copy), "--progress", "False")
    assert result.returncode == 2
    assert "resume: checkpoint" in result.stderr and f"{TOTAL} is corrupt" in result.stderr
    assert "Event loop is closed" not in result.stderr  # (orbax's reads still in flight stay quiet)


def test_ctrl_c_is_one_line_naming_the_checkpoint_to_resume_from(tmp_path):
    """SIGINT (Ctrl-C) after the first checkpoint: exit code 130 at once, one line with the resume
    command and no traceback, a complete checkpoint left and no metrics.json (that resuming from a
    checkpoint gives the uninterrupted run's numbers: the SIGKILL test above)."""
    out = tmp_path / "interrupted"
    flags, total = [*FLAGS], 60_000  # ten times the others' run: time to interrupt it on a busy machine
    flags[flags.index("--total-steps") + 1] = str(total)
    command = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), *flags]
    process = subprocess.Popen(
        [*command, "--checkpoint-every", EVERY, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not checkpoint.steps(str(out / "checkpoints")):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 130 and time.monotonic() - sent < 10, err[-3000:]
    # (JAX may warn, two lines each, when this suite's workers race on their shared compilation cache)
    cache_race = re.compile(r".*UserWarning: Error writing persistent compilation cache entry.*\n.*warnings\.warn.*\n")
    err = cache_race.sub("", err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-3000:]
    latest = checkpoint.steps(str(out / "checkpoints"))[-1]
    assert 0 < latest < total and not (out / "metrics.json").exists()
    assert err.startswith("interrupted at env step ") and f"the latest checkpoint is at step {latest}" in err
    assert err.strip().endswith(f"resume with: python {os.path.join(ROOT, 'scripts', 'train.py')} --resume {out}")


def test_resuming_a_finished_run_says_so_and_writes_nothing(runs, capsys):
    from pn_jax.cli import train as train_cli

    finished = runs[0]
    before = {path: path.stat().st_mtime_ns for path in finished.rglob("*")}
    train_cli.cli(["--resume", str(finished), "--progress", "False"])  # (returns: exit code 0)
    assert capsys.readouterr().out == f"{finished} is complete ({TOTAL} env steps); nothing to do\n"
    assert {path: path.stat().st_mtime_ns for path in finished.rglob("*")} == before


def test_nonfinite_loss_stops_the_run_keeping_the_last_good_checkpoint(tmp_path, capsys):
    from pn_jax.cli import train as train_cli

    def train_here(*args: str) -> tuple[int, str]:
        """``train.cli`` in this process (no interpreter start-up to pay): exit code, stderr."""
        try:
            train_cli.cli(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code or 0
        err = capsys.readouterr().err
        assert "Traceback" not in err, err[-3000:]
        return code, err

    out = tmp_path / "diverged"
    args = [
        *flags_of({**TINY, "total_steps": 600, "learning_starts": 300}),
        *("--num-seeds", "2", "--progress", "False", "--checkpoint-every", "150", "--out", str(out)),
    ]
    code, err = train_here(*args, "--critic-lr", "1e6", "--actor-lr", "1e6")
    assert code == 1
    assert "error: the learner's loss became non-finite at env step 30" in err
    assert "(seed 0)" in err and "stopped after env step 450" in err
    assert f"the last good checkpoint is {out / 'checkpoints' / '300'}" in err
    assert checkpoint.steps(str(out / "checkpoints")) == [150, 300]
    record = json.loads((out / "metrics.json").read_text())
    assert record["stopped"]["step"] == 450 and record["eval"]["step"] == [150, 300, 450]

    # The folder now holds a run: refused without --overwrite, replaced with it.
    code, err = train_here(*args)
    assert code == 2 and "--overwrite" in err
    code, err = train_here(*args, "--overwrite", "True", "--checkpoint-every", "0")
    assert code == 0, err[-3000:]
    assert "stopped" not in json.loads((out / "metrics.json").read_text())
    assert not (out / "checkpoints").exists()
