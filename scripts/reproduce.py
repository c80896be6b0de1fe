"""``python scripts/reproduce.py ...``: the ``pn-reproduce`` command (:mod:`pn_jax.cli.reproduce`)."""

from pn_jax.cli import pn_reproduce

if __name__ == "__main__":
    pn_reproduce()
