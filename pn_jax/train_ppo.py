"""``make_ppo_train(config) -> train(key, hparams=None)``: a whole PPO run as one pure function.

The run is nested ``lax.scan``s of fixed lengths, as the off-policy trainer's (:mod:`pn_jax.train`),
and returns the same :class:`~pn_jax.train.Trainer`, :class:`~pn_jax.train.Metrics` and
:class:`~pn_jax.train.ChunkLog`, so :mod:`pn_jax.runner`, checkpoints and metrics.json drive it
unchanged::

    for chunk in range(total_steps // eval_every):          # evaluate after each chunk
        for block in range(eval_every // (N·T)):            # one rollout, its update, σ adaptation
            for t in range(T):                              # act with N envs (env i at θ + σε_i), record
                ...
            GAE; for epoch in range(update_epochs): for minibatch in shuffled(N) (or (N·T)): update
            adapt σ to the rollout's KL; a fresh ε for each env whose episode ended

Metrics map onto the off-policy names: ``critic_loss`` is the value loss, ``actor_loss`` the
clipped-surrogate policy loss (both averaged over the block's epochs and minibatches), ``sigma``
the parameter-noise σ in force during the rollout (exploration ``gaussian``: the policy's mean
std, 0 for a categorical policy), ``action_distance`` the rollout's measured
``KL(π_θ ‖ π_{θ+σε})`` (0 without parameter noise).

**Parameter noise, on-policy** (Plappert et al., 2018, sec. 3.3). With ``exploration="param"``
env ``i`` acts with its own perturbed mean network ``θ + σ·ε_i`` (LayerNorm and the log-std
unperturbed) and *still samples* its action from that perturbed policy's distribution. Each env
keeps its ``ε_i`` (``[N, P]`` in the state, ``P`` the Dense weights) for whole rollouts: it is
renewed at the end of the first rollout in which env ``i``'s episode ended (or after
``resample_every`` of its steps, a multiple of ``num_steps``). The update sees the same ``ε_i``
for every transition of env ``i``: the ratio is ``π_{θ+σε_i}(a|s) / π_{θ_old+σε_i}(a|s)`` (exactly
1, up to float rounding, on the first minibatch of the first epoch), its gradient reaches θ
through ``θ + σε_i`` and never ε, and the update moves θ. Evaluation uses the unperturbed mean
policy (the mean action, or the argmax). After each update σ adapts once: ``σ/α`` if the rollout's
mean ``KL(π_θ ‖ π_{θ+σε_i})`` (on the observations each env acted on, with its own ``ε_i``) exceeds
``δ = target_distance``, else ``σ·α``.

Minibatches hold whole envs under parameter noise (``minibatch_by_env``: all ``num_steps`` steps
of ``num_envs / num_minibatches`` envs, as PureJaxRL's recurrent PPO): one perturbed copy of the
mean network per env in the minibatch, applied to its ``T`` steps as one matrix product, so an
update costs about what PPO's own does (:func:`pn_jax.agents.ppo.perturbed_apply`). With
``minibatch_by_env=False`` they are shuffled transitions, as PPO's usual ones, and each
transition's forward pass reads its own ε (``B·P`` memory traffic per minibatch: several times
slower).

Deviations from the paper, and why:

* σ is adapted to a KL target rather than learned (the paper's derivation includes ``∇_Σ``; its
  experiments fix or adapt Σ = σ²I): adaptation is what the off-policy learners here do too.
* ε is renewed at rollout boundaries, not at the step an episode ends: an episode that starts
  mid-rollout acts with its predecessor's ε until the rollout ends, up to ``num_steps − 1`` steps,
  and then with a fresh one; where episodes are shorter than a rollout, several share one ε.
  Where ``num_steps`` divides the time limit (Pendulum: 200 = 2 × 100) and episodes run to it,
  renewals fall exactly on episode ends; choose ``num_steps`` so (DeepSea-20: 20). One ε per env
  and rollout is what lets the update apply one perturbed copy per env; an ε per episode segment
  would multiply the update's cost by the number of segments.
* θ and σ change at every update, so an ε that spans rollouts acts as ``θ_new + σ_new·ε_i``: the
  perturbation direction stays fixed, the perturbed policy follows the learner (holding θ fixed
  for a whole episode would leave the rollout's transitions off-policy for the ratio).
* σ adapts with α = 1.1 by default, not the paper's 1.01: it adapts once per rollout, a few dozen
  times per run.
* The Gaussian's log-std is never perturbed; parameter noise adds state-dependent, temporally
  consistent variation of the *mean* to PPO's own sampling, which stays on.

Fresh ε are drawn (``N·P`` normals, one threefry draw per rollout) for the envs due a renewal.

Usage::

    train = make_ppo_train(PPOConfig(env="Pendulum-v1", exploration="param"))
    state, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 8))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from pn_jax import envs, normalization
from pn_jax.agents import ppo
from pn_jax.config import PPOConfig, PPOHParams
from pn_jax.noise import adapt_sigma, perturbable_mask
from pn_jax.train import (
    ChunkLog,
    Metrics,
    NonFinite,
    ProgressFn,
    Trainer,
    _all_finite,
    _first_failure,
    make_train,
    metrics_of,
    network_input,
    run_episodes,
)


class PPONoiseState(NamedTuple):
    """Parameter noise of the ``N`` envs (exploration ``param``; kept, unused, otherwise)."""

    sigma: jax.Array  # [] σ
    epsilon: jax.Array  # [N, P] float32 each env's current ε ([N, 0] without parameter noise)
    steps: jax.Array  # [N] int32 steps each env has acted with its ε
    due: jax.Array  # [N] bool: renew that env's ε when the rollout ends (its episode ended, or resample_every)


class PPOTrainState(NamedTuple):
    """Everything a PPO run carries between rollouts (per seed)."""

    agent: ppo.PPOState
    noise: PPONoiseState
    env_state: Any  # gymnax states, leading axis [N]
    obs: jax.Array  # [N, O] raw observation to act on
    obs_stats: normalization.RunningStats  # running statistics of every observation acted on
    episode_return: jax.Array  # [N] return of the running episode
    last_return: jax.Array  # [N] return of the last finished episode (NaN before the first)
    goal_hits: jax.Array  # [] int32 goal-reaching steps so far in this block (sparse tasks)
    first_goal_step: jax.Array  # [] int32 env steps until the goal was first reached, -1 if not yet
    nonfinite: NonFinite  # first env step at which each guarded quantity went non-finite
    key: chex.PRNGKey


class Rollout(NamedTuple):
    """``T`` steps of ``N`` envs (leading axes ``[T, N]``)."""

    obs: jax.Array  # [T, N, O] as the networks saw it when acting
    action: jax.Array  # [T, N, A] float (unclipped sample) or [T, N] int32
    log_prob: jax.Array  # [T, N] log-prob under the policy that acted (perturbed under param)
    value: jax.Array  # [T, N] V(s_t)
    next_value: jax.Array  # [T, N] V(s'_t), s'_t the true successor (pre-reset at an episode end)
    reward: jax.Array  # [T, N]
    terminated: jax.Array  # [T, N] bool
    done: jax.Array  # [T, N] bool: terminated or truncated
    kl: jax.Array  # [T, N] KL(π_θ ‖ π_{θ+σε}) at s_t (0 without parameter noise)


class PPOParts(NamedTuple):
    """The pieces one block of :func:`make_ppo_trainer` is made of (for diagnostics and tests).

    - ``env``: the :class:`~pn_jax.envs.Env`.
    - ``agent(hparams) -> PPO``: the learner for those hyper-parameters.
    - ``init(key, hparams=None) -> PPOTrainState``.
    - ``rollout(state, hparams=None) -> (state, Rollout)``: ``num_steps`` vector steps.
    - ``learn(state, rollout, hparams=None) -> (state, PPOInfo [E, M])``: GAE and the epochs.
    - ``adapt(state, rollout, hparams=None) -> (state, distance)``: σ adaptation and the renewals.
    - ``evaluate(key, state) -> (mean return, share upside down)``: the unperturbed mean policy.
    - ``noise(noise_state, policy_params, envs [G]) -> tree | None``: ``σ·ε`` of those envs, cut into
      the mean network's Dense leaves (:func:`pn_jax.agents.ppo.noise_tree`).
    """

    env: envs.Env
    agent: Callable[..., ppo.PPO]
    init: Callable[..., PPOTrainState]
    rollout: Callable[..., tuple[PPOTrainState, Rollout]]
    learn: Callable[..., tuple[PPOTrainState, ppo.PPOInfo]]
    adapt: Callable[..., tuple[PPOTrainState, jax.Array]]
    evaluate: Callable[..., tuple[jax.Array, jax.Array]]
    noise: Callable[..., Any]


def make_ppo_train(
    config: PPOConfig, progress_fn: ProgressFn | None = None, *, env: Any = None, env_params: Any = None
) -> Callable[..., tuple[PPOTrainState, Metrics]]:
    """Builds ``train(key, hparams=None) -> (final_state, metrics)`` for one seed.

    Args:
      config: a validated :class:`~pn_jax.config.PPOConfig` (static fields fix the program).
      progress_fn: optional host callback ``(env_step, eval_return)`` at evaluation points only.
      env: your own environment object (see :func:`pn_jax.envs.from_object`); ``config.env`` is then
        its label. None: ``config.env`` names the environment.
      env_params: that object's parameters (default: its ``default_params``).

    Returns:
      A pure function. Compose it yourself: ``jax.jit(jax.vmap(train))(keys)`` for seeds,
      ``jax.jit(jax.vmap(train))(keys, hparams_grid)`` for a grid of :class:`PPOHParams`.
    """
    if not isinstance(config, PPOConfig):
        raise TypeError(f"make_ppo_train expects a PPOConfig, got {type(config).__name__}")
    return make_train(config, progress_fn, env=env, env_params=env_params)  # (which builds make_ppo_trainer's)


def make_ppo_trainer(
    config: PPOConfig, progress_fn: ProgressFn | None = None, *, env: Any = None, env_params: Any = None
) -> Trainer:
    """The run of :func:`make_ppo_train` in resumable pieces (:class:`~pn_jax.train.Trainer`); same arguments.

    ``advance``'s ``first_chunk`` only numbers the steps in the logs here (no warm-up gate), but
    keep it unbatched (``in_axes=None``) as for the off-policy trainer.
    """
    parts = make_ppo_parts(config, env=env, env_params=env_params)
    rollout_steps = config.rollout_steps
    blocks_per_eval = config.eval_every // rollout_steps
    discrete, goal = parts.env.num_actions > 0, parts.env.goal

    def advance(
        state: PPOTrainState, first_chunk: jax.Array, hparams: PPOHParams | None = None, *, num_chunks: int
    ) -> tuple[PPOTrainState, ChunkLog]:
        hp = config.hparams() if hparams is None else hparams
        chex.assert_shape(jax.tree.leaves(hp), ())
        chex.assert_shape(first_chunk, ())

        def block(ts: PPOTrainState, b: jax.Array):
            """One rollout, its update and σ adaptation; the block's log."""
            sigma = ts.noise.sigma
            if config.exploration != "param":
                std = jnp.mean(jnp.exp(ts.agent.params.log_std)) if not discrete else jnp.float32(0.0)
                sigma = std.astype(jnp.float32)
            ts, rollout = parts.rollout(ts, hp)
            ts, infos = parts.learn(ts, rollout, hp)
            ts, distance = parts.adapt(ts, rollout, hp)
            end_step = (b + 1) * rollout_steps
            if goal is not None:  # steps whose reward reached the goal, and the first of them
                hits = jnp.sum(rollout.reward > goal.reward_above, axis=1, dtype=jnp.int32)  # [T]
                first = b * rollout_steps + (jnp.argmax(hits > 0) + 1) * config.num_envs
                reached = (ts.first_goal_step < 0) & jnp.any(hits > 0)
                ts = ts._replace(
                    goal_hits=ts.goal_hits + jnp.sum(hits),
                    first_goal_step=jnp.where(reached, first, ts.first_goal_step).astype(jnp.int32),
                )
            value_loss, policy_loss = jnp.mean(infos.value_loss), jnp.mean(infos.policy_loss)
            nonfinite = NonFinite(
                loss=_first_failure(ts.nonfinite.loss, jnp.isfinite(value_loss + policy_loss), end_step),
                params=_first_failure(ts.nonfinite.params, _all_finite(ts.agent), end_step),
                exploration=_first_failure(ts.nonfinite.exploration, _all_finite(ts.noise), end_step),
            )
            log = (
                end_step,
                sigma,
                distance,
                jnp.nanmean(ts.last_return),
                value_loss,
                policy_loss,
                ts.goal_hits,
            )
            return ts._replace(goal_hits=jnp.zeros_like(ts.goal_hits), nonfinite=nonfinite), log

        def chunk(ts: PPOTrainState, c: jax.Array):
            ts, logs = jax.lax.scan(block, ts, c * blocks_per_eval + jnp.arange(blocks_per_eval))
            key, eval_key = jax.random.split(ts.key)
            eval_return, upside_down = parts.evaluate(eval_key, ts)
            eval_step = (c + 1) * config.eval_every
            if progress_fn is not None:
                jax.debug.callback(progress_fn, eval_step, eval_return)
            return ts._replace(key=key), ChunkLog(eval_step, eval_return, upside_down, *logs)

        return jax.lax.scan(chunk, state, first_chunk + jnp.arange(num_chunks))

    def finish(state: PPOTrainState, log: ChunkLog) -> Metrics:
        """The run's :class:`~pn_jax.train.Metrics` from its final state and every chunk's log, in order."""
        return metrics_of(log, state.first_goal_step, jnp.zeros((0, 0), jnp.int32), state.nonfinite)

    return Trainer(parts.init, advance, finish, config.total_steps // config.eval_every, config.eval_every)


def make_ppo_parts(config: PPOConfig, *, env: Any = None, env_params: Any = None) -> PPOParts:
    """The pieces of one PPO block (see :class:`PPOParts`); arguments as :func:`make_ppo_train`."""
    if not isinstance(config, PPOConfig):
        raise TypeError(f"make_ppo_train expects a PPOConfig, got {type(config).__name__}")
    env = build_ppo_env(config, env, env_params)
    discrete = env.num_actions > 0
    policy = ppo.PolicyMean(env.num_actions if discrete else env.action_dim, config.hidden_sizes, config.layer_norm)
    value_net = ppo.ValueNetwork(config.hidden_sizes)
    num_envs, num_steps = config.num_envs, config.num_steps
    param = config.exploration == "param"
    seen = lambda stats, obs: network_input(config, stats, obs)  # noqa: E731

    example = jax.eval_shape(lambda k: policy.init(k, jnp.zeros((1, env.obs_dim), jnp.float32)), jax.random.key(0))
    mask = perturbable_mask(example)
    size = ppo.num_perturbable(example, mask) if param else 0  # P

    def agent(hp: PPOHParams) -> ppo.PPO:
        return ppo.make_ppo(
            policy,
            value_net,
            discrete,
            lr=hp.lr,
            clip_eps=hp.clip_eps,
            ent_coef=hp.ent_coef,
            vf_coef=hp.vf_coef,
            max_grad_norm=config.max_grad_norm,
            anneal_updates=config.num_updates if config.anneal_lr else 0,
            init_log_std=config.init_log_std,
            learn_log_std=config.learn_log_std,
            clip_value=config.clip_value,
        )

    def noise_of(noise: PPONoiseState, policy_params: Any, rows: jax.Array) -> Any:
        """``σ·ε`` of envs ``rows [G]`` cut into the mean network's leaves (None without parameter noise)."""
        if not param:
            return None
        return ppo.noise_tree(policy_params, noise.epsilon[rows], noise.sigma, mask)

    def init(key: chex.PRNGKey, hparams: PPOHParams | None = None) -> PPOTrainState:
        """The state before the first step: fresh learner and noise, reset envs."""
        hp = config.hparams() if hparams is None else hparams
        chex.assert_shape(jax.tree.leaves(hp), ())
        agent_key, env_key, noise_key, loop_key = jax.random.split(key, 4)
        obs, env_state = envs.reset(env_key, env, num_envs)
        noise = PPONoiseState(
            sigma=jnp.asarray(hp.sigma_init, jnp.float32),
            epsilon=jax.random.normal(noise_key, (num_envs, size), jnp.float32),
            steps=jnp.zeros((num_envs,), jnp.int32),
            due=jnp.zeros((num_envs,), bool),
        )
        return PPOTrainState(
            agent=agent(hp).init(agent_key, obs[0]),
            noise=noise,
            env_state=env_state,
            obs=obs,
            obs_stats=normalization.init(obs.shape[1:]),
            episode_return=jnp.zeros((num_envs,), jnp.float32),
            last_return=jnp.full((num_envs,), jnp.nan, jnp.float32),
            goal_hits=jnp.zeros((), jnp.int32),
            first_goal_step=jnp.array(-1, jnp.int32),
            nonfinite=NonFinite.none(),
            key=loop_key,
        )

    def rollout(ts: PPOTrainState, hparams: PPOHParams | None = None) -> tuple[PPOTrainState, Rollout]:
        """``num_steps`` vector steps with the current policy (perturbed per env under ``param``)."""
        learner = agent(config.hparams() if hparams is None else hparams)
        params = ts.agent.params
        key, rollout_key = jax.random.split(ts.key)
        acting = noise_of(ts.noise, params.policy, jnp.arange(num_envs))  # θ and every ε_i hold for the rollout

        def step(ts: PPOTrainState, step_key: chex.PRNGKey):
            act_key, env_key = jax.random.split(step_key)
            x = seen(ts.obs_stats, ts.obs)
            out = learner.policy_out(params, x, acting)
            if param:
                clean = learner.policy_out(params, x)
                divergence = ppo.kl(clean, out, params.log_std, discrete)
            else:
                divergence = jnp.zeros((num_envs,), jnp.float32)
            action = ppo.sample(act_key, out, params.log_std, discrete)
            log_prob = ppo.log_prob(out, params.log_std, action, discrete)
            value = learner.value(params, x)
            stats = normalization.update(ts.obs_stats, ts.obs) if config.obs_norm else ts.obs_stats
            s = envs.step(env_key, env, ts.env_state, action)
            next_value = learner.value(params, seen(stats, s.next_obs))
            done = s.terminated | s.truncated
            episode_return = ts.episode_return + s.reward
            noise = ts.noise
            if param:  # env i's ε is due a renewal once its episode ends (or after resample_every steps)
                steps = noise.steps + 1
                ended = steps >= config.resample_every if config.resample_every > 0 else done
                noise = noise._replace(steps=steps, due=noise.due | ended)
            record = Rollout(
                obs=x,
                action=action,
                log_prob=log_prob,
                value=value,
                next_value=next_value,
                reward=s.reward,
                terminated=s.terminated,
                done=done,
                kl=divergence,
            )
            ts = ts._replace(
                noise=noise,
                env_state=s.state,
                obs=s.obs,
                obs_stats=stats,
                episode_return=jnp.where(done, 0.0, episode_return),
                last_return=jnp.where(done, episode_return, ts.last_return),
            )
            return ts, record

        ts, record = jax.lax.scan(step, ts, jax.random.split(rollout_key, num_steps))
        return ts._replace(key=key), record

    def learn(
        ts: PPOTrainState, record: Rollout, hparams: PPOHParams | None = None
    ) -> tuple[PPOTrainState, ppo.PPOInfo]:
        """GAE over ``record``, then ``update_epochs`` passes of ``num_minibatches`` minibatches (whole envs
        with ``minibatch_by_env``, else shuffled transitions).

        Under parameter noise with whole-env minibatches, ``π_old(a|s)`` is recomputed once, at the
        rollout's θ and ε, by the same program as the epochs' (one perturbed copy per env): the
        rollout's log-probs come from the per-sample acting program, equal up to float rounding,
        which on an accelerator's reduced-precision matrix products could keep the first ratio
        from being 1."""
        hp = config.hparams() if hparams is None else hparams
        learner = agent(hp)
        advantage, target = ppo.gae(
            record.reward, record.value, record.next_value, record.terminated, record.done, hp.gamma, hp.gae_lambda
        )
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731  [T, N, ...] -> [T·N, ...]
        batch = ppo.Batch(
            obs=flat(record.obs),
            action=flat(record.action),
            log_prob=flat(record.log_prob),
            value=flat(record.value),
            advantage=flat(advantage),
            target=flat(target),
        )
        key, epochs_key = jax.random.split(ts.key)

        if config.minibatch_by_env:  # minibatch: all T steps of N / num_minibatches envs
            by_env = jax.tree.map(lambda x: jnp.swapaxes(x.reshape((num_steps, num_envs) + x.shape[1:]), 0, 1), batch)
            if param:  # π_old(a|s) recomputed by the program the epochs use: the ratio's two sides round alike
                env_major = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731  [N, T, ...] -> [N·T, ...]
                params = ts.agent.params
                acting = noise_of(ts.noise, params.policy, jnp.arange(num_envs))
                out = learner.policy_out(params, env_major(by_env.obs), acting)
                old = ppo.log_prob(out, params.log_std, env_major(by_env.action), discrete)
                by_env = by_env._replace(log_prob=old.reshape(num_envs, num_steps))

            def minibatch(agent_state: ppo.PPOState, rows: jax.Array):
                part = jax.tree.map(lambda x: x[rows].reshape((-1,) + x.shape[2:]), by_env)  # env-major [G·T, ...]
                return learner.update(agent_state, part, noise_of(ts.noise, agent_state.params.policy, rows))

            units = num_envs
        else:  # minibatch: shuffled transitions, each with its env's ε

            def minibatch(agent_state: ppo.PPOState, rows: jax.Array):
                part = jax.tree.map(lambda x: x[rows], batch)
                return learner.update(agent_state, part, noise_of(ts.noise, agent_state.params.policy, rows % num_envs))

            units = num_envs * num_steps

        def epoch(agent_state: ppo.PPOState, epoch_key: chex.PRNGKey):
            order = jax.random.permutation(epoch_key, units).reshape(config.num_minibatches, -1)
            return jax.lax.scan(minibatch, agent_state, order)

        agent_state, infos = jax.lax.scan(epoch, ts.agent, jax.random.split(epochs_key, config.update_epochs))
        return ts._replace(agent=agent_state, key=key), infos

    def adapt(ts: PPOTrainState, record: Rollout, hparams: PPOHParams | None = None) -> tuple[PPOTrainState, jax.Array]:
        """σ adapted to the rollout's mean KL (δ = ``target_distance``), and a fresh ε for every env due
        one. Returns the measured KL (0 without parameter noise)."""
        hp = config.hparams() if hparams is None else hparams
        key, noise_key = jax.random.split(ts.key)
        distance = jnp.mean(record.kl)
        if not param:
            return ts._replace(key=key), distance
        noise = ts.noise
        fresh = jax.random.normal(noise_key, noise.epsilon.shape, jnp.float32)
        noise = PPONoiseState(
            sigma=adapt_sigma(noise.sigma, distance, hp.target_distance, hp.adapt_alpha),
            epsilon=jnp.where(noise.due[:, None], fresh, noise.epsilon),
            steps=jnp.where(noise.due, 0, noise.steps),
            due=jnp.zeros_like(noise.due),
        )
        return ts._replace(noise=noise, key=key), distance

    def evaluate(key: chex.PRNGKey, ts: PPOTrainState) -> tuple[jax.Array, jax.Array]:
        """Mean return of ``eval_episodes`` full episodes of the unperturbed mean policy (deterministic:
        the mean action, or the argmax), and the share of them that ended upside down (NaN: no torso)."""
        params, stats = ts.agent.params, ts.obs_stats
        act = lambda obs: ppo.mode(policy.apply(params.policy, seen(stats, obs)), discrete)  # noqa: E731
        episodes = run_episodes(key, env, act, config.eval_episodes, probe=env.upright)
        upside_down = jnp.mean(episodes.final_probe < 0) if env.upright is not None else jnp.float32(jnp.nan)
        return jnp.mean(episodes.returns), upside_down.astype(jnp.float32)

    return PPOParts(env, agent, init, rollout, learn, adapt, evaluate, noise_of)


def build_ppo_env(config: PPOConfig, env: Any = None, env_params: Any = None) -> envs.Env:
    """The :class:`~pn_jax.envs.Env` a PPO run trains on, of either action kind: ``env`` (your own
    object, labelled ``config.env``) or the environment ``config.env`` names."""
    name = config.env
    if env is not None:
        if envs.is_known(name) or envs.is_registered(name) or envs.is_entry_point(name):
            raise ValueError(
                f"env: config.env {name!r} names an environment, but env= gives another; label yours with "
                "a name of its own, e.g. PPOConfig(env='my-task')"
            )
        return envs.from_object(env, env_params, name=name, discrete=_has_discrete_actions(env, env_params))
    if env_params is not None:
        raise ValueError("env_params: given without env (a named environment brings its own parameters)")
    if envs.is_registered(name) or envs.is_entry_point(name):
        made, params = envs.custom(name)
        return envs.from_object(made, params, name=name, discrete=_has_discrete_actions(made, params))
    if envs.is_known(name) and not envs.brax_envs.is_brax(name):
        return envs.make(name, discrete=not envs.is_continuous(name))
    return envs.make(name, brax_backend=config.brax_backend)  # brax/<name>, or the error naming an unknown env


def _has_discrete_actions(env: Any, params: Any) -> bool:
    """Whether an environment object has a discrete action space (a brax Env never has)."""
    if not hasattr(env, "action_space"):
        return False
    params = getattr(env, "default_params", None) if params is None else params
    try:
        space = env.action_space(params)
    except Exception:  # the user's code: from_object reports it with the kind it assumes
        return False
    return isinstance(getattr(space, "n", None), int) and not hasattr(space, "low")
