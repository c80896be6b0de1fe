"""The experiments behind the command-line programs, as functions a notebook calls in-process.

One module per experiment: :mod:`~pn_jax.experiments.reproduce` (sparse tasks × strategies with
exploration diagnostics), :mod:`~pn_jax.experiments.locomotion` (brax locomotion and the
upside-down check), :mod:`~pn_jax.experiments.chain` (DeepSea chains of growing length),
:mod:`~pn_jax.experiments.bench` (throughput measurements) and :mod:`~pn_jax.experiments.ablate`
(hyper-parameter grids). Each takes its configuration (a frozen dataclass from
:mod:`~pn_jax.experiments.configs`, re-exported as ``Config``; ablate's is ``Grid``) and returns
records (metrics.json dicts, NamedTuples, NumPy arrays) and matplotlib figures; none prints or
writes a file: progress lines go to an optional ``log`` callback (e.g. ``print``), and the
commands write the outputs with :mod:`pn_jax.results`.

Example::

    from pn_jax.experiments import chain
    out = chain.run(chain.Config(sizes=(4, 8), num_seeds=2, episodes=100), log=print)
    out.rows, out.figure

Submodules are imported by name (importing this package imports no JAX).
"""
