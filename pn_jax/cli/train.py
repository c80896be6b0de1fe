"""Train DDPG, TD3, DQN or PPO with parameter-space or action-space noise for many seeds in one jitted program.

Example: python scripts/train.py --env Pendulum-v1 --exploration param --num-seeds 8 --total-steps 20000
--out runs/pendulum writes metrics.json, metrics.csv and returns.png into runs/pendulum.

- DQN: python scripts/train.py --algo dqn --env CartPole-v1 --exploration param --out runs/cartpole
- TD3 on brax (pip install -e ".[brax]"): python scripts/train.py --algo td3 --env brax/halfcheetah
- Your own environment: --env my_package.my_module:make_env (the callable returns the env, or env and params)
- Checkpoints: --checkpoint-every 5000 keeps OUT/checkpoints; after a crash or pre-emption,
  python scripts/train.py --resume OUT continues with exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable
from typing import Annotated, Literal

import tyro

import pn_jax
from pn_jax.cli.common import (
    check_output_folder,
    claim_output_folder,
    compile_note,
    fail,
    folder_name,
    guarded,
    is_writer,
    on_interrupt,
    on_writer,
    parse,
    program_name,
    require_distributed_start,
    use_compilation_cache,
    write_or_rescue,
)
from pn_jax.cli.flags import Output
from pn_jax.config import CONFIGS, PRESETS, DDPGConfig, DQNConfig, fit_checkpoint_every, preset

AlgoName = Literal[tuple(CONFIGS)]
PresetName = Annotated[
    Literal[tuple(PRESETS)] | None, tyro.conf.arg(metavar="{" + ",".join(PRESETS) + "}", help_behavior_hint="")
]
OptionalDir = Annotated[str | None, tyro.conf.arg(metavar="DIR", help_behavior_hint="")]


@dataclasses.dataclass(frozen=True)
class Run(Output):
    """Run-level flags (the others are fields of the learner's config: DDPGConfig, TD3Config, DQNConfig, PPOConfig)."""

    out: OptionalDir = None
    """output folder for metrics.json, metrics.csv, returns.png and checkpoints/ (an existing run there is
    refused; default: runs/ALGO-ENV, e.g. runs/ddpg-pendulum-v1)."""
    overwrite: bool = False
    """replace the outputs and checkpoints of a run already in --out instead of refusing."""
    progress: bool = True
    """show a progress bar (updated at evaluation points only)."""
    algo: AlgoName = "ddpg"
    """the learner; the config flags above are its own (--algo dqn --help lists DQN's)."""
    preset: PresetName = None
    """start every learner flag at a named setting (described above); flags given override it."""
    num_seeds: int = 8
    """seeds trained together in one jit(vmap(train)); seed k uses jax.random.key(seed + k)."""
    seed: int = 0
    """first seed."""
    checkpoint_every: int = 0
    """env steps between checkpoints in OUT/checkpoints, a multiple of eval_every (0: none; the last two are kept;
    an eval_every left out is chosen to divide it)."""
    resume: OptionalDir = None
    """continue the run in this folder from its latest checkpoint, with its config and seeds (a finished run
    is left as it is)."""
    coordinator: Annotated[str | None, tyro.conf.arg(metavar="HOST:PORT", help_behavior_hint="")] = None
    """HOST:PORT of process 0, to train one run over several processes (with --num-processes and
    --process-id; every process gets the same other flags, and only process 0 writes)."""
    num_processes: int = 1
    """processes in a multi-process run."""
    process_id: int = 0
    """this process's rank in a multi-process run, 0 … num_processes − 1."""
    distributed: bool = False
    """join a multi-process run that JAX detects by itself (e.g. under SLURM), instead of --coordinator."""
    join_timeout: int = 120
    """seconds a process waits for every other to join before it stops with an error."""


def main(config: DDPGConfig | DQNConfig, run: Run, saved: dict | None = None) -> dict:
    """Trains, writes the outputs, and returns the metrics.json record.

    ``saved`` is the run description stored with the checkpoints of ``run.resume`` (read if None).
    Resuming a finished run (its last checkpoint at total_steps, its outputs written) trains and
    writes nothing, and returns its metrics.json record.
    """
    import jax

    from pn_jax import parallel, runner
    from pn_jax.experiments.common import device_name, run_record, seed_keys
    from pn_jax.progress import EvalProgress
    from pn_jax.results import CHECKPOINT_DIR, save_run, summarize
    from pn_jax.train import build_env

    if run.num_seeds <= 0:
        fail(f"num_seeds: must be a positive integer, got {run.num_seeds}")
    require_distributed_start(run)
    use_compilation_cache(run.compilation_cache)
    if run.resume:
        config, run, seeds = _resumed(config, run, saved)
    else:
        seeds = list(range(run.seed, run.seed + run.num_seeds))
        run = dataclasses.replace(run, out=run.out or default_out(config))
    config = guarded(lambda: fit_checkpoint_every(config, run.checkpoint_every))
    guarded(lambda: runner.validate_checkpoint_every(run.checkpoint_every, config))
    guarded(lambda: build_env(config))  # an unknown name, or your own env's interface, fails here in one line
    if run.resume and (record := _finished(config, run.out)) is not None:
        if is_writer():
            print(f"{run.out} is complete ({config.total_steps} env steps); nothing to do")
        return record
    mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(run.devices)))
    if not run.resume:  # every flag is valid: only now may an existing run be refused or cleared
        on_writer(lambda: claim_output_folder(run.out, run.overwrite, resumable=True))
    else:  # its checkpoints and outputs will be written there
        on_writer(lambda: check_output_folder(run.out, "resume"))
    algo = config.algo
    meta = {
        "algo": algo,
        "config": dataclasses.asdict(config),
        "seeds": seeds,
        "checkpoint_every": run.checkpoint_every,
        "pn_jax_version": pn_jax.__version__,
        "device": device_name(mesh.size),
        "num_processes": jax.process_count(),
    }
    if is_writer():
        print(compile_note(config.env), flush=True)
    progress = EvalProgress(
        config.total_steps,
        len(seeds),
        desc=config.env,
        disable=not run.progress or not is_writer(),
    )
    on_interrupt(lambda: interrupted_note(config, run, progress.step))
    with warnings.catch_warnings():  # checkpoint.ResumeWarning: one line, when it happens
        warnings.showwarning = functools.partial(_warning_line, warnings.showwarning)
        result = _resumable(
            lambda: runner.run(
                config,
                seed_keys(seeds),
                mesh=mesh,
                checkpoint_dir=os.path.join(run.out, CHECKPOINT_DIR),
                checkpoint_every=run.checkpoint_every,
                resume=bool(run.resume),
                meta=meta,
                seeds=seeds,
                progress_fn=progress,
                on_start=progress.start,
            )
        )
    progress.close()

    record = run_record(config, result.metrics, seeds, mesh, result.compile_seconds, result.run_seconds)
    if result.nonfinite:
        record["stopped"] = {"step": result.steps, "reason": result.nonfinite}
    if not is_writer():  # process 0 writes and reports for every process
        if result.nonfinite:
            raise SystemExit(1)
        return record
    paths = write_or_rescue(lambda: save_run(record, run.out), record, run.out)
    print(summarize(record))
    rate = record["env_steps_per_second"]
    print(
        f"compile {result.compile_seconds:.1f} s, run {result.run_seconds:.1f} s, "
        f"{'–' if rate is None else f'{rate:.0f}'} env-steps/s over all {len(seeds)} seeds ({record['device']}); "
        f"wrote {paths['metrics.json']}"
    )
    if result.nonfinite:
        kept = (
            f"the last good checkpoint is {result.checkpoint} (continue with --resume {run.out})"
            if result.checkpoint
            else (
                "no checkpoint was kept (--checkpoint-every 0)"
                if not run.checkpoint_every
                else "no checkpoint had been written before it"
            )
        )
        fail(f"{result.nonfinite}; the run stopped after env step {result.steps}, and {kept}", code=1)
    return record


def _finished(config: DDPGConfig | DQNConfig, out: str) -> dict | None:
    """The metrics.json record of the run in ``out`` if it is finished: its latest checkpoint is at
    total_steps and all its outputs were written (None otherwise, e.g. when writing them failed)."""
    from pn_jax import checkpoint
    from pn_jax.results import CHECKPOINT_DIR, RUN_FILES

    written = all(os.path.isfile(os.path.join(out, name)) for name in RUN_FILES)
    if not written or checkpoint.steps(os.path.join(out, CHECKPOINT_DIR))[-1:] != [config.total_steps]:
        return None
    try:
        with open(os.path.join(out, "metrics.json")) as f:
            return json.load(f)
    except (OSError, ValueError):  # unreadable: written again from the checkpoint
        return None


def interrupted_note(config: DDPGConfig | DQNConfig, run: Run, step: int) -> str:
    """The line a Ctrl-C prints: where the run stopped (``step``: the last evaluation passed) and,
    with checkpoints, how to resume it."""
    import jax

    from pn_jax import checkpoint
    from pn_jax.results import CHECKPOINT_DIR

    steps = checkpoint.steps(os.path.join(run.out, CHECKPOINT_DIR)) if run.checkpoint_every else []
    where = f"interrupted at env step {max([step, *steps])} of {config.total_steps}"
    if not run.checkpoint_every:
        return f"{where}; nothing was saved (--checkpoint-every keeps checkpoints to resume from)"
    if not steps:
        return f"{where}, before the first checkpoint (every {run.checkpoint_every} steps); nothing was saved"
    name = program_name()
    command = f"{name if name.startswith('pn-') else f'python {name}'} --resume {shlex.quote(run.out)}"
    if jax.process_count() > 1:
        command += " (in every process, with its multi-process flags)"
    return f"{where}; the latest checkpoint is at step {steps[-1]}; resume with: {command}"


def _warning_line(show: Callable, message, category, filename, lineno, file=None, line=None) -> None:
    """Shows a :class:`checkpoint.ResumeWarning` as one ``warning: ...`` line on stderr, from process 0;
    ``show`` shows any other warning (e.g. JAX's) as before."""
    from tqdm.auto import tqdm

    from pn_jax import checkpoint

    if not issubclass(category, checkpoint.ResumeWarning):
        show(message, category, filename, lineno, file, line)
    elif is_writer():  # (tqdm.write: on a line of its own, above a progress bar)
        tqdm.write(f"warning: {message}", file=sys.stderr)


def _resumable(train):
    """Runs ``train``, turning a checkpoint problem (missing, corrupt, another run's) into an error exit."""
    from pn_jax import checkpoint

    try:
        return train()
    except checkpoint.CheckpointError as err:
        fail(f"resume: {err}")


def _resumed(config: DDPGConfig | DQNConfig, run: Run, saved: dict | None) -> tuple:
    """The config, run flags and seeds of the run in ``run.resume``, checked against the flags given
    (``config`` was parsed with the saved config as its defaults, so any difference was asked for)."""
    import jax

    if run.overwrite:
        fail("overwrite: cannot be combined with --resume (resuming keeps the run)")
    saved = saved if saved is not None else guarded(lambda: _read_saved(run.resume))
    saved_config = guarded(lambda: config_from_saved(saved, run.resume))  # also checks seeds and cadence
    for field in dataclasses.fields(config):
        given, kept = getattr(config, field.name), getattr(saved_config, field.name)
        if given != kept:
            fail(
                f"{field.name}: the run in {run.resume} has {kept!r}; a resumed run keeps its config, so drop this flag"
            )
    processes = saved.get("num_processes", 1)
    if processes != jax.process_count():
        fail(
            f"resume: the run in {run.resume} was trained by {processes} process(es) and this is "
            f"{jax.process_count()}; resume it with the same --num-processes"
        )
    seeds = [int(s) for s in saved["seeds"]]
    for name, given, kept in (("num_seeds", run.num_seeds, len(seeds)), ("seed", run.seed, seeds[0])):
        if given != getattr(DEFAULT_RUN, name) and given != kept:
            fail(f"{name}: the run in {run.resume} has {kept}; a resumed run keeps its seeds, so drop this flag")
    if run.out is not None and os.path.abspath(run.out) != os.path.abspath(run.resume):
        fail(f"out: a resumed run writes into its own folder ({run.resume}); drop --out")
    every = run.checkpoint_every or int(saved.get("checkpoint_every", 0))
    return saved_config, dataclasses.replace(run, out=run.resume, checkpoint_every=every), seeds


def _read_saved(out: str) -> dict:
    """The run description stored with the latest checkpoint in ``out``."""
    from pn_jax import checkpoint
    from pn_jax.results import CHECKPOINT_DIR

    try:
        return checkpoint.read_meta(os.path.join(out, CHECKPOINT_DIR))
    except checkpoint.CheckpointError as err:
        raise ValueError(f"resume: {err}") from None


def config_from_saved(saved: dict, where: str) -> DDPGConfig | DQNConfig:
    """The validated config stored with a run's checkpoints (``ValueError`` naming ``resume`` if unusable)."""
    algo, config, seeds = saved.get("algo"), saved.get("config"), saved.get("seeds")
    if not isinstance(algo, str) or algo not in ALGOS or not isinstance(config, dict):
        raise ValueError(f"resume: the checkpoints in {where} name no usable algorithm and config")
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ValueError(f"resume: the checkpoints in {where} hold no usable list of seeds")
    every = saved.get("checkpoint_every", 0)
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise ValueError(f"resume: the checkpoints in {where} hold an unusable checkpoint_every ({every!r})")
    try:
        return ALGOS[algo](**config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"resume: the config stored in {where} is unusable: {err}") from None


DEFAULT_RUN = Run()


def default_out(config: DDPGConfig | DQNConfig) -> str:
    """``runs/<algo>-<env>``, lower case, ``/`` as ``-``: e.g. ``runs/td3-brax-halfcheetah``."""
    return os.path.join("runs", folder_name(f"{config.algo}-{config.env}".lower().replace("/", "-")))


ALGOS = CONFIGS  # the config class of each --algo name


def preset_help() -> str:
    """The presets, what each sets and what differs from its source, for ``--help``."""
    lines = ["Presets (--preset NAME starts every learner flag at a named setting; flags given override it):"]
    for name, chosen in PRESETS.items():
        lines.append(f"- {name} ({chosen.algo}): {chosen.summary}. Differs: {chosen.differs}.")
    return "\n".join(lines)


def defaults_for(algo: str | None, preset_name: str | None) -> DDPGConfig | DQNConfig:
    """The flag defaults: the preset's values for ``algo`` (default: the preset's learner), else the
    learner's own defaults; derived fields left to derive from the flags given."""
    if preset_name is None:
        return ALGOS[algo or "ddpg"]().cli_defaults()
    return guarded(lambda: preset(preset_name, algo)).cli_defaults()


def _parser(config: DDPGConfig | DQNConfig, run: Run = DEFAULT_RUN) -> Callable:
    """A tyro entry point whose flags default to ``config``'s and ``run``'s values."""

    def parse(config=config, run=run):
        return config, run

    parse.__annotations__ = {"config": type(config), "run": Run}
    return parse


def take_flag(argv: list[str], flag: str, remove: bool) -> tuple[str | None, list[str]]:
    """The value of ``flag VALUE`` or ``flag=VALUE`` in ``argv`` (None if absent), and ``argv``
    without it when ``remove``."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == flag or arg.startswith(flag + "="):
            inline = "=" in arg
            value = arg.partition("=")[2] if inline else (argv[i + 1] if i + 1 < len(argv) else "")
            if remove:
                del argv[i : i + (1 if inline else 2)]
            return value, argv
    return None, argv


def split_algo(argv: list[str]) -> tuple[str | None, list[str]]:
    """Takes ``--algo NAME`` out of ``argv`` (None if absent); the rest are the config's and run's flags."""
    algo, argv = take_flag(argv, "--algo", remove=True)
    if algo is not None and algo not in ALGOS:
        fail(f"algo: unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    return algo, argv


def cli(argv: list[str] | None = None) -> None:
    algo, args = split_algo(sys.argv[1:] if argv is None else argv)
    preset_name, args = take_flag(args, "--preset", remove=True)
    if preset_name is not None and (not preset_name or preset_name.startswith("-")):
        fail(f"preset: --preset needs a name: {' or '.join(PRESETS)}")
    for flag in ("--algo", "--preset"):
        if take_flag(args, flag, remove=False)[0] is not None:
            fail(f"{flag[2:]}: given twice; give it once")
    resume, _ = take_flag(args, "--resume", remove=False)
    if preset_name is not None and resume is not None:
        fail("preset: a resumed run keeps the config it was started with; drop --preset when resuming")
    saved = None
    if resume is not None:
        try:  # (each process reads its own copy: the folder must be on a filesystem they share)
            saved = _read_saved(resume)
        except ValueError as err:
            fail(str(err), every_process=True)
        if algo is not None and algo != saved.get("algo"):  # (a str, or None when --algo is absent)
            fail(f"algo: the run in {resume} is {saved.get('algo')!r}; drop --algo when resuming")
        algo = saved.get("algo")
        if not isinstance(algo, str) or algo not in ALGOS:
            fail(f"resume: the checkpoints in {resume} name no known algorithm ({algo!r})")
    defaults = guarded(lambda: config_from_saved(saved, resume)) if saved else defaults_for(algo, preset_name)
    algo = defaults.algo
    chosen = f" with the {preset_name} preset's defaults" if preset_name else ""
    description = f"{__doc__}\nThese are the {algo} flags{chosen}.\n\n{preset_help()}"
    prog = program_name() + ("" if algo == "ddpg" else f" --algo {algo}")
    shown = dataclasses.replace(DEFAULT_RUN, algo=algo, preset=preset_name)  # (already taken out of args)
    config, run = parse(
        _parser(defaults, shown),
        args,
        (type(defaults), Run),
        description,
        config=(tyro.conf.OmitArgPrefixes,),
        prog=prog,
    )
    main(config, run, saved)
