"""Throughput of the jitted training loop, as ratios within one process and as scaling sweeps.

Seven measurements, each program compiled once ahead of time and then timed:

* ``compare`` — exploration none (the bare loop) vs gaussian vs param at ``--seeds``, timed in
  interleaved rounds in a rotating order (best round kept), so a busy machine slows all alike;
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
measurement is opt-in.

Examples:

- python scripts/bench.py --out runs/bench.json --markdown runs/bench.md
- every measurement of BENCHMARKS.md's first table: python scripts/bench.py --seed-sweep 1 8 32 128
  --population-sweep 1 16 256 1024 --evaluation --resumable --out runs/bench.json --markdown runs/bench.md
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


def main(bench: Bench) -> None:
    from pn_jax import parallel
    from pn_jax.experiments import bench as measure

    use_compilation_cache(bench.compilation_cache)
    guarded(lambda: measure.validate(bench))
    guarded(lambda: parallel.select_devices(bench.devices))
    check_output_file(bench.out, "out")
    if bench.markdown:
        check_output_file(bench.markdown, "markdown")
    record = measure.run(bench, devices=bench.devices, log=lambda line: print(line, flush=True))
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
