"""brax environments behind ``pn_jax.envs``: shapes, normalised actions, truncation vs termination,
the pre-reset observation for the replay, and a tiny TD3 run on brax/halfcheetah."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("brax", reason="the brax extra is part of dev")

from conftest import TINY  # noqa: E402

from pn_jax import TD3Config, envs, make_train  # noqa: E402
from pn_jax.envs import brax_envs  # noqa: E402


@pytest.fixture(scope="module")
def hopper_rollout():
    """``rollout(max_steps, seed) -> (first obs [4, O], Step [200, 4])`` of uniform random actions on
    brax/hopper; the time limit is an argument so both tests share one compiled program."""
    hopper = envs.make("brax/hopper")
    num_envs, steps = 4, 200

    @jax.jit
    def rollout(max_steps: jax.Array, key: jax.Array):
        env = hopper._replace(env=brax_envs.BraxTask(hopper.env.env, max_steps=max_steps))
        reset_key, loop_key = jax.random.split(key)
        obs, state = envs.reset(reset_key, env, num_envs)

        def body(state, key):
            action_key, step_key = jax.random.split(key)
            action = jax.random.uniform(action_key, (num_envs, env.action_dim), minval=-1, maxval=1)
            step = envs.step(step_key, env, state, action)
            return step.state, step._replace(state=None)

        return obs, jax.lax.scan(body, state, jax.random.split(loop_key, steps))[1]

    return rollout


def test_halfcheetah_record_and_normalised_actions():
    env = envs.make("brax/halfcheetah")
    assert (env.obs_dim, env.action_dim, env.max_steps, env.num_actions) == (17, 6, 1000, 0)
    np.testing.assert_array_equal(env.action_low, -np.ones(6))
    np.testing.assert_array_equal(env.action_high, np.ones(6))
    np.testing.assert_allclose(
        envs.to_env_action(env, jnp.array([[-2.0, -1, -0.5, 0, 0.5, 3]])), [[-1, -1, -0.5, 0, 0.5, 1]]
    )
    assert envs.is_continuous("brax/halfcheetah") and envs.is_known("brax/halfcheetah")


def test_hopper_falls_terminate_and_the_replay_gets_the_pre_reset_observation(hopper_rollout):
    obs, steps = hopper_rollout(jnp.int32(brax_envs.EPISODE_STEPS), jax.random.key(0))
    terminated, truncated = np.asarray(steps.terminated), np.asarray(steps.truncated)
    assert terminated.any() and not truncated.any()  # random hoppers fall long before 1000 steps
    t, i = np.argwhere(terminated)[0]
    # At the fall, next_obs is the fallen state and obs is the new episode's first observation.
    assert not np.allclose(steps.next_obs[t, i], steps.obs[t, i])
    # Elsewhere the two agree: the successor is the observation acted on next.
    ongoing = ~(terminated | truncated)
    np.testing.assert_array_equal(np.asarray(steps.next_obs)[ongoing], np.asarray(steps.obs)[ongoing])
    # A new episode starts near the initial pose (small reset noise), far from the fall.
    assert np.abs(np.asarray(steps.obs[t, i]) - np.asarray(obs[i])).max() < 0.1


def test_time_limit_truncates_without_terminating(hopper_rollout):
    _, steps = hopper_rollout(jnp.int32(5), jax.random.key(1))
    truncated, terminated = np.asarray(steps.truncated), np.asarray(steps.terminated)
    assert not terminated.any()  # no hopper falls within 5 steps of a reset
    assert truncated[4::5].all() and truncated.sum() == truncated[4::5].size  # every 5th step of every env
    assert not np.allclose(steps.next_obs[4], steps.obs[4])


def test_brax_bounds_are_unit_so_actions_are_not_scaled_twice():
    """humanoid's actuators span ±0.4 and its ``step`` maps [-1, 1] onto them itself."""
    task, low, high = brax_envs.make_task("brax/humanoid")
    assert float(task.env.sys.actuator.ctrl_range.max()) < 1
    np.testing.assert_array_equal(low, -1.0)
    np.testing.assert_array_equal(high, 1.0)


def test_torso_orientation_reads_upright_at_reset_and_upside_down_when_flipped():
    """halfcheetah's third joint (rooty) pitches the torso: π lies it on its back, π/2 nose down."""
    env = envs.make("brax/halfcheetah")
    _, state = jax.jit(lambda key: envs.reset(key, env, 3))(jax.random.key(0))
    np.testing.assert_allclose(brax_envs.torso_up(state), 1.0, atol=0.02)  # reset tilts the torso a little

    physics = env.env.env
    q0, qd0 = physics.sys.init_q, jnp.zeros(physics.sys.qd_size())
    pitches = jnp.array([0.0, np.pi / 2, np.pi, -2.5, 2 * np.pi])
    pipeline = jax.jit(jax.vmap(lambda pitch: physics.pipeline_init(q0.at[2].set(pitch), qd0)))(pitches)
    pitched = brax_envs.BraxState(state.brax.replace(pipeline_state=pipeline), jnp.zeros(5, jnp.int32))
    np.testing.assert_allclose(brax_envs.torso_up(pitched), np.cos(pitches), atol=1e-5)


def test_bad_brax_names_and_backends_are_refused_naming_the_choices():
    with pytest.raises(ValueError, match="unknown brax environment 'brax/nope'.*brax/halfcheetah"):
        TD3Config(env="brax/nope")
    with pytest.raises(ValueError, match="brax_backend.*positional"):
        TD3Config(env="brax/halfcheetah", brax_backend="warp")
    with pytest.raises(ValueError, match="continuous"):
        envs.make("brax/hopper", discrete=True)


def test_missing_extra_is_one_line_naming_it():
    """With brax hidden, a brax name is refused with the pip command (the main job needs no brax)."""
    code = (
        "import sys; sys.modules['brax'] = None\n"
        "from pn_jax import DDPGConfig\n"
        "try:\n    DDPGConfig(env='brax/halfcheetah')\n"
        "except ValueError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert 'pip install -e ".[brax]"' in out and out.count("\n") == 1


def test_tiny_td3_run_on_a_brax_env():
    """The whole training program on brax's own test env (a point mass: compiles in seconds, where
    halfcheetah's physics takes minutes; ``scripts/locomotion.py --quick`` trains on halfcheetah)."""
    config = TD3Config(**{**TINY, "env": "brax/fast", "exploration": "param", "eval_episodes": 1})
    _, metrics = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 2))
    assert metrics.eval_return.shape == (2, 2) and np.all(np.isfinite(np.asarray(metrics.eval_return)))
    assert np.all(np.isfinite(np.asarray(metrics.critic_loss)))
    assert config.obs_norm  # on by default for brax
    # a point mass has no torso to end upside down: NaN at every evaluation (halfcheetah's share: below)
    assert np.asarray(metrics.eval_upside_down).shape == (2, 2) and np.all(np.isnan(metrics.eval_upside_down))
    assert envs.make("brax/halfcheetah").upright is brax_envs.torso_up and envs.make("brax/fast").upright is None


def test_building_a_brax_env_prints_nothing_and_leaves_no_mujoco_log(tmp_path):
    code = "from pn_jax import envs; envs.make('brax/halfcheetah'); envs.make('brax/hopper')"
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "warp" not in result.stderr and "Brax System" not in result.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_a_brax_env_object_becomes_a_task_with_brax_time_limit_and_auto_reset():
    from brax import envs as brax

    env = envs.from_object(brax.get_environment("halfcheetah", backend="spring"), name="my-cheetah")
    assert env.obs_dim == 17 and env.action_dim == 6 and env.max_steps == brax_envs.EPISODE_STEPS
    assert isinstance(env.env, brax_envs.BraxTask) and env.upright is None
    assert envs.describe(env) == "brax.envs.half_cheetah.Halfcheetah"
    with pytest.raises(ValueError, match="wrapped by brax .*pass the bare env"):
        envs.from_object(brax.create("halfcheetah", backend="spring", episode_length=10), name="wrapped")
    with pytest.raises(ValueError, match="env_params: 'mine' is a brax Env"):
        envs.from_object(brax.get_environment("halfcheetah", backend="spring"), params={"x": 1}, name="mine")
