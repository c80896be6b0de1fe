"""``python scripts/ablate.py ...``: the ``pn-ablate`` command (:mod:`pn_jax.cli.ablate`)."""

from pn_jax.cli import pn_ablate

if __name__ == "__main__":
    pn_ablate()
