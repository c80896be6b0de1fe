"""The chain experiment: DQN with parameter noise vs ε-greedy on DeepSea chains of growing length.

A DeepSea chain of length N pays +1 only after going right N times in a row, so undirected dithering
finds it with probability about 2^-N per episode. --action-map fixed trains on DeepSea-<N>, where
"right" is action 1 in every cell (so a policy that prefers action 1 everywhere solves it);
--action-map random on bsuite's randomised map, a different one per seed: seed k trains and is
evaluated on DeepSeaRandom-<N>-<k>. A fixed map gives one jitted program per N and strategy with
the seeds vmapped; a random map one program per seed. Each seed trains for --episodes episodes
(N·episodes env steps) and *solves* the chain when its final greedy evaluation earns the +1.

Example: python scripts/chain.py --sizes 8 16 24 32 48 --num-seeds 5 --out runs/chain
Writes <N>/<exploration>/metrics.json, summary.md, summary.csv and chain.png into --out.
"""

from __future__ import annotations

import dataclasses
import functools
import os

from pn_jax.cli.common import claim_output_folder, guarded, parse, use_compilation_cache, write_or_rescue
from pn_jax.cli.flags import Output
from pn_jax.experiments.configs import ChainConfig


@dataclasses.dataclass(frozen=True)
class Chain(Output, ChainConfig):
    """Chain lengths, strategies, seeds and budget."""

    out: str = "runs/chain"


def main(args: Chain) -> list[dict]:
    from pn_jax import parallel
    from pn_jax.experiments import chain
    from pn_jax.results import write_record

    use_compilation_cache(args.compilation_cache)
    guarded(lambda: chain.validate(args))
    guarded(lambda: parallel.select_devices(args.devices))
    claim_output_folder(args.out, args.overwrite, sweep=True)
    rows = []
    for record, row in chain.train_chains(args, devices=args.devices, progress=args.progress, log=print):
        folder = os.path.join(args.out, str(row["size"]), row["exploration"])
        write_or_rescue(functools.partial(write_record, record, folder), record, folder)
        rows.append(row)
    write_or_rescue(functools.partial(write_outputs, rows, args), rows, args.out)
    return rows


def write_outputs(rows: list[dict], args: Chain) -> None:
    """summary.csv, summary.md and chain.png (fraction of seeds solving against N); prints the summary."""
    from pn_jax.experiments import chain
    from pn_jax.results import write_rows_csv

    os.makedirs(args.out, exist_ok=True)
    write_rows_csv(rows, os.path.join(args.out, "summary.csv"))
    text = chain.markdown(rows, args)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text)
    print(text, end="")
    chain.solved_figure(rows, args).savefig(os.path.join(args.out, "chain.png"))


def cli(argv: list[str] | None = None) -> None:
    main(parse(Chain, argv, (Chain,), __doc__))
