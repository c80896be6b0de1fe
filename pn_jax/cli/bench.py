"""Throughput of the jitted training loop, as ratios within one process and as scaling sweeps.

Seven measurements, each program compiled once ahead of time and then timed:

* ``compare`` — exploration none (the bare loop) vs gaussian vs param at ``--seeds``, timed in
  interleaved rounds in a rotating order (best round kept), so a busy machine slows all alike;
  ``--algo`` picks the learner: ddpg (default), td3 (the same strategies), dqn (egreedy vs param,
  on CartPole-v1 unless ``--env``) or ppo: gaussian (PPO's own sampling, its baseline) vs param,
  one seed per program (``jit(train)``, as rejax is timed) at each of ``--ppo-envs`` on ``--env``
  and at ``--ppo-brax-envs`` on ``--ppo-brax-env`` (brax extra), ``--ppo-steps`` /
  ``--ppo-brax-steps`` env steps each; ``--rejax FILE`` (from scripts/bench_rejax.py, run in its
  own venv) puts rejax's PPO beside them;
* ``seed sweep`` — aggregate env-steps/s and updates/s for ``--seed-sweep`` vmapped seeds;
* ``population sweep`` — one seed, N perturbed actors for N in ``--population-sweep``, at a fixed
  replay ratio of one learner update per ``--env-steps-per-update`` env steps
  (``updates_per_step = N / env_steps_per_update``), training only (the run's one evaluation is
  timed alone and taken off); beside ``physics`` rows at the same N, the ratio to the physics alone;
* ``evaluation`` — the time of one evaluation (``eval_episodes`` deterministic episodes side by
  side) at the largest of ``--seeds``, against that of the bare param-noise training loop, as the
  share of a run that the default schedule (about 10 evaluations) spends evaluating;
* ``physics`` — a brax env alone under each of ``--physics-backends`` at ``--physics-envs``
  vmapped envs, one device: brax's bare ``step``, and pn_jax's adapter around it (time limit and
  auto-reset from a fresh ``reset`` at every step, which is what training pays);
* ``reset bound`` (brax, opt-in) — the param-noise programs of ``--seeds`` and ``--population-sweep``
  traced a second time with an adapter that never resets, in interleaved rounds: how much of the
  run the every-step auto-reset costs, so the most a cheaper reset could save;
* ``resumable`` — at the largest of ``--seeds``, param noise run the way ``scripts/train.py`` runs
  it (``pn_jax.runner``: one compiled evaluation chunk per call), without and with a checkpoint at
  every evaluation, against the fused ``jit(vmap(train))`` program, in interleaved rounds.

Memory is XLA's static estimate for the compiled program (arguments + outputs + temporaries);
on a GPU the device's peak bytes in use are recorded too.

With no flags only ``compare`` runs (none / gaussian / param at 1 and 8 seeds on Pendulum-v1, two
rounds: about 5 minutes on 2 CPU cores, 6.8 with three rounds on a busy machine); every other
measurement is opt-in, and times DDPG (or TD3) only.

Examples:

- python scripts/bench.py --out runs/bench.json --markdown runs/bench.md
- every measurement of BENCHMARKS.md's first table: python scripts/bench.py --seed-sweep 1 8 32 128
  --population-sweep 1 16 256 1024 --evaluation --resumable --out runs/bench.json --markdown runs/bench.md
- TD3 / DQN: python scripts/bench.py --algo td3 --out runs/bench_td3.json (dqn: --algo dqn, CartPole-v1)
- PPO beside rejax's PPO (first scripts/bench_rejax.py --out runs/rejax.json in rejax's own venv, the same
  day on the same machine; its docstring says how): python scripts/bench.py --algo ppo --rejax runs/rejax.json
  --out runs/bench_ppo.json --markdown runs/bench_ppo.md
- brax (pip install -e ".[brax]"): python scripts/bench.py --env brax/halfcheetah --total-steps 4000
  --eval-every 4000 --seeds 1 8 --explorations none param --population-sweep 64
  --population-steps 64000 --env-steps-per-update 8 --evaluation --out runs/bench_brax.json
  --physics-backends positional generalized spring mjx --evaluation-run-steps 300000
"""

from __future__ import annotations

import dataclasses
import json

from pn_jax.cli.common import check_output_file, guarded, parse, use_compilation_cache, write_or_rescue
from pn_jax.cli.flags import Devices
from pn_jax.experiments.configs import BenchConfig


@dataclasses.dataclass(frozen=True)
class Bench(Devices, BenchConfig):
    compilation_cache: str = "off"
    """folder of JAX's persistent compilation cache (default off, so compile times are cold compiles)."""
    out: str = "runs/bench.json"
    """JSON output path."""
    markdown: str = ""
    """also write the tables as Markdown to this path."""
    rejax: str = ""
    """with --algo ppo: a JSON file written by scripts/bench_rejax.py (rejax's PPO, in its own venv, the same
    day on the same machine); its rows join the table, with the ratios of our PPO to rejax's at the same N."""


REJAX_ROW_KEYS = ("sweep", "algo", "env", "exploration", "num_envs", "num_seeds", "env_steps_per_second")
"""What every row of a --rejax file must hold."""


def load_rejax(path: str, algo: str) -> dict:
    """The record scripts/bench_rejax.py wrote to ``path``, checked.

    Raises:
      ValueError: one line naming what is wrong (not PPO, no such file, not its JSON).
    """
    if algo != "ppo":
        raise ValueError(f"rejax: rejax's rows go beside PPO's: use --algo ppo (not {algo}) or drop --rejax")
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"rejax: cannot read {path}: {error}") from None
    rows = record.get("results") if isinstance(record, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(REJAX_ROW_KEYS) <= set(r) for r in rows):
        raise ValueError(
            f"rejax: {path} is not a record of scripts/bench_rejax.py (a 'results' list of rows with "
            f"{', '.join(REJAX_ROW_KEYS)})"
        )
    return record


def main(bench: Bench) -> None:
    from pn_jax import parallel
    from pn_jax.experiments import bench as measure

    use_compilation_cache(bench.compilation_cache)
    guarded(lambda: measure.validate(bench))
    rejax = guarded(lambda: load_rejax(bench.rejax, bench.algo)) if bench.rejax else None
    guarded(lambda: parallel.select_devices(bench.devices))
    check_output_file(bench.out, "out")
    if bench.markdown:
        check_output_file(bench.markdown, "markdown")
    record = measure.run(bench, devices=bench.devices, log=lambda line: print(line, flush=True))
    if rejax is not None:
        source = {k: rejax.get(k) for k in ("rejax_version", "jax_version", "device", "date", "command")}
        record = measure.with_rows(record, rejax["results"], rejax=source)
    print("\n".join(record["ratios"]))
    write_or_rescue(lambda: write(record, bench), record, bench.out)
    print(f"wrote {bench.out}")


def write(record: dict, bench: Bench) -> None:
    """Writes ``record`` to ``--out`` (JSON) and its table to ``--markdown`` if given."""
    from pn_jax.experiments import bench as measure

    with open(bench.out, "w") as f:
        json.dump(record, f, indent=1)
    if bench.markdown:
        with open(bench.markdown, "w") as f:
            f.write(measure.markdown(record))


def cli(argv: list[str] | None = None) -> None:
    main(parse(Bench, argv, (Bench,), __doc__))
