"""``python scripts/train.py ...``: the ``pn-train`` command (:mod:`pn_jax.cli.train`)."""

from pn_jax.cli import pn_train

if __name__ == "__main__":
    pn_train()
