"""``python scripts/locomotion.py ...``: the ``pn-locomotion`` command (:mod:`pn_jax.cli.locomotion`)."""

from pn_jax.cli import pn_locomotion

if __name__ == "__main__":
    pn_locomotion()
