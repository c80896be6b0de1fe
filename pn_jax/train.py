"""``make_train(config) -> train(key, hparams=None)``: a whole DDPG run as one pure function.

The run is three nested ``lax.scan``s with fixed lengths, so periodic work costs nothing in the
steps between and nothing turns into a both-branches ``select`` under ``vmap``::

    for chunk in range(total_steps // eval_every):    # evaluate after each chunk
        for block in range(blocks_per_eval):         # adapt σ after each block
            for round in range(adapt_every):         # update round
                for step in range(update_period):    # act with N envs, store, resample
                    ...
                learner update × updates_per_round

``updates_per_step = k`` gives rounds of one vector step and k updates; ``updates_per_step = 1/U``
gives rounds of U vector steps and one update, so a large population trades sample efficiency
for throughput. Step indices come from the scans' ``xs``, never from the (vmapped) carry, so the
warm-up gate ``step >= learning_starts`` stays a real ``lax.cond`` even under ``jax.vmap(train)``.

Usage::

    train = pn_jax.make_train(pn_jax.DDPGConfig(env="Pendulum-v1"))
    state, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 8))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from pn_jax import envs, normalization
from pn_jax.agents.ddpg import DDPGInfo, make_ddpg
from pn_jax.agents.dqn import make_dqn
from pn_jax.agents.td3 import make_td3
from pn_jax.config import DDPGConfig, DQNConfig, HParams, PPOConfig, TD3Config
from pn_jax.networks import Actor, Critic, QNetwork
from pn_jax.noise import (
    DQN_STRATEGY_HPARAMS,
    STRATEGY_HPARAMS,
    Exploration,
    make_dqn_exploration,
    make_exploration,
)
from pn_jax.replay import Transition, make_replay

ProgressFn = Callable[[jax.Array, jax.Array], None]


class NonFinite(NamedTuple):
    """First env step at which a quantity stopped being finite, ``-1`` while it is (``[]`` int32 each).

    The loss is checked after every update round, the learner and exploration states at the end
    of every adaptation block, so a step here is at most one block late.
    """

    loss: jax.Array  # the critic or actor loss (DQN: the TD loss)
    params: jax.Array  # any float of the learner state: parameters, target networks, optimiser moments
    exploration: jax.Array  # any float of the exploration state: σ, perturbed parameters, OU noise

    @classmethod
    def none(cls) -> NonFinite:
        return cls(*(jnp.array(-1, jnp.int32) for _ in cls._fields))


NONFINITE_QUANTITIES = {
    "loss": "the learner's loss",
    "params": "the learner's parameters or optimiser state",
    "exploration": "σ or the exploration state",
}


class TrainState(NamedTuple):
    """Everything a run carries between steps (per seed)."""

    agent: Any  # the learner's state: DDPGState or DQNState
    exploration: Any  # the strategy's own NamedTuple state
    replay: Any  # flashbax buffer state
    env_state: Any  # gymnax states, leading axis [N]
    obs: jax.Array  # [N, O] observation to act on (raw: networks see it normalised when obs_norm)
    obs_stats: normalization.RunningStats  # running statistics of every observation acted on
    episode_return: jax.Array  # [N] return of the running episode
    last_return: jax.Array  # [N] return of the last finished episode (NaN before the first)
    goal_hits: jax.Array  # [] int32 goal-reaching steps so far in this block (sparse tasks)
    first_goal_step: jax.Array  # [] int32 env steps until the goal was first reached, -1 if not yet
    coverage: jax.Array  # [C, C] int32 visits per cell of the env's state plane ([0, 0] when off)
    nonfinite: NonFinite  # first env step at which each guarded quantity went non-finite
    key: chex.PRNGKey


class _Learner(NamedTuple):
    """What the loop needs of a learner: ``init(key, obs [O])``, ``update(state, batch)``, and
    ``policy_params(state)``, the unperturbed parameters that exploration acts with (DDPG's actor
    θ, DQN's online Q-network θ; never a target network)."""

    init: Callable[..., Any]
    update: Callable[..., tuple[Any, DDPGInfo]]
    policy_params: Callable[[Any], Any]


class Metrics(NamedTuple):
    """Per-seed metrics. ``E`` evaluations and ``L`` log points (one per adaptation block)."""

    eval_step: jax.Array  # [E] env steps at each evaluation
    eval_return: jax.Array  # [E] mean deterministic return over eval_episodes
    eval_upside_down: jax.Array  # [E] share of those episodes that ended upside down (NaN: env has no torso)
    log_step: jax.Array  # [L] env steps at each block end
    sigma: jax.Array  # [L] σ (parameter noise) or action-noise std in force during the block
    action_distance: jax.Array  # [L] measured action-space distance of the exploration
    train_episode_return: jax.Array  # [L] mean over envs of the last finished episode return
    critic_loss: jax.Array  # [L] mean critic loss over the block (0 during warm-up)
    actor_loss: jax.Array  # [L]
    goal_hits: jax.Array  # [L] steps in the block whose reward reached the goal (sparse tasks; else 0)
    first_goal_step: jax.Array  # [] env steps until the goal was first reached (any env), -1 if never
    coverage: jax.Array  # [C, C] visits of the first coverage_steps env steps on the state plane
    nonfinite: NonFinite  # [] each: first env step at which loss / params / exploration went non-finite


class ChunkLog(NamedTuple):
    """What ``C`` evaluation chunks of ``B`` adaptation blocks each report (per seed)."""

    eval_step: jax.Array  # [C] env steps at each evaluation
    eval_return: jax.Array  # [C]
    eval_upside_down: jax.Array  # [C]
    log_step: jax.Array  # [C, B] env steps at each block end
    sigma: jax.Array  # [C, B]
    action_distance: jax.Array  # [C, B]
    train_episode_return: jax.Array  # [C, B]
    critic_loss: jax.Array  # [C, B]
    actor_loss: jax.Array  # [C, B]
    goal_hits: jax.Array  # [C, B]


class Trainer(NamedTuple):
    """A run cut into ``num_chunks`` evaluation chunks of ``chunk_steps`` env steps, so it can stop
    and resume between jitted calls (checkpointing) with exactly the numbers of one long call.

    - ``init(key, hparams=None) -> TrainState``
    - ``advance(state, first_chunk, hparams=None, *, num_chunks) -> (TrainState, ChunkLog)`` trains
      chunks ``first_chunk … first_chunk + num_chunks - 1``. ``num_chunks`` is static;
      ``first_chunk`` is an int32 scalar that must *not* be vmapped (``in_axes=None``): the chunk
      index feeds the warm-up ``lax.cond``, which ``vmap`` would turn into a both-branches select.
    - ``finish(state, log) -> Metrics`` from the final state and the logs of all chunks in order.
    """

    init: Callable[..., TrainState]
    advance: Callable[..., tuple[TrainState, ChunkLog]]
    finish: Callable[[TrainState, ChunkLog], Metrics]
    num_chunks: int
    chunk_steps: int


def make_train(
    config: DDPGConfig | DQNConfig,
    progress_fn: ProgressFn | None = None,
    *,
    env: Any = None,
    env_params: Any = None,
) -> Callable[..., tuple[TrainState, Metrics]]:
    """Builds ``train(key, hparams=None) -> (final_state, metrics)`` for one seed.

    The same loop drives DDPG and TD3 (continuous actions) and DQN (discrete actions); for DQN,
    ``sigma`` and ``action_distance`` in the metrics are the Q-network's σ and the measured
    ``KL(softmax Q ‖ softmax Q̃)`` (ε and ε under ε-greedy), ``critic_loss`` is the TD loss.

    Args:
      config: a validated :class:`DDPGConfig` or :class:`DQNConfig` (static fields fix the program).
      progress_fn: optional host callback ``(env_step, eval_return)``, called through
        ``jax.debug.callback`` at evaluation points only (once per seed under ``vmap``).
      env: your own environment object (see :func:`pn_jax.envs.from_object`: gymnax-style or a
        brax ``Env``); ``config.env`` is then the run's label only, a name that no built-in,
        registered or ``module:callable`` environment has. The defaults derived from ``config.env``
        follow the label, not the object: set ``obs_norm`` (on for brax names) and ``eval_episodes``
        (5 for brax names) yourself for a brax object. None: ``config.env`` names the environment.
      env_params: that object's parameters (default: its ``default_params``).

    Returns:
      A pure function. Compose it yourself: ``jax.jit(jax.vmap(train))(keys)`` for seeds,
      ``jax.jit(jax.vmap(train))(keys, hparams_grid)`` for a grid of :class:`HParams`.
    """
    trainer = make_trainer(config, progress_fn, env=env, env_params=env_params)

    def train(key: chex.PRNGKey, hparams: HParams | None = None) -> tuple[TrainState, Metrics]:
        state = trainer.init(key, hparams)
        state, log = trainer.advance(state, jnp.int32(0), hparams, num_chunks=trainer.num_chunks)
        return state, trainer.finish(state, log)

    return train


def make_trainer(
    config: DDPGConfig | DQNConfig, progress_fn: ProgressFn | None = None, *, env: Any = None, env_params: Any = None
) -> Trainer:
    """The run of :func:`make_train` in resumable pieces (see :class:`Trainer`); same arguments.

    ``make_train``'s ``train`` is ``init``, one ``advance`` over every chunk, and ``finish``.
    A :class:`~pn_jax.config.PPOConfig` gets :func:`pn_jax.train_ppo.make_ppo_trainer`'s.
    """
    if isinstance(config, PPOConfig):
        from pn_jax.train_ppo import make_ppo_trainer  # (it builds on this module)

        return make_ppo_trainer(config, progress_fn, env=env, env_params=env_params)
    if not isinstance(config, (DDPGConfig, DQNConfig)):
        raise TypeError(f"make_train expects a DDPGConfig or DQNConfig, got {type(config).__name__}")
    discrete = isinstance(config, DQNConfig)
    env = build_env(config, env, env_params)
    network = (
        QNetwork(env.num_actions, config.hidden_sizes, config.layer_norm)
        if discrete
        else Actor(env.action_dim, config.hidden_sizes, config.layer_norm)
    )
    act_shape, act_dtype = ((), jnp.int32) if discrete else ((env.action_dim,), jnp.float32)

    def greedy(params: Any, obs: jax.Array) -> jax.Array:
        """The unperturbed policy's action: ``argmax Q`` (DQN) or ``π(s)`` (DDPG)."""
        out = network.apply(params, obs)
        return jnp.argmax(out, axis=-1).astype(jnp.int32) if discrete else out

    def random_actions(key: chex.PRNGKey) -> jax.Array:
        """Uniform warm-up actions ``[N, ...]``."""
        if discrete:
            return jax.random.randint(key, (num_envs,), 0, env.num_actions)
        return jax.random.uniform(key, (num_envs, env.action_dim), minval=-1.0, maxval=1.0)

    def build(hp) -> tuple[Any, Exploration]:
        """The learner (init / update / policy params) and the exploration strategy for ``hp``."""
        if discrete:
            anneal = config.num_updates if config.anneal_lr else 0
            learner = make_dqn(network, hp.lr, hp.tau, hp.gamma, config.double_dqn, anneal_updates=anneal)
            exploration = make_dqn_exploration(
                config.exploration,
                network.apply,
                env.num_actions,
                pool_slots=pool_slots(config, env.max_steps),
                **{name: getattr(hp, name) for name in DQN_STRATEGY_HPARAMS[config.exploration]},
            )
            return _Learner(learner.init, learner.update, lambda state: state.params), exploration
        critic = Critic(config.hidden_sizes, config.critic_layer_norm, config.critic_action_layer)
        learner_hparams = (network, critic, hp.actor_lr, hp.critic_lr, hp.tau, hp.gamma)
        if isinstance(config, TD3Config):
            policy = (config.policy_noise, config.noise_clip, config.policy_delay)
            learner = make_td3(*learner_hparams, *policy, critic_l2=hp.critic_l2)
        else:
            learner = make_ddpg(*learner_hparams, critic_l2=hp.critic_l2)
        exploration = make_config_exploration(config, network.apply, env.action_dim, hp, env.max_steps)
        init = lambda key, obs: learner.init(key, obs, jnp.zeros((env.action_dim,)))  # noqa: E731
        return _Learner(init, learner.update, lambda state: state.actor_params), exploration

    replay = make_replay(config.buffer_size, config.batch_size)
    num_envs = config.num_envs
    num_evals = config.total_steps // config.eval_every
    blocks_per_eval = config.eval_every // config.steps_per_block
    learning_starts = config.learning_starts // num_envs  # in vector steps
    update_period, updates_per_round = config.update_period, config.updates_per_round
    steps_per_block = config.adapt_every * update_period  # in vector steps
    coverage_bins = config.coverage_bins if config.coverage_steps else 0

    seen = lambda stats, obs: network_input(config, stats, obs)  # noqa: E731

    def evaluate(key: chex.PRNGKey, actor_params: Any, stats: normalization.RunningStats) -> tuple[jax.Array, ...]:
        """Mean return of ``eval_episodes`` full deterministic episodes of the unperturbed actor
        (observation statistics frozen at ``stats``), and the share of them that ended upside down
        (NaN for an env without :attr:`~pn_jax.envs.Env.upright`)."""
        policy = lambda obs: greedy(actor_params, seen(stats, obs))  # noqa: E731
        episodes = run_episodes(key, env, policy, config.eval_episodes, probe=env.upright)
        upside_down = jnp.mean(episodes.final_probe < 0) if env.upright is not None else jnp.float32(jnp.nan)
        return jnp.mean(episodes.returns), upside_down.astype(jnp.float32)

    def init(key: chex.PRNGKey, hparams: HParams | None = None) -> TrainState:
        """The state before the first step: fresh learner, exploration, empty replay, reset envs."""
        hp = config.hparams() if hparams is None else hparams
        chex.assert_shape(jax.tree.leaves(hp), ())
        agent, exploration = build(hp)
        agent_key, env_key, explore_key, loop_key = jax.random.split(key, 4)
        obs, env_state = envs.reset(env_key, env, num_envs)
        agent_state = agent.init(agent_key, obs[0])
        zero = jnp.zeros((), jnp.float32)
        example = Transition(obs[0], jnp.zeros(act_shape, act_dtype), zero, obs[0], zero)
        return TrainState(
            agent=agent_state,
            exploration=exploration.init(explore_key, agent.policy_params(agent_state), num_envs),
            replay=replay.init(example),
            env_state=env_state,
            obs=obs,
            obs_stats=normalization.init(obs.shape[1:]),
            episode_return=jnp.zeros((num_envs,), jnp.float32),
            last_return=jnp.full((num_envs,), jnp.nan, jnp.float32),
            goal_hits=jnp.zeros((), jnp.int32),
            first_goal_step=jnp.array(-1, jnp.int32),
            coverage=jnp.zeros((coverage_bins, coverage_bins), jnp.int32),
            nonfinite=NonFinite.none(),
            key=loop_key,
        )

    def advance(
        state: TrainState, first_chunk: jax.Array, hparams: HParams | None = None, *, num_chunks: int
    ) -> tuple[TrainState, ChunkLog]:
        """Trains ``num_chunks`` evaluation chunks from chunk ``first_chunk`` (see :class:`Trainer`)."""
        hp = config.hparams() if hparams is None else hparams
        chex.assert_shape(jax.tree.leaves(hp), ())
        chex.assert_shape(first_chunk, ())
        agent, exploration = build(hp)
        no_info = DDPGInfo(*(jnp.zeros((), jnp.float32) for _ in DDPGInfo._fields))

        def env_step(ts: TrainState, t: jax.Array) -> tuple[TrainState, None]:
            """Vector step ``t``: act (uniformly at random during warm-up), step, store, resample."""
            key, act_key, step_key, reset_key = jax.random.split(ts.key, 4)
            actor_params = agent.policy_params(ts.agent)
            action = jax.lax.cond(
                t >= learning_starts,
                lambda: exploration.act(act_key, ts.exploration, actor_params, seen(ts.obs_stats, ts.obs)),
                lambda: random_actions(act_key),
            )
            if config.obs_norm:  # the statistics take in what was acted on, after acting (as baselines)
                ts = ts._replace(obs_stats=normalization.update(ts.obs_stats, ts.obs))
            s = envs.step(step_key, env, ts.env_state, action)
            replay_state = replay.add(
                ts.replay, Transition(ts.obs, action, s.reward, s.next_obs, s.terminated.astype(jnp.float32))
            )
            done = s.terminated | s.truncated
            episode_return = ts.episode_return + s.reward
            if env.goal is not None:
                hits = jnp.sum(s.reward > env.goal.reward_above, dtype=jnp.int32)
                first = jnp.where((ts.first_goal_step < 0) & (hits > 0), (t + 1) * num_envs, ts.first_goal_step)
                ts = ts._replace(goal_hits=ts.goal_hits + hits, first_goal_step=first.astype(jnp.int32))
            if config.coverage_steps:
                counted = t * num_envs + jnp.arange(num_envs) < config.coverage_steps
                ts = ts._replace(coverage=_histogram_add(ts.coverage, env.plane, ts.obs, counted))
            new_state = ts._replace(
                exploration=exploration.reset(reset_key, ts.exploration, actor_params, done),
                replay=replay_state,
                env_state=s.state,
                obs=s.obs,
                episode_return=jnp.where(done, 0.0, episode_return),
                last_return=jnp.where(done, episode_return, ts.last_return),
                key=key,
            )
            return new_state, None

        def sample(replay_state, stats: normalization.RunningStats, key: chex.PRNGKey) -> Transition:
            """A replay batch with both observations as the networks see them now."""
            batch = replay.sample(replay_state, key)
            return batch._replace(obs=seen(stats, batch.obs), next_obs=seen(stats, batch.next_obs))

        def learn(ts: TrainState, key: chex.PRNGKey) -> tuple[Any, DDPGInfo]:
            """``updates_per_round`` learner updates, each on a fresh replay batch; mean info."""
            if updates_per_round == 1:
                return agent.update(ts.agent, sample(ts.replay, ts.obs_stats, key))
            agent_state, infos = jax.lax.scan(
                lambda a, k: agent.update(a, sample(ts.replay, ts.obs_stats, k)),
                ts.agent,
                jax.random.split(key, updates_per_round),
            )
            return agent_state, jax.tree.map(jnp.mean, infos)

        def update_round(ts: TrainState, first: jax.Array) -> tuple[TrainState, DDPGInfo]:
            """``update_period`` vector steps from step ``first``, then the round's updates."""
            if update_period == 1:
                ts, _ = env_step(ts, first)
            else:
                ts, _ = jax.lax.scan(env_step, ts, first + jnp.arange(update_period))
            key, sample_key = jax.random.split(ts.key)
            agent_state, info = jax.lax.cond(
                first >= learning_starts,
                lambda: learn(ts, sample_key),
                lambda: (ts.agent, no_info),
            )
            finite = jnp.isfinite(info.critic_loss) & jnp.isfinite(info.actor_loss)
            loss_step = _first_failure(ts.nonfinite.loss, finite, (first + update_period) * num_envs)
            return ts._replace(agent=agent_state, nonfinite=ts.nonfinite._replace(loss=loss_step), key=key), info

        def block(ts: TrainState, b: jax.Array):
            first = b * steps_per_block  # in vector steps
            ts, infos = jax.lax.scan(update_round, ts, first + update_period * jnp.arange(config.adapt_every))
            key, adapt_key, refresh_key, sample_key = jax.random.split(ts.key, 4)
            actor_params = agent.policy_params(ts.agent)
            batch = sample(ts.replay, ts.obs_stats, sample_key)

            def during_warmup():
                # σ stays at σ₀ until the learner updates; the noise source is renewed all the same
                _, stats = exploration.adapt(adapt_key, ts.exploration, actor_params, batch.obs)
                return exploration.refresh(refresh_key, ts.exploration, actor_params), stats

            learned = first >= learning_starts  # every round of this block updated the learner (from xs)
            explore_state, stats = jax.lax.cond(
                learned,
                lambda: exploration.adapt(adapt_key, ts.exploration, actor_params, batch.obs),
                during_warmup,
            )
            end_step = (first + steps_per_block) * num_envs
            nonfinite = ts.nonfinite._replace(
                params=_first_failure(ts.nonfinite.params, _all_finite(ts.agent), end_step),
                exploration=_first_failure(ts.nonfinite.exploration, _all_finite(explore_state), end_step),
            )
            log = (
                end_step,
                stats.sigma,
                stats.distance,
                jnp.nanmean(ts.last_return),
                jnp.mean(infos.critic_loss),
                jnp.mean(infos.actor_loss),
                ts.goal_hits,
            )
            ts = ts._replace(exploration=explore_state, goal_hits=jnp.zeros_like(ts.goal_hits), nonfinite=nonfinite)
            return ts._replace(key=key), log

        def chunk(ts: TrainState, c: jax.Array):
            ts, logs = jax.lax.scan(block, ts, c * blocks_per_eval + jnp.arange(blocks_per_eval))
            key, eval_key = jax.random.split(ts.key)
            eval_return, upside_down = evaluate(eval_key, agent.policy_params(ts.agent), ts.obs_stats)
            eval_step = (c + 1) * config.eval_every
            if progress_fn is not None:
                jax.debug.callback(progress_fn, eval_step, eval_return)
            return ts._replace(key=key), ChunkLog(eval_step, eval_return, upside_down, *logs)

        return jax.lax.scan(chunk, state, first_chunk + jnp.arange(num_chunks))

    def finish(state: TrainState, log: ChunkLog) -> Metrics:
        """The run's :class:`Metrics` from its final state and every chunk's log, in order."""
        return metrics_of(log, state.first_goal_step, state.coverage, state.nonfinite)

    return Trainer(init, advance, finish, num_evals, config.eval_every)


def metrics_of(log: ChunkLog, first_goal_step: jax.Array, coverage: jax.Array, nonfinite: NonFinite) -> Metrics:
    """:class:`Metrics` from every chunk's log, in order (``[C, B]`` block logs flattened to ``[L]``),
    and what the final state holds: the first goal step, the coverage histogram, the non-finite steps."""
    blocks = {name: getattr(log, name).reshape(-1) for name in ChunkLog._fields[3:]}
    return Metrics(
        eval_step=log.eval_step,
        eval_return=log.eval_return,
        eval_upside_down=log.eval_upside_down,
        **blocks,
        first_goal_step=first_goal_step,
        coverage=coverage,
        nonfinite=nonfinite,
    )


class Episodes(NamedTuple):
    """``N`` complete episodes of one policy."""

    returns: jax.Array  # [N] undiscounted return of each episode
    final_probe: jax.Array  # [N] ``probe`` of the environment state at the episode's last step


def run_episodes(
    key: chex.PRNGKey,
    env: envs.Env,
    policy: Callable[[jax.Array], jax.Array],
    num_episodes: int,
    probe: Callable[[Any], jax.Array] | None = None,
) -> Episodes:
    """Plays ``num_episodes`` episodes side by side, each to its end (at most ``env.max_steps`` steps).

    Args:
      key: PRNG key (resets and environment steps).
      env: the environment.
      policy: ``obs [N, O] -> action [N, A]`` (normalised units) or ``[N]`` ints for a discrete env.
      num_episodes: ``N`` (static).
      probe: ``env state [N, ...] -> [N]``, read from the state each action is taken in, so the
        value kept is the one before the episode's last action (e.g.
        :func:`~pn_jax.envs.brax_envs.torso_up`); None records zeros.

    Returns:
      :class:`Episodes`.
    """
    reset_key, loop_key = jax.random.split(key)
    obs, state = envs.reset(reset_key, env, num_episodes)
    alive = jnp.ones((num_episodes,), bool)
    zeros = jnp.zeros((num_episodes,), jnp.float32)

    def body(carry, step_key):
        obs, state, total, last_probe, alive = carry
        if probe is not None:
            last_probe = jnp.where(alive, probe(state), last_probe)
        s = envs.step(step_key, env, state, policy(obs))
        total = total + jnp.where(alive, s.reward, 0.0)
        alive = alive & ~(s.terminated | s.truncated)
        return (s.obs, s.state, total, last_probe, alive), None

    carry = (obs, state, zeros, zeros, alive)
    (_, _, total, final_probe, _), _ = jax.lax.scan(body, carry, jax.random.split(loop_key, env.max_steps))
    return Episodes(total, final_probe)


def build_env(config: DDPGConfig | DQNConfig, env: Any = None, env_params: Any = None) -> envs.Env:
    """The :class:`~pn_jax.envs.Env` a run trains on: ``env`` (your own object, labelled ``config.env``)
    or the environment ``config.env`` names (PPO: of either action kind)."""
    if isinstance(config, PPOConfig):
        from pn_jax.train_ppo import build_ppo_env

        return build_ppo_env(config, env, env_params)
    discrete = isinstance(config, DQNConfig)
    if env is not None:
        if envs.is_known(config.env) or envs.is_registered(config.env) or envs.is_entry_point(config.env):
            raise ValueError(
                f"env: config.env {config.env!r} names an environment, but env= gives another; label yours with "
                "a name of its own, e.g. DDPGConfig(env='my-task')"
            )
        return envs.from_object(env, env_params, name=config.env, discrete=discrete)
    if env_params is not None:
        raise ValueError("env_params: given without env (a named environment brings its own parameters)")
    backend = getattr(config, "brax_backend", envs.brax_envs.DEFAULT_BACKEND)
    return envs.make(config.env, discrete=discrete, brax_backend=backend)


def network_input(config: DDPGConfig | DQNConfig, stats: normalization.RunningStats, obs: jax.Array) -> jax.Array:
    """``obs [..., O]`` as every network of a ``config`` run sees it: normalised by the run's
    ``stats`` (``state.obs_stats``) when ``config.obs_norm``, else unchanged. Use it to act with a
    trained actor: ``actor.apply(state.agent.actor_params, network_input(config, state.obs_stats, obs))``."""
    return normalization.normalize(stats, obs) if config.obs_norm else obs


def make_config_exploration(
    config: DDPGConfig, actor_apply: Callable, action_dim: int, hparams: HParams, max_episode_steps: int
) -> Exploration:
    """The exploration strategy ``config.exploration`` with its hyper-parameters from ``hparams``."""
    return make_exploration(
        config.exploration,
        actor_apply,
        action_dim,
        pool_slots=pool_slots(config, max_episode_steps),
        **{name: getattr(hparams, name) for name in STRATEGY_HPARAMS[config.exploration]},
    )


def pool_slots(config: DDPGConfig | DQNConfig, max_episode_steps: int) -> int:
    """Disjoint ε windows of each parameter-noise pool (see :func:`pn_jax.noise.param_noise`).

    Enough for the resamples of one adaptation block when episodes run to the time limit (or
    every ``resample_every`` steps), plus one per env: ``N·(1 + ⌈block / L⌉)`` with ``block`` the
    block's vector steps and ``L = resample_every`` or the episode limit. Blocks with more
    resamples (episodes ending early) read distinct overlapping windows for the rest.
    ``config.noise_pool = False`` gives 0: no pool, a fresh draw at every resample.
    """
    if not config.noise_pool:
        return 0  # a fresh draw at every resample
    block = config.adapt_every * config.update_period
    interval = config.resample_every if config.resample_every > 0 else max_episode_steps
    return config.num_envs * (1 + -(-block // max(interval, 1)))


def _all_finite(tree: Any) -> jax.Array:
    """``[]`` bool: every float leaf of ``tree`` is finite."""
    checks = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)


def _first_failure(recorded: jax.Array, ok: jax.Array, step: jax.Array) -> jax.Array:
    """``step`` if ``ok`` fails for the first time (``recorded < 0``), else ``recorded`` (int32)."""
    return jnp.where((recorded < 0) & ~ok, step, recorded).astype(jnp.int32)


def _histogram_add(counts: jax.Array, plane: envs.Plane, obs: jax.Array, counted: jax.Array) -> jax.Array:
    """Adds ``obs [N, O]`` (where ``counted [N]``) to ``counts [C, C]`` over ``plane``; outliers clip to the edge."""
    bins = counts.shape[0]
    low, high = jnp.asarray(plane.low, jnp.float32), jnp.asarray(plane.high, jnp.float32)
    cell = jnp.floor((plane.features(obs) - low) / (high - low) * bins).astype(jnp.int32)
    cell = jnp.clip(cell, 0, bins - 1)
    return counts.at[cell[:, 0], cell[:, 1]].add(counted.astype(jnp.int32))
