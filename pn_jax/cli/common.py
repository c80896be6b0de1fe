"""Helpers shared by the command-line programs: parsing with one-line errors, clean error exits, the
output folder, interrupts, and which process of a multi-process run writes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import textwrap
import threading
import time
import typing
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import tyro

T = TypeVar("T")

BOOL_HELP = (
    "Boolean flags: --flag alone or --flag True/False (also true/false, yes/no, on/off, 1/0); --no-flag is False."
)
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
DERIVED_WORDS = ("none", "auto")
"""What a ``bool | None`` flag (e.g. ``--obs-norm``) also takes: derive the value from the other flags."""


CACHE_MAX_BYTES = 4 * 2**30


DISTRIBUTED_FIELDS = {
    "coordinator": (
        str | None,
        None,
        "HOST:PORT of process 0, to run over several processes (with --num-processes and --process-id; "
        "every process gets the same other flags, and only process 0 writes).",
    ),
    "num_processes": (int, 1, "processes in a multi-process run."),
    "process_id": (int, 0, "this process's rank in a multi-process run, 0 … num_processes − 1."),
    "distributed": (bool, False, "join a multi-process run that JAX detects by itself (e.g. under SLURM)."),
    "join_timeout": (int, 120, "seconds a process waits for every other to join before it stops with an error."),
}
"""``name: (type, default, help)`` of the multi-process flags, read by :func:`pn_jax.cli.start_distributed`
before the program starts (sweep CLIs add them to their flags)."""


def use_compilation_cache(path: str) -> None:
    """Turns JAX's persistent compilation cache on in ``path`` (at most 4 GiB, least recently used
    entries dropped first), or off for ``off`` / ``none`` / an empty string. Before JAX is imported
    this sets the environment variables JAX reads when it is (``JAX_COMPILATION_CACHE_DIR``, …)."""
    off = path.strip().lower() in ("", "off", "none")
    settings = {"jax_enable_compilation_cache": not off}
    if not off:
        settings["jax_compilation_cache_dir"] = os.path.abspath(os.path.expanduser(path))
        if "JAX_COMPILATION_CACHE_MAX_SIZE" not in os.environ:
            settings["jax_compilation_cache_max_size"] = CACHE_MAX_BYTES
    jax = sys.modules.get("jax")
    for name, value in settings.items():
        if jax is not None:
            jax.config.update(name, value)
        else:
            os.environ[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)


def compile_note(env: str, what: str = "the training program") -> str:
    """The line printed before compiling: what compiles, for about how long, and whether it is cached.

    The ranges are those measured on a 2-core CPU (compile times there: 10–60 s for gymnax tasks,
    1–3 minutes for brax's physics, which is a large XLA program); a GPU compiles in similar time.
    """
    import jax

    from pn_jax.catalog import is_brax

    duration = "1–3 minutes: brax's physics is a large program" if is_brax(env) else "10–60 s"
    cached = (
        "; cached for the next run of the same program"
        if jax.config.jax_enable_compilation_cache
        else " (no compilation cache: --compilation-cache off)"
    )
    return f"compiling {what} (about {duration} the first time{cached})"


def bool_flags(*classes: type, derived_only: bool = False) -> set[str]:
    """The ``--kebab-name`` of every ``bool`` field of these dataclasses, and of every ``bool | None``
    one (a flag derived from the others when left out, or given ``none``); only the latter with
    ``derived_only``."""
    return {
        "--" + name.replace("_", "-")
        for cls in classes
        for name, hint in typing.get_type_hints(cls).items()
        if (hint is bool and not derived_only) or hint == (bool | None)
    }


def bool_args(argv: list[str] | None, *classes: type) -> list[str]:
    """``argv`` with every boolean flag of ``classes`` in the one form the parser takes, ``--flag True``
    or ``--flag False``: a bare ``--flag`` is True, ``--no-flag`` False, and ``--flag VALUE`` /
    ``--flag=VALUE`` take true/false, yes/no, on/off, 1/0 in any case; any other value (even one that
    looks like a flag, such as ``-A``) is a one-line error naming the flag and the choices."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names, derived, out, i = bool_flags(*classes), bool_flags(*classes, derived_only=True), [], 0
    words = {**dict.fromkeys(TRUE_WORDS, "True"), **dict.fromkeys(FALSE_WORDS, "False")}
    while i < len(argv):
        flag, inline, value = argv[i].partition("=")
        if flag.startswith("--no-") and "--" + flag[5:] in names:
            out += ["--" + flag[5:], "False"] if not inline else [argv[i]]  # (--no-flag=… is tyro's to refuse)
        elif flag in names and (inline or (i + 1 < len(argv) and not re.match(r"--[A-Za-z]|-h$", argv[i + 1]))):
            value = value if inline else argv[i + 1]
            i += 0 if inline else 1
            if flag in derived and value.lower() in DERIVED_WORDS:
                out += [flag, "None"]
            elif value.lower() not in words:
                also = ", or none to derive it" if flag in derived else ""
                name = flag[2:].replace("-", "_")
                fail(f"{name}: {flag} takes true/false (also yes/no, on/off, 1/0{also}), got {value!r}")
            else:
                out += [flag, words[value.lower()]]
        elif flag in names:
            out += [flag, "True"]
        else:
            out.append(argv[i])
        i += 1
    return out


def plain(text: str) -> str:
    """reStructuredText roles and literals as plain text for ``--help``: ``:class:`~a.B``` -> B, ````x```` -> x."""
    text = re.sub(r":[a-z]+:`~?(?:[\w.]+\.)?([^`]+)`", r"\1", text)
    return re.sub(r"`{1,2}([^`]+)`{1,2}", r"\1", text)


def write_runs(runs: Iterable[tuple[str, dict]], folder: str) -> dict[str, dict]:
    """Writes each ``(name, metrics.json record)`` of ``runs`` into ``folder/<name>/`` as it arrives
    (:func:`pn_jax.results.write_record`, rescued as :func:`write_or_rescue` does); returns ``{name: record}``."""
    import functools

    from pn_jax.results import write_record

    records = {}
    for name, record in runs:
        run_folder = os.path.join(folder, name)
        write_or_rescue(functools.partial(write_record, record, run_folder), record, run_folder)
        records[name] = record
    return records


def read_runs(folder: str, names: Iterable[str]) -> dict[str, dict]:
    """The metrics.json records :func:`write_runs` wrote into ``folder/<name>/`` (for --report-only)."""
    records = {}
    for name in names:
        path = os.path.join(folder, name, "metrics.json")
        if not os.path.exists(path):
            fail(f"report_only: no run at {path}; train it first (drop --report-only)")
        with open(path) as f:
            records[name] = json.load(f)
    return records


def folder_name(env: str) -> str:
    """An env name as one path component under ``--out``: ``my_module:make_env`` → ``my_module-make_env``."""
    return env.replace(":", "-")


def find_user_modules() -> None:
    """Lets ``--env my_module:make_env`` import ``my_module`` from the working directory, as ``python -m``
    would (appended, so a stray file there cannot shadow an installed package)."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())


def parse(target: Any, argv: list[str] | None, classes: tuple[type, ...], description: str, **kwargs) -> Any:
    """``tyro.cli(target)`` on ``argv`` with the CLIs' shared conventions: booleans as in
    :func:`bool_args`, no ``--flag/--no-flag`` pairs in the help, plain-text descriptions, and a bad
    flag turned into a one-line error exit (tyro prints its own message for unknown flags).

    ``kwargs`` go to ``tyro.cli`` (``config`` is added to, not replaced)."""
    find_user_modules()
    config = (tyro.conf.FlagConversionOff, *kwargs.pop("config", ()))
    kwargs.setdefault("prog", program_name())
    args = bool_args(argv, *classes)
    description = f"{plain(description)}\n\n{BOOL_HELP}"
    quiet = bool(process_index())  # process 0 prints help and errors
    panel = io.StringIO()  # tyro's boxed error message, rewritten as one line below
    helping = any(arg in ("-h", "--help") for arg in args)
    shown = io.StringIO()  # the help, its paragraphs wrapped below
    try:
        with contextlib.redirect_stdout(shown):
            with contextlib.redirect_stderr(panel), _wide_console(not helping), _tyro_paragraphs():
                parsed = guarded(lambda: tyro.cli(target, args=args, config=config, description=description, **kwargs))
    except SystemExit as exit_:
        if not quiet:
            sys.stdout.write(wrap_help(shown.getvalue()))
        if exit_.code in (0, None) or not panel.getvalue().strip():
            sys.stderr.write(panel.getvalue())
            raise
        fail(one_line_error(panel.getvalue()), code=2)
    if not quiet:
        sys.stdout.write(shown.getvalue())
    sys.stderr.write(panel.getvalue())  # warnings and prints while the config was built (e.g. a user's env module)
    return parsed


def join_lines(text: str) -> str:
    """tyro's line joining of help text, fixed for docstrings: a line continues the one before when it
    starts (after its indentation) with a letter, a digit, ``--flag``, a bracket or a quote; a blank
    line, a list item (``- ``) or anything else (e.g. a rule) starts a new line, as in tyro."""
    out: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        continues = line[:1].isalnum() or line.startswith(("--", "(", "[", "{", "'", '"', "`"))
        if not line:
            out.extend([""] if out and out[-1] else [])
        elif out and out[-1] and continues and set(line) != {"-"}:
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out).strip()


@contextlib.contextmanager
def _tyro_paragraphs():
    """tyro joins a docstring's lines only where the next one starts with a letter, so an attribute
    docstring's indented second line, or a line that starts with ``--flag``, breaks the help text
    mid-sentence: its line joining is :func:`join_lines` while the flags are parsed."""
    import tyro._strings as strings

    original = strings.remove_single_line_breaks
    strings.remove_single_line_breaks = join_lines
    try:
        yield
    finally:
        strings.remove_single_line_breaks = original


def wrap_help(text: str) -> str:
    """tyro's ``--help`` with its description (everything up to the :data:`BOOL_HELP` line that ends
    it) wrapped to the terminal's width, as tyro wraps the option panels below it: tyro prints each
    paragraph as one line. A line that starts with spaces or ``- `` keeps that indent on its
    continuation lines; runs of blank lines become one."""
    head, marker, panels = text.partition(BOOL_HELP)
    if not marker:
        return text
    width = shutil.get_terminal_size().columns
    lines = []
    for line in (head + marker).split("\n"):
        if not line.strip() and lines and not lines[-1].strip():
            continue
        indent = len(line) - len(line.lstrip(" ")) + (2 if line.lstrip(" ").startswith("- ") else 0)
        lines.append(textwrap.fill(line, width, subsequent_indent=" " * indent, break_on_hyphens=False) or line)
    return "\n".join(lines) + panels


@contextlib.contextmanager
def _wide_console(wide: bool):
    """A console too wide for tyro's error panel to wrap a message (``--help`` keeps the terminal's width)."""
    before = os.environ.get("COLUMNS")
    if wide:
        os.environ["COLUMNS"] = "100000"
    try:
        yield
    finally:
        if wide and before is None:
            os.environ.pop("COLUMNS", None)
        elif wide:
            os.environ["COLUMNS"] = before


def one_line_error(panel: str) -> str:
    """tyro's boxed error as one line: the message, and the flags it suggests as "did you mean".

    The panel's sections are split by rules (boxed on a terminal, plain otherwise); the first holds
    the message, a "Perhaps you meant" one the suggested flags, and the help-text sections are
    dropped (``--help`` shows them).
    """
    sections: list[list[str]] = [[]]
    for raw in panel.splitlines()[1:]:  # the first line is the box's top edge with its title
        line = raw.replace("│", "").strip()
        if not line or set(line) <= set("─━╰╯-"):
            if line and "╰" not in line:
                sections.append([])
            continue
        sections[-1].append(line)
    sections = [section for section in sections if section]  # (without a box, a rule follows the title)
    message = " ".join(sections[0]) if sections else "could not parse the flags"
    message = re.sub(r"^Error parsing config: ", "", message)
    message = re.sub(r"^Error parsing (--[\w-]+): ", r"\1: ", message)
    message = message[0].lower() + message[1:] if message.startswith("Unrecognized") else message
    suggested = [
        line.split()[0]
        for section in sections[1:]
        if section and section[0].startswith("Perhaps you meant")
        for line in section[1:]
        if line.startswith("--")
    ]
    if suggested:
        message += f"; did you mean {' or '.join(dict.fromkeys(suggested))}?"
    return message


def fail(message: str, code: int = 2, every_process: bool = False) -> None:
    """Prints ``error: message`` to stderr and exits with ``code`` (no traceback). In a multi-process
    run only process 0 prints, since every process gets the same flags and meets the same error;
    ``every_process`` is for errors that depend on the process's own machine (e.g. its files), which
    each process prints as ``error (process I): message``."""
    index = process_index()
    if index is None:
        print(f"error: {message}", file=sys.stderr)
    elif index == 0 or every_process:
        where = f" (process {index})" if every_process else ""
        print(f"error{where}: {message}", file=sys.stderr)
    raise SystemExit(code)


def process_index() -> int | None:
    """This process's index in a multi-process run, None when it is the only one. Asks JAX only if it
    was imported (joining a run imports it), so parsing flags and failing on them start no backend."""
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return None
    return jax.process_index()


def check_output_folder(out: str, flag: str = "out") -> None:
    """Fails with one line (naming ``flag``) unless ``out`` is a folder this process can write into;
    creates it, and the folders above it, when missing. Commands call it before anything compiles, so
    a bad output location never costs a run: ``out`` a file, a file where a folder above it should
    be, or a location that cannot be created or written (permissions, a read-only or full disk)."""
    other = f"choose another --{flag.replace('_', '-')}"
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"{flag}: {out} is a file, not a folder; {other} (a folder for the outputs)")
    if above := _file_above(out):
        fail(f"{flag}: {above} is a file, so the folder {out} cannot be made inside it; {other}")
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a probe, deleted on closing
            pass
    except OSError as err:
        fail(f"{flag}: cannot write into {out} ({err.strerror or err}); {other}")


def check_output_file(path: str, flag: str = "out") -> None:
    """:func:`check_output_folder` for a command that writes one file: ``path`` must not be a folder,
    and its folder must be (or become) one this process can write into."""
    if os.path.isdir(path):
        fail(f"{flag}: {path} is a folder; give the path of a file to write (e.g. {os.path.join(path, 'bench.json')})")
    if above := _file_above(path):
        fail(f"{flag}: {above} is a file, so {path} cannot be written inside it; choose another --{flag}")
    check_output_folder(os.path.dirname(path) or ".", flag)


def _file_above(path: str) -> str | None:
    """The nearest existing path above ``path`` if it is a file (so nothing can be made below it)."""
    above = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(above):
        above = os.path.dirname(above)
    return None if os.path.isdir(above) else above


def claim_output_folder(out: str, overwrite: bool, *, sweep: bool = False, resumable: bool = False) -> None:
    """Refuses an ``--out`` that cannot hold the outputs (:func:`check_output_folder`, which creates
    it) or already holds results, unless ``overwrite``.

    A single run (``scripts/train.py``) looks at ``out`` itself; with ``overwrite`` its metrics
    files and checkpoints are deleted first, so a stale checkpoint can never be resumed. A sweep
    (ablate, reproduce, chain) also looks at the run folders up to two levels below ``out``; with
    ``overwrite`` its files are replaced as they are written and nothing is deleted.
    """
    from pn_jax import checkpoint
    from pn_jax.results import CHECKPOINT_DIR, clear_run, runs_in

    check_output_folder(out)
    found = runs_in(out, depth=2 if sweep else 0)
    if found and not overwrite:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        has_checkpoint = resumable and checkpoint.steps(os.path.join(out, CHECKPOINT_DIR))
        resume = f"continue it from its checkpoint with --resume {out}, " if has_checkpoint else ""
        fail(
            f"out: {out} already holds results ({shown}); "
            f"{resume}pass --overwrite to replace them, or choose another --out"
        )
    if found and not sweep:
        clear_run(out)


def write_or_rescue(write: Callable[[], T], results: Any, out: str) -> T:
    """Runs ``write`` (it writes a command's outputs into ``out``) without losing trained results: if it
    fails (disk full, permissions changed, a figure that cannot be drawn, …), ``results`` are saved as
    JSON beside ``out`` (else in the system's temporary folder) and the one-line error says where."""
    try:
        return write()
    except Exception as err:
        saved = rescue(results, out)
        where = f"the results are saved in {saved}" if saved else "they could not be saved anywhere else either"
        fail(f"out: writing the outputs into {out} failed ({_first_line(err)}); {where}", code=1)
        raise  # unreachable


def rescue(results: Any, out: str) -> str | None:
    """Writes ``results`` to ``<out>-unsaved-<time>.json`` beside ``out``, or in the system's temporary
    folder; returns the file written (None if neither place took it)."""
    import numpy as np

    name = f"{os.path.basename(os.path.abspath(out))}-unsaved-{time.strftime('%Y%m%d-%H%M%S')}.json"
    for folder in (os.path.dirname(os.path.abspath(out)), tempfile.gettempdir()):
        path = os.path.join(folder, name)
        try:
            with open(path, "w") as f:
                json.dump(results, f, indent=1, default=lambda x: np.asarray(x).tolist())
            return path
        except (OSError, TypeError, ValueError):
            with contextlib.suppress(OSError):
                os.remove(path)
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


INTERRUPTED = 130
"""Exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)."""
_PLAIN_NOTE: Callable[[], str] = lambda: "interrupted"
_interrupt_note: list[Callable[[], str]] = [_PLAIN_NOTE]
_exiting = threading.Lock()


def on_interrupt(note: Callable[[], str]) -> None:
    """Sets the one line a Ctrl-C prints from now on (e.g. where the run stopped and how to resume it);
    ``note`` is called then, perhaps from another thread while the main one waits in a compiled program."""
    _interrupt_note[0] = note


def exit_interrupted() -> NoReturn:
    """Prints the Ctrl-C note and ends the process at once with :data:`INTERRUPTED`: a compiled
    program still running is abandoned, not waited for. (Checkpoints are committed by renaming a
    finished folder, so one being written is simply not there; metrics.json likewise.)"""
    with _exiting:  # the main thread and the watcher may both get here: one prints
        try:
            line = _interrupt_note[0]()
        except Exception as err:  # the note is a courtesy: never a traceback instead of the exit
            line = f"interrupted ({_first_line(err)})"
        if not process_index():
            print(("\n" if sys.stderr.isatty() or _bar_shown() else "") + line, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)


def _bar_shown() -> bool:
    """Whether a progress bar is on screen: its line has no newline yet."""
    from tqdm import tqdm

    return any(not bar.disable for bar in list(getattr(tqdm, "_instances", ())))


@contextlib.contextmanager
def interrupts_exit():
    """Within it, Ctrl-C ends the process at once (:func:`exit_interrupted`), even while the main
    thread waits inside a compile or a compiled program, where Python raises ``KeyboardInterrupt``
    only once that returns: a watcher thread wakes on the signal's byte (``signal.set_wakeup_fd``).
    Outside the main thread only a ``KeyboardInterrupt`` that arrives is turned into that exit. On
    leaving, the note set by :func:`on_interrupt` is reset."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)  # (set_wakeup_fd takes only a non-blocking descriptor)
    main = threading.current_thread() is threading.main_thread()  # (only it may set the wakeup fd)
    if main:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=_watch, args=(reader,), name="interrupt-watcher", daemon=True).start()
    try:
        yield
    except KeyboardInterrupt:
        exit_interrupted()
    finally:
        if main:
            signal.set_wakeup_fd(previous)
        writer.close()  # (the watcher reads the end of the stream and returns)
        on_interrupt(_PLAIN_NOTE)  # a later command starts from the plain note


def _watch(reader: socket.socket) -> None:
    while (byte := reader.recv(1)) and byte != bytes([signal.SIGINT]):
        pass
    reader.close()
    if byte:
        exit_interrupted()


def require_distributed_start(run: Any) -> None:
    """Refuses multi-process flags that were parsed but not acted on (joining happens in the
    ``pn-train`` / ``pn-ablate`` entry points, before anything starts JAX's backends), and processes
    that joined with different ``--num-processes`` (JAX reads only process 0's)."""
    import jax
    import numpy as np

    if (run.coordinator is not None or run.distributed) and not jax.distributed.is_initialized():
        fail(
            "coordinator: the multi-process flags take effect only through the pn-train / pn-ablate commands "
            "(or scripts/train.py, scripts/ablate.py); from Python, call jax.distributed.initialize() first"
        )
    if run.coordinator is not None and jax.process_count() > 1:
        from jax.experimental import multihost_utils

        counts = [int(c) for c in multihost_utils.process_allgather(np.int32(run.num_processes))]
        if any(count != jax.process_count() for count in counts):
            fail(
                f"num_processes: the processes were started with --num-processes {counts} (by process id) and "
                f"{jax.process_count()} joined; give every process the same count"
            )


def is_writer() -> bool:
    """Whether this process writes outputs: process 0 of a multi-process run (or the only one)."""
    import jax

    return jax.process_index() == 0


def on_writer(action: Callable[[], T]) -> T | None:
    """Runs ``action`` on process 0 only; when it exits with an error there (:func:`fail`), every
    process exits with the same code and only process 0 prints the message."""
    import jax
    import numpy as np

    if jax.process_count() == 1:
        return action()
    from jax.experimental import multihost_utils

    result, code = None, 0
    if is_writer():
        try:
            result = action()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:  # not to leave the other processes waiting in the broadcast below
            print(f"error: process 0 failed: {sys.exc_info()[1]!r}", file=sys.stderr)
            code = 1
    code = int(multihost_utils.broadcast_one_to_all(np.int32(code)))
    if code:
        raise SystemExit(code)
    return result


def program_name() -> str:
    """How the user called this program: ``pn-train`` for an installed command, else ``argv[0]``
    (e.g. ``scripts/train.py``)."""
    name = os.path.basename(sys.argv[0])
    return name if name.startswith("pn-") else sys.argv[0]


def guarded(build: Callable[[], T]) -> T:
    """Runs ``build`` and turns a configuration ``ValueError`` into a one-line error exit."""
    try:
        return build()
    except ValueError as err:
        fail(str(err))
        raise  # unreachable


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings (the string literal under each field) of a dataclass's source."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = after.value.value.strip()
    return docs
