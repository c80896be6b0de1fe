"""``python scripts/bench.py ...``: the ``pn-bench`` command (:mod:`pn_jax.cli.bench`)."""

from pn_jax.cli import pn_bench

if __name__ == "__main__":
    pn_bench()
