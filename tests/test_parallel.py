"""Device sharding of the seed / grid axis: device selection, padding, sharded == unsharded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

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


def test_a_count_over_several_processes_takes_as_many_devices_from_each(monkeypatch):
    """Every process must hold a slice of the mesh (one without any cannot take part in the run)."""

    def fake(counts):  # devices of processes 0, 1, … in jax.devices() order
        devices = [SimpleNamespace(process_index=p, platform="cpu") for p, n in enumerate(counts) for _ in range(n)]
        monkeypatch.setattr(jax, "devices", lambda: devices)
        return devices

    devices = fake([2, 2])
    assert parallel.select_devices("all") == devices
    assert parallel.select_devices(2) == [devices[0], devices[2]]
    assert parallel.select_devices(4) == devices
    with pytest.raises(ValueError, match=r"^devices: a run over 2 processes takes the same number of devices from "):
        parallel.select_devices(3)
    devices = fake([3, 1])
    with pytest.raises(ValueError, match=r"^devices: 4 over 2 processes is 2 per process, but process 1 has only 1; "):
        parallel.select_devices(4)
    assert parallel.select_devices(2) == [devices[0], devices[3]]


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
    """A separate process with 8 fake CPU devices: 6 seeds (padded to 8), 2 envs each; and on 6 of them."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    script = os.path.join(root, "tests", "helpers", "sharded_vs_unsharded.py")
    done = subprocess.run(
        [sys.executable, script, json.dumps(TINY)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["num_devices"] == 8 and report["padded_batch"] == 8 and report["output_devices"] == 8
    assert report["shapes_equal"]
    # One seed per device on 8 devices (2 of them padding) and on 6: the same per-device program, the same bits.
    assert report["same_bits_on_6_devices"]
    # Same keys, same program per seed; only XLA's batch-size-dependent float rounding may differ
    # (the same tolerance as vmapped seed k vs the lone run with key k).
    for name, diff in report["max_rel_diff"].items():
        assert diff <= 1e-5, (name, report)
    for name in ("eval_step", "log_step", "nonfinite_loss", "nonfinite_params", "nonfinite_exploration", "sigma"):
        assert report["max_abs_diff"][name] == 0.0, name
