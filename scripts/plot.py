"""``python scripts/plot.py ...``: the ``pn-plot`` command (:mod:`pn_jax.cli.plot`)."""

from pn_jax.cli import pn_plot

if __name__ == "__main__":
    pn_plot()
