"""``python scripts/onpolicy.py ...``: the ``pn-onpolicy`` command (:mod:`pn_jax.cli.onpolicy`)."""

from pn_jax.cli import pn_onpolicy

if __name__ == "__main__":
    pn_onpolicy()
