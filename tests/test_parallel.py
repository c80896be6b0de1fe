"""Device sharding of the seed / grid axis: device selection, padding, sharded == unsharded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from pn_jax import parallel


def test_select_devices_all_and_counts():
    assert parallel.select_devices("all") == jax.devices()
    assert parallel.select_devices(None) == jax.devices()
    assert parallel.select_devices("1") == jax.devices()[:1]
    assert len(parallel.select_devices("all", batch=7)) in {d for d in range(1, 8) if 7 % d == 0}


@pytest.mark.parametrize("spec", ["0", "-1", "two", "1.5", "", True])
def test_select_devices_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="^devices: must be 'all' or a positive integer"):
        parallel.select_devices(spec)


def test_select_devices_rejects_more_than_available():
    with pytest.raises(ValueError, match="^devices: asked for 1000"):
        parallel.select_devices(1000)


def test_padding_repeats_the_last_element_up_to_a_multiple():
    assert [parallel.padded_size(b, 8) for b in (1, 8, 9, 16)] == [8, 8, 16, 16]
    keys = jax.random.split(jax.random.key(1), 3)
    padded = parallel.pad_batch({"k": keys, "x": jnp.arange(3.0)}, 5)
    assert padded["x"].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]
    np.testing.assert_array_equal(jax.random.key_data(padded["k"][4]), jax.random.key_data(keys[2]))


def test_sharded_vmap_on_one_device_matches_jit_vmap():
    fn = lambda key, scale: scale * jax.random.normal(key, (4,))
    keys, scales = jax.random.split(jax.random.key(0), 3), jnp.arange(3.0)
    run = parallel.sharded_vmap(fn, parallel.batch_mesh(jax.devices()[:1]))
    np.testing.assert_array_equal(run(keys, scales), jax.jit(jax.vmap(fn))(keys, scales))


def test_sharded_over_8_cpu_devices_equals_unsharded(root):
    """A separate process with 8 fake CPU devices: 6 seeds (padded to 8), 2 envs each."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    script = os.path.join(root, "tests", "helpers", "sharded_vs_unsharded.py")
    done = subprocess.run(
        [sys.executable, script, json.dumps(TINY)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["num_devices"] == 8 and report["padded_batch"] == 8 and report["output_devices"] == 8
    assert report["all_fitted_to_batch"] == [6, 6, 7, 8, 3]  # largest device count dividing the batch
    assert report["shapes_equal"]
    # Same keys, same program per seed; only XLA's batch-size-dependent float rounding may differ
    # (the same tolerance as vmapped seed k vs the lone run with key k).
    for name, diff in report["max_rel_diff"].items():
        assert diff <= 1e-5, (name, report)
    for name in ("eval_step", "log_step", "nonfinite_loss", "nonfinite_params", "nonfinite_exploration", "sigma"):
        assert report["max_abs_diff"][name] == 0.0, name
