"""The command-line programs, installed as ``pn-train``, ``pn-ablate``, ``pn-reproduce``, ``pn-chain``,
``pn-onpolicy``, ``pn-bench``, ``pn-locomotion`` and ``pn-plot`` (also run as ``python scripts/<name>.py``).

Each entry point prepares JAX's backends before the program's module is imported (importing
gymnax starts them): with ``--coordinator HOST:PORT --num-processes P --process-id I`` (or
``--distributed`` on a cluster JAX detects by itself) it joins a multi-process run with
``jax.distributed.initialize``, and a CPU host is exposed as one XLA device per core, so
``--devices all`` spreads seeds over every core of every process. Each module's ``cli(argv)``
then parses its flags (these included) and runs. Ctrl-C ends any of them at once with one line
(for ``pn-train`` with checkpoints: the step and how to resume) and exit code 130.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import time
from collections.abc import Callable

JOIN_TIMEOUT_SECONDS = 120
"""How long a process waits for the others to join (``jax.distributed.initialize``), unless
``--join-timeout`` says otherwise."""
HEARTBEAT_TIMEOUT_SECONDS = 20
"""A process silent for this long is taken for dead, and the run stops in every other process."""
SHUTDOWN_TIMEOUT_SECONDS = 60
"""How long a finished process waits at exit for the others (one that failed leaves the others
waiting in a collective: this bounds how long before they are stopped too)."""


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``name VALUE`` / ``name=VALUE`` in ``argv``; ``"True"`` for a bare boolean ``name``."""
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else "True"
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    return None


def start_distributed(argv: list[str]) -> bool:
    """Joins a multi-process run when ``argv`` asks for one (see the module docstring); must run
    before JAX's backends start. CPU hosts talk through gloo collectives.

    Returns:
      True if this process joined one.
    """
    from pn_jax.cli.common import TRUE_WORDS  # (importing it starts no backend)

    coordinator = _flag(argv, "--coordinator")
    detect = (_flag(argv, "--distributed") or "false").lower() in TRUE_WORDS
    if coordinator is None and not detect:
        return False
    numbers = {}
    for name in ("--num-processes", "--process-id"):
        value = _flag(argv, name)
        if coordinator is not None and (value is None or not value.isdigit()):
            _fail(f"{name[2:].replace('-', '_')}: --coordinator needs it as a non-negative integer, got {value!r}")
        numbers[name] = None if value is None else int(value)
    timeout = _flag(argv, "--join-timeout") or str(JOIN_TIMEOUT_SECONDS)
    if not timeout.isdigit() or int(timeout) < 1:
        _fail(f"join_timeout: must be a positive number of seconds, got {timeout!r}")
    if coordinator is not None and not 0 <= numbers["--process-id"] < max(numbers["--num-processes"], 1):
        _fail(f"process_id: must be in [0, num_processes), got {numbers['--process-id']}")
    import jax  # (first: importing it takes seconds, which the wait below should not count)

    if coordinator is not None and numbers["--process-id"] > 0:
        _wait_for_coordinator(coordinator, int(timeout))

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=numbers["--num-processes"],
            process_id=numbers["--process-id"],
            initialization_timeout=int(timeout),
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_SECONDS,
            shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_SECONDS,
        )
    except (RuntimeError, ValueError) as err:  # no cluster detected, coordinator unreachable, …
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _fail(f"distributed: could not join the multi-process run: {first}")
    return True


def _wait_for_coordinator(address: str, timeout: int) -> None:
    """Waits until something accepts connections at ``address`` (process 0's coordination service):
    JAX's own client ends the process with a fatal log and a stack trace when it finds nobody there,
    so an unreachable coordinator is caught here first, with a one-line error."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        _fail(f"coordinator: expected HOST:PORT, got {address!r}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
            return
        except OSError as err:
            if time.monotonic() > deadline:
                _fail(
                    f"distributed: nobody answered at the coordinator {address} within --join-timeout {timeout} s "
                    f"({err.strerror or err}); start process 0 there, or check the address"
                )
            time.sleep(0.5)


PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "UNAVAILABLE", "heartbeat")
"""Words in a failed computation's error that say another process of the run is gone."""


def _stop_at_once(err: Exception) -> None:
    """Ends a process of a multi-process run whose computation failed, at once and with exit code 1:
    a normal exit would first wait at JAX's shutdown barrier for processes that may be gone. Another
    process's death (a collective lost its peer) is one line, ``error (process I): the multi-process
    run stopped: …``; any other failure prints its traceback first. The error has unwound by then
    (files closed; orbax commits a checkpoint by renaming it), and the latest checkpoint stays for
    ``--resume``."""
    import traceback

    import jax

    text = str(err)
    if not any(words in text for words in PEER_LOST):
        traceback.print_exc()
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    print(f"error (process {jax.process_index()}): the multi-process run stopped: {first}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _fail(message: str) -> None:
    """:func:`pn_jax.cli.common.fail` without asking JAX which process this is: while joining, a
    client may exist before it has connected, and asking would start the backends."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def use_cpu_cores(count: int | None = None) -> bool:
    """Exposes the host CPU as ``count`` XLA devices (default: one per core), if still possible.

    XLA runs most kernels of a small program on one thread per device, so a vmapped batch of
    seeds leaves the other cores idle; sharding it over one device per core uses them all. This
    must run before JAX initialises its backends, and does nothing if the device count was already
    chosen (``JAX_NUM_CPU_DEVICES``, or ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``).
    Before JAX is imported it only sets ``JAX_NUM_CPU_DEVICES`` (importing JAX costs seconds, which
    ``--help`` and a bad flag should not wait for). Accelerators are unaffected: ``jax.devices()``
    still lists the GPU or TPU when there is one.

    Returns:
      True if this call set the count.
    """
    if "JAX_NUM_CPU_DEVICES" in os.environ or "--xla_force_host_platform_device_count" in os.environ.get(
        "XLA_FLAGS", ""
    ):
        return False
    jax = sys.modules.get("jax")
    if jax is None:
        os.environ["JAX_NUM_CPU_DEVICES"] = str(count or os.cpu_count() or 1)
        return True
    if jax.config.jax_num_cpu_devices >= 0:
        return False
    try:
        jax.config.update("jax_num_cpu_devices", count or os.cpu_count() or 1)
    except RuntimeError:  # the backends have started already
        return False
    return True


def _command(module: str, distributed: bool = False, cache: str | None = None) -> Callable[[], None]:
    def run() -> None:
        try:
            joined = distributed and start_distributed(sys.argv[1:])
        except KeyboardInterrupt:  # (while waiting for the other processes: nothing has started)
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        use_cpu_cores()
        from pn_jax.cli.common import find_user_modules, interrupts_exit, use_compilation_cache
        from pn_jax.cli.flags import default_cache_dir

        find_user_modules()  # before anything builds a config that names --env my_module:make_env (also on --resume)

        with interrupts_exit():  # Ctrl-C: one line and exit code 130, at once, in every command
            use_compilation_cache(_flag(sys.argv[1:], "--compilation-cache") or cache or default_cache_dir())
            try:
                importlib.import_module(f"pn_jax.cli.{module}").cli()
            except Exception as err:  # e.g. a collective whose peer process died
                if not joined or type(err).__name__ != "JaxRuntimeError" or sys.modules["jax"].process_count() == 1:
                    raise
                _stop_at_once(err)

    run.__doc__ = f"The ``pn-{module}`` command (:func:`pn_jax.cli.{module}.cli`)."
    return run


pn_train = _command("train", distributed=True)
pn_ablate = _command("ablate", distributed=True)
pn_reproduce = _command("reproduce")
pn_chain = _command("chain")
pn_onpolicy = _command("onpolicy")
pn_bench = _command("bench", cache="off")
pn_locomotion = _command("locomotion")
pn_plot = _command("plot", cache="off")
