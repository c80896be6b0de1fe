"""``python scripts/chain.py ...``: the ``pn-chain`` command (:mod:`pn_jax.cli.chain`)."""

from pn_jax.cli import pn_chain

if __name__ == "__main__":
    pn_chain()
