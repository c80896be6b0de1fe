"""Run under ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` with the tiny config as JSON in
``argv[1]``: trains it for 6 seeds (padded to 8) sharded over 8 CPU devices, over 6 of them, and
unsharded, and prints a JSON report."""

from __future__ import annotations

import json
import sys

import jax
import numpy as np

from pn_jax import DDPGConfig, make_train, parallel


def main() -> None:
    tiny = json.loads(sys.argv[1])
    train = make_train(
        DDPGConfig(
            **{
                **tiny,
                "hidden_sizes": tuple(tiny["hidden_sizes"]),
                "num_envs": 2,
                "total_steps": 400,
                "eval_every": 200,
                "sigma_spread": 4.0,
                "coverage_steps": 300,
            }
        )
    )
    keys = jax.random.split(jax.random.key(0), 6)
    _, plain = jax.jit(jax.vmap(train))(keys)

    mesh = parallel.batch_mesh(parallel.select_devices("all"))
    run = parallel.sharded_vmap(train, mesh)
    padded = parallel.prepare((keys,), mesh)
    _, full = run.jitted(*padded)
    _, sharded = run(keys)
    _, on_six = parallel.sharded_vmap(train, parallel.batch_mesh(jax.devices()[:6]))(keys)
    report = {
        "num_devices": len(jax.devices()),
        "padded_batch": int(padded[0].shape[0]),
        "output_devices": len(full.eval_return.sharding.device_set),
        "same_bits_on_6_devices": all(
            np.array_equal(a, b, equal_nan=True)
            for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(on_six), strict=True)
        ),
        "shapes_equal": all(
            np.shape(a) == np.shape(b) for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(sharded), strict=True)
        ),
        "max_abs_diff": {},
        "max_rel_diff": {},
    }
    fields = {name: (getattr(plain, name), getattr(sharded, name)) for name in plain._fields if name != "nonfinite"}
    for name in plain.nonfinite._fields:
        fields[f"nonfinite_{name}"] = (getattr(plain.nonfinite, name), getattr(sharded.nonfinite, name))
    for name, (a, b) in fields.items():
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
        a, b = np.nan_to_num(a), np.nan_to_num(b)
        abs_diff, rel_diff = np.abs(a - b), np.abs(a - b) / (np.abs(a) + 1e-6)
        report["max_abs_diff"][name] = float(np.max(abs_diff, initial=0.0)) if same_nan else float("inf")
        report["max_rel_diff"][name] = float(np.max(rel_diff, initial=0.0)) if same_nan else float("inf")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
