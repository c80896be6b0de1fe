"""DeepSea chains: the fixed action map of DeepSea-<N>, the randomised map of DeepSeaRandom-<N>-<K>,
and the chain script's stopping rule (training on a random map: test_experiments.py)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pn_jax import catalog, envs
from pn_jax.train import run_episodes


def _cell_policy(action_map: jax.Array):
    """The action that goes right in the observed cell (obs: one-hot of the N×N grid)."""
    return lambda obs: action_map.reshape(-1)[jnp.argmax(obs, axis=-1)]


def _always(action: int):
    return lambda obs: jnp.full((obs.shape[0],), action, jnp.int32)


def test_fixed_map_goes_right_with_action_one_in_every_cell():
    env = envs.make("DeepSea-6", discrete=True)
    _, state = envs.reset(jax.random.key(0), env, 1)
    np.testing.assert_array_equal(state.action_mapping[0], np.ones((6, 6), np.int32))
    returns = run_episodes(jax.random.key(1), env, _always(1), 1).returns
    assert float(returns[0]) == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("DeepSea-8", (8, None)),
        ("DeepSeaRandom-8", (8, 0)),
        ("DeepSeaRandom-8-3", (8, 3)),
        ("DeepSea-8-3", (0, None)),
        ("DeepSeaRandom-1", (0, None)),
        ("DeepSeaRandom-8-x", (0, None)),
        ("DeepSeaRandom-8-4294967296", (0, None)),
        ("DeepSeaRandom-8-", (0, None)),
    ],
)
def test_deep_sea_names(name, parsed):
    assert catalog.deep_sea(name) == parsed
    assert envs.is_known(name) == (parsed[0] > 0)


def test_an_unknown_random_chain_is_refused_naming_the_random_variant():
    with pytest.raises(ValueError) as err:
        envs.make("DeepSeaRandom-1", discrete=True)
    assert str(err.value).startswith("env: unknown environment 'DeepSeaRandom-1'")
    assert "DeepSeaRandom-<N>[-<K>]" in str(err.value)


def test_each_map_seed_draws_its_own_map_from_its_key():
    maps = [np.asarray(envs.make(f"DeepSeaRandom-8-{k}", discrete=True).params.action_map) for k in range(5)]
    for k, action_map in enumerate(maps):
        np.testing.assert_array_equal(action_map, envs.random_action_map(envs.action_map_key(k), 8))
        assert action_map.shape == (8, 8) and set(np.unique(action_map)) == {0, 1}
    assert len({m.tobytes() for m in maps}) == 5
    np.testing.assert_array_equal(envs.make("DeepSeaRandom-8", discrete=True).params.action_map, maps[0])
    env = envs.make("DeepSeaRandom-8-2", discrete=True)
    assert env.num_actions == 2 and env.max_steps == 8 and env.goal == envs.DEEP_SEA_GOAL


def test_the_map_is_fixed_across_resets_and_the_episodes_of_one_env():
    env = envs.make("DeepSeaRandom-5-7", discrete=True)
    action_map = np.asarray(env.params.action_map)
    _, state = envs.reset(jax.random.key(0), env, 3)
    _, other = envs.reset(jax.random.key(1), env, 3)
    np.testing.assert_array_equal(state.action_mapping, other.action_mapping)
    episodes = 0
    for t in range(4 * env.max_steps):  # four episodes, auto-reset after each
        action = jax.random.randint(jax.random.key(100 + t), (3,), 0, 2)
        s = envs.step(jax.random.key(t), env, state, action)
        state, episodes = s.state, episodes + int(s.truncated[0] | s.terminated[0])
        np.testing.assert_array_equal(state.action_mapping, np.broadcast_to(action_map, (3, 5, 5)))
    assert episodes == 4


def test_one_action_everywhere_fails_a_random_map_and_the_cell_action_earns_the_reward():
    """Over 64 maps (vmapped params, as one map per seed would be): the per-cell action earns +1
    on every map; "always 1" and "always 0" only on maps whose diagonal path is all that action."""
    size, key = 10, jax.random.key(0)
    env = envs.make(f"DeepSeaRandom-{size}", discrete=True)
    maps = jax.vmap(envs.random_action_map, in_axes=(0, None))(jax.random.split(jax.random.key(3), 64), size)

    def returns(action_map, policy):
        on_map = env._replace(params=env.params.replace(action_map=action_map))
        return run_episodes(key, on_map, policy(action_map), 1).returns[0]

    cell = jax.vmap(lambda m: returns(m, _cell_policy))(maps)
    np.testing.assert_allclose(cell, 0.99, atol=1e-6)
    diagonal = np.asarray(jnp.diagonal(maps, axis1=1, axis2=2))
    for action in (0, 1):
        always = np.asarray(jax.vmap(lambda m, a=action: returns(m, lambda _: _always(a)))(maps))
        np.testing.assert_array_equal(always > 0.5, np.all(diagonal == action, axis=1))
        assert np.sum(always > 0.5) <= 1  # expected 64 · 2^-10 = 0.06


def _fake_record(size: int, solved: bool) -> dict:
    """A two-seed metrics.json record whose final evaluation earns the +1 when ``solved``."""
    final = 0.99 if solved else 0.0
    return {
        "eval": {"step": [size * 10], "return": [[final], [final]]},
        "goal": {"first_step": [size * 3, None], "solved_return": 0.5},
        "compile_seconds": 0.0,
        "run_seconds": 1.0,
    }


def test_chain_stops_after_the_first_length_no_strategy_solves(tmp_path, monkeypatch, capsys):
    from pn_jax.cli import chain
    from pn_jax.experiments import chain as experiment

    trained = []

    def fake_train(size, exploration, seeds, config, *_):
        trained.append((size, exploration))
        return _fake_record(size, solved=size == 4)

    monkeypatch.setattr(experiment, "train_chain", fake_train)
    args = chain.Chain(
        sizes=(4, 6, 8), num_seeds=2, episodes=20, progress=False, stop_when_unsolved=True, out=str(tmp_path)
    )
    rows = chain.main(args)
    assert trained == [(4, "param"), (4, "egreedy"), (6, "param"), (6, "egreedy")]
    assert [(r["size"], r["solved"]) for r in rows] == [(4, 2), (4, 2), (6, 0), (6, 0)]
    out = capsys.readouterr().out
    assert "no strategy solved N = 6: stopping" in out and "DeepSea-6 egreedy: solved 0/2" in out
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# DeepSea chains (fixed action map): DQN")
    assert "Stopped after N = 6, which no strategy solved (--stop-when-unsolved)." in summary
    assert (tmp_path / "6" / "egreedy" / "metrics.json").exists() and (tmp_path / "chain.png").stat().st_size > 0
    with pytest.raises(SystemExit):  # the rule reads "the first N": sizes must increase
        chain.main(dataclasses.replace(args, sizes=(8, 4)))
