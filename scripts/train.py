"""Train DDPG (or DQN) with parameter-space or action-space noise for many seeds in one jitted call.

Example: python scripts/train.py --env Pendulum-v1 --exploration param --num-seeds 8 --total-steps 20000
--out runs/pendulum. Writes metrics.json, metrics.csv and returns.png into --out.
DQN: python scripts/train.py --algo dqn --env CartPole-v1 --exploration param --out runs/cartpole.
"""

from __future__ import annotations

import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tyro  # noqa: E402
from _cli import fail, guarded, run_record, seed_keys, train_sharded  # noqa: E402

from pn_jax import DDPGConfig, DQNConfig, parallel  # noqa: E402
from pn_jax.results import check_finite, save_run, summarize  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Run:
    """Run-level flags (the rest are :class:`pn_jax.DDPGConfig` fields)."""

    num_seeds: int = 8
    """seeds trained together in one jit(vmap(train)); seed k uses jax.random.key(seed + k)."""
    seed: int = 0
    """first seed."""
    out: str = "runs/pendulum"
    """output folder for metrics.json, metrics.csv and returns.png."""
    progress: bool = True
    """show a progress bar (updated at evaluation points only)."""
    devices: str = "all"
    """devices to spread the seeds over: 'all' or a count (seeds are padded to a multiple)."""


def main(config: DDPGConfig, run: Run) -> dict:
    if run.num_seeds <= 0:
        fail(f"num_seeds: must be a positive integer, got {run.num_seeds}")
    mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(run.devices, run.num_seeds)))
    seeds = list(range(run.seed, run.seed + run.num_seeds))
    metrics, compile_seconds, run_seconds = train_sharded(config, (seed_keys(seeds),), mesh, run.progress, config.env)

    record = run_record(config, metrics, seeds, mesh, compile_seconds, run_seconds)
    paths = save_run(record, run.out)
    print(summarize(record))
    print(
        f"compile {compile_seconds:.1f} s, run {run_seconds:.1f} s, "
        f"{record['env_steps_per_second']:.0f} env-steps/s ({record['device']}); wrote {paths['metrics.json']}"
    )
    try:
        check_finite(metrics, seeds)
    except FloatingPointError as err:
        fail(str(err), code=1)
    return record


DEFAULT_CONFIG, DEFAULT_DQN_CONFIG, DEFAULT_RUN = DDPGConfig(), DQNConfig(), Run()
ALGOS = {"ddpg": DDPGConfig, "dqn": DQNConfig}


def _parse(config: DDPGConfig = DEFAULT_CONFIG, run: Run = DEFAULT_RUN) -> tuple[DDPGConfig, Run]:
    return config, run


def _parse_dqn(config: DQNConfig = DEFAULT_DQN_CONFIG, run: Run = DEFAULT_RUN) -> tuple[DQNConfig, Run]:
    return config, run


def split_algo(argv: list[str]) -> tuple[str, list[str]]:
    """Takes ``--algo NAME`` (default ddpg) out of ``argv``; the rest are the config's and run's flags."""
    argv = list(argv)
    algo = "ddpg"
    for i, arg in enumerate(argv):
        if arg == "--algo" or arg.startswith("--algo="):
            value = arg.partition("=")[2] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
            del argv[i : i + (1 if "=" in arg else 2)]
            algo = value
            break
    if algo not in ALGOS:
        fail(f"algo: unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    return algo, argv


def cli(argv: list[str] | None = None) -> None:
    algo, args = split_algo(sys.argv[1:] if argv is None else argv)
    description = f"{__doc__}\n--algo {{ddpg,dqn}} picks the learner (default ddpg); these are the {algo} flags."
    config, run = guarded(
        lambda: tyro.cli(
            _parse_dqn if algo == "dqn" else _parse,
            args=args,
            config=(tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff),
            description=description,
        )
    )
    main(config, run)


if __name__ == "__main__":
    cli()
