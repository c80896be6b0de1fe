"""One run over two processes on this machine (``jax.distributed``, gloo CPU collectives): the same
metrics as one process (with a batch padded to fill every process's device), only process 0 writes,
and a killed peer stops the other with an error."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import ROOT, TINY, flags_of

from pn_jax import DDPGConfig, checkpoint, parallel, runner

# 3 seeds on 2 devices: padded to 4, so that each process's device trains a slice; 2 chunks of 150 steps.
FLAGS = [*flags_of(TINY), "--num-seeds", "3", "--seed", "3", "--progress", "False"]
# A grid of 3 settings × 1 seed, also padded to 4.
ABLATE_FLAGS = [*flags_of(TINY), "--sigma-init", "0.1", "0.2", "0.4", "--num-seeds", "1", "--progress", "False"]
TIMINGS = ("compile_seconds", "run_seconds", "env_steps_per_second", "device")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """``scripts/<script>`` in a new process, its output in files (a pipe left undrained can block it)."""

    def __init__(self, args: list[str], devices: int, logs, script: str = "train.py"):
        env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices), PYTHONUNBUFFERED="1")
        self.out, self.err = logs.with_suffix(".out"), logs.with_suffix(".err")
        command = [sys.executable, os.path.join(ROOT, "scripts", script), *args]
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)

    def wait(self, timeout: float = 400) -> tuple[int, str, str]:
        """Exit code, stdout and stderr."""
        code = self.popen.wait(timeout=timeout)
        return code, self.out.read_text(), self.err.read_text()


def _two_processes(args: list[str], logs, script: str = "train.py") -> list[Process]:
    coordinator = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2"]
    name = script.removesuffix(".py")
    return [Process([*args, *coordinator, "--process-id", str(i)], 1, logs / f"{name}{i}", script) for i in (0, 1)]


def _numbers(out) -> dict:
    record = json.loads((out / "metrics.json").read_text())
    return {key: value for key, value in record.items() if key not in TIMINGS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """3 seeds over 2 processes × 1 device, and over 1 process × 2 devices: each device runs 2 seeds
    (one of them padding on the second); and a grid of 3 settings over 2 processes × 1 device."""
    base = tmp_path_factory.mktemp("distributed")
    two = _two_processes([*FLAGS, "--checkpoint-every", "150", "--out", str(base / "two")], base)
    one = Process([*FLAGS, "--out", str(base / "one")], 2, base / "single")
    grid = _two_processes([*ABLATE_FLAGS, "--out", str(base / "grid")], base, "ablate.py")
    outputs = [p.wait() for p in (*two, one, *grid)]
    for code, _, err in outputs:
        assert code == 0, err[-3000:]
    return base, [(out, err) for _, out, err in outputs]


def test_a_two_process_run_resumes_with_two_processes(runs, tmp_path):
    base, _ = runs
    shutil.copytree(base / "two", tmp_path / "two")
    shutil.rmtree(tmp_path / "two" / "checkpoints" / "300")  # as if stopped after step 150
    (tmp_path / "two" / "metrics.json").unlink()
    resumed = [p.wait() for p in _two_processes(["--resume", str(tmp_path / "two"), "--progress", "False"], tmp_path)]
    assert [code for code, _, _ in resumed] == [0, 0], resumed[0][2][-3000:]
    assert _numbers(tmp_path / "two") == _numbers(base / "two")
    assert not any("ResumeWarning" in err or "warning:" in err for _, _, err in resumed)  # the same devices


def test_resuming_on_another_device_count_warns_once_and_completes(runs, tmp_path):
    """The two-process run's checkpoint at step 150 (2 devices, a batch of 2 each) resumed by one
    process on one device (a batch of 3): one ResumeWarning, then the run completes."""
    base, _ = runs
    directory = str(tmp_path / "checkpoints")
    shutil.copytree(base / "two" / "checkpoints", directory)
    shutil.rmtree(os.path.join(directory, "300"))
    keys = jax.vmap(jax.random.key)(np.arange(3, 6, dtype=np.uint32))
    with pytest.warns(checkpoint.ResumeWarning) as caught:
        result = runner.run(DDPGConfig(**TINY), keys, checkpoint_dir=directory, resume=True)
    cpu = parallel.device_kind(jax.devices()[0])
    assert [str(w.message) for w in caught] == [
        f"checkpoint {os.path.join(directory, '150')} was written with a batch of 2 per device on 2 devices ({cpu}), "
        f"and this run has a batch of 3 per device on 1 device ({cpu}): the continuation will not be bit-identical "
        "to an uninterrupted run"
    ]
    assert result.steps == 300 and result.nonfinite is None
    returns = np.asarray(result.metrics.eval_return)
    two = np.asarray(_numbers(base / "two")["eval"]["return"])
    assert returns.shape == two.shape == (3, 2) and np.all(np.isfinite(returns))
    np.testing.assert_array_equal(returns[:, :1], two[:, :1])  # the chunk before the checkpoint: restored


def test_two_processes_give_the_single_process_metrics_bit_for_bit(runs):
    base, _ = runs
    two, one = _numbers(base / "two"), _numbers(base / "one")
    assert two["seeds"] == [3, 4, 5] and len(two["eval"]["return"]) == 3 and len(two["eval"]["return"][0]) == 2
    assert two == one  # same seeds on the same per-device shapes (padding included): every number identical
    device = json.loads((base / "two" / "metrics.json").read_text())["device"]
    assert device.endswith("2 XLA devices in 2 processes"), device


def test_a_grid_not_a_multiple_of_the_processes_runs_over_both(runs):
    base, outputs = runs
    records = [json.loads(path.read_text()) for path in sorted((base / "grid").glob("param/*/metrics.json"))]
    assert [r["config"]["sigma_init"] for r in records] == [0.1, 0.2, 0.4]
    assert all(r["seeds"] == [0] and r["device"].endswith("2 XLA devices in 2 processes") for r in records)
    returns = [r["eval"]["return"][0] for r in records]
    assert np.all(np.isfinite(returns)) and len({tuple(r) for r in returns}) == 3  # each its own setting
    assert "error" not in outputs[4][1] and "summary.md" in outputs[3][0]


def test_only_process_0_writes_and_reports(runs):
    base, ((out0, _), (out1, err1), *_) = runs
    written = sorted(p.name for p in (base / "two").iterdir())
    assert written == ["checkpoints", "metrics.csv", "metrics.json", "returns.png"]
    assert sorted(p.name for p in (base / "two" / "checkpoints").iterdir()) == ["150", "300"]
    assert "wrote" in out0 and "final eval return" in out0
    assert "wrote" not in out1 and "final eval" not in out1 and "error:" not in err1


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--num-processes", "2", "--process-id", "2"], "process_id: must be in [0, num_processes), got 2"),
        (["--num-processes", "2"], "process_id: --coordinator needs it as a non-negative integer, got None"),
        (
            ["--num-processes", "2", "--process-id", "0", "--join-timeout", "0"],
            "join_timeout: must be a positive number of seconds, got '0'",
        ),
    ],
)
def test_bad_multi_process_flags_are_refused_before_joining(flags, message, capsys):
    from pn_jax import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.start_distributed(["--coordinator", "127.0.0.1:1", *flags])
    assert exit_info.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"


def test_an_unreachable_coordinator_or_other_process_counts_stop_within_the_join_timeout(tmp_path):
    """Nobody at the coordinator's address; two processes where process 1 says 3 processes; two where
    process 0 says 3. Each stops with a non-zero exit within the join timeout (5 s here) plus start-up,
    the first two with a one-line error; in the third, JAX ends both with its own fatal log."""
    args = [*FLAGS, "--join-timeout", "5"]

    def started(name: str, coordinator: str, count: str, rank: str) -> Process:
        flags = [*args, "--out", str(tmp_path / name), "--coordinator", coordinator, "--num-processes", count]
        return Process([*flags, "--process-id", rank], 1, tmp_path / f"{name}{rank}")

    start = time.monotonic()
    nobody = f"127.0.0.1:{_free_port()}"
    alone = started("alone", nobody, "2", "1")
    more, fewer = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    pairs = {"more": [started("more", more, "2", "0"), started("more", more, "3", "1")]}
    pairs["fewer"] = [started("fewer", fewer, "3", "0"), started("fewer", fewer, "2", "1")]
    code, _, err = alone.wait(60)
    assert code == 2 and err == (
        f"error: distributed: nobody answered at the coordinator {nobody} within --join-timeout 5 s "
        "(Connection refused); start process 0 there, or check the address\n"
    ), err[-3000:]
    (code0, _, err0), (code1, _, err1) = (p.wait(60) for p in pairs["more"])
    assert (code0, code1) == (2, 2) and err1 == "", err0[-3000:] + err1[-3000:]
    assert err0 == (
        "error: num_processes: the processes were started with --num-processes [2, 3] (by process id) and "
        "2 joined; give every process the same count\n"
    )
    assert all(p.wait(60)[0] != 0 for p in pairs["fewer"])
    assert time.monotonic() - start < 60
    assert not any((tmp_path / name / "metrics.json").exists() for name in ("alone", "more", "fewer"))


def test_a_bad_flag_is_reported_once_and_stops_every_process(tmp_path):
    done = [p.wait(200) for p in _two_processes([*FLAGS, "--out", str(tmp_path / "run"), "--devices", "3"], tmp_path)]
    errors = [err for _, _, err in done]
    assert [code for code, _, _ in done] == [2, 2]
    assert "error: devices: asked for 3 but only 2 cpu device(s) exist" in errors[0]
    assert "error:" not in errors[1]


def test_resuming_with_another_process_count_is_refused_naming_it(tmp_path, capsys):
    from pn_jax import DDPGConfig
    from pn_jax.cli import train

    config = DDPGConfig(**TINY)
    saved = {"algo": "ddpg", "config": dataclasses.asdict(config), "seeds": [0, 1], "num_processes": 2}
    with pytest.raises(SystemExit):
        train._resumed(config, train.Run(resume=str(tmp_path)), saved)
    err = capsys.readouterr().err
    assert f"resume: the run in {tmp_path} was trained by 2 process(es) and this is 1" in err
    assert "same --num-processes" in err


def test_multi_process_flags_outside_the_commands_are_refused_not_ignored(capsys, tmp_path):
    from pn_jax.cli import train

    with pytest.raises(SystemExit) as exit_info:
        train.cli([*FLAGS, "--out", str(tmp_path), "--coordinator", "127.0.0.1:1", "--num-processes", "2"])
    assert exit_info.value.code == 2
    assert "multi-process flags take effect only through the pn-train / pn-ablate" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize(
    "message,lost_peer",
    [("UNKNOWN: Gloo AllGather failed: Connection closed by peer [127.0.0.1]:1", True), ("INTERNAL: oops", False)],
)
def test_a_failed_computation_stops_a_process_at_once(monkeypatch, capsys, message, lost_peer):
    """The entry point's handling, in this process: exit code 1 without JAX's shutdown barrier, one
    line for a lost peer, the traceback first for anything else; a lone process just raises."""
    import jax

    from pn_jax import cli

    def failing() -> None:
        raise jax.errors.JaxRuntimeError(message)

    exits: list[int] = []
    monkeypatch.setattr(cli, "start_distributed", lambda argv: True)
    monkeypatch.setattr(cli, "use_cpu_cores", lambda: False)
    monkeypatch.setattr("pn_jax.cli.common.use_compilation_cache", lambda path: None)
    monkeypatch.setattr("pn_jax.cli.train.cli", failing)
    monkeypatch.setattr(os, "_exit", exits.append)
    monkeypatch.setattr(sys, "argv", ["pn-train"])
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    cli.pn_train()
    err = capsys.readouterr().err
    assert exits == [1]
    assert err.splitlines()[-1] == f"error (process 0): the multi-process run stopped: {message}"
    assert ("Traceback" in err) != lost_peer
    monkeypatch.setattr(jax, "process_count", lambda: 1)
    with pytest.raises(jax.errors.JaxRuntimeError):
        cli.pn_train()


def test_a_killed_peer_stops_the_other_process_with_an_error(tmp_path):
    out = tmp_path / "run"
    flags = [*FLAGS, "--total-steps", "300000", "--checkpoint-every", "150"]
    processes = _two_processes([*flags, "--out", str(out)], tmp_path)
    deadline = time.monotonic() + 300

    def joined() -> bool:  # gloo's line at the first collective of both, or a chunk trained together
        return "connected to 1 peer" in processes[0].out.read_text() or bool(checkpoint.steps(str(out / "checkpoints")))

    while not joined():
        assert processes[0].popen.poll() is None, processes[0].err.read_text()[-3000:]
        assert time.monotonic() < deadline, "the processes never met"
        time.sleep(0.1)
    processes[1].popen.send_signal(signal.SIGKILL)
    processes[1].wait(60)
    start = time.monotonic()
    code, _, err = processes[0].wait(120)  # not a hang: at its next collective, or at the heartbeat timeout
    assert code != 0 and time.monotonic() - start < 90, err[-3000:]
    if "error (process 0): the multi-process run stopped: " in err:  # at a collective that lost its peer
        assert code == 1 and "Traceback" not in err, err[-3000:]
    else:  # (killed before process 0 reached a collective: JAX's heartbeat check stopped it)
        assert "heartbeat timeout" in err or "stopped sending heartbeats" in err or "another task died" in err, err
    assert not (out / "metrics.json").exists()
