"""Trajectories for offline RL: episodes, returns-to-go, and the checks that tie them to a model's action space."""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from dlzoo.validation import check_choice, check_float, check_positive_int

ACTION_SPACES = ("continuous", "discrete")


@dataclass
class Trajectory:
    """One episode: `states (T, state_dim)`, `actions` (`(T,)` ints or `(T, action_dim)` floats), `rewards (T,)`.

    `actions[t]` is taken in `states[t]` and earns `rewards[t]`.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def total_return(self) -> float:
        return float(np.sum(self.rewards))


@dataclass(frozen=True)
class ActionSpace:
    """What a Decision Transformer reads and predicts (its family params), checked against data.

    Args:
        state_dim: int. Size of a state.
        action_dim: int. Number of actions (discrete) or action width (continuous).
        action_space: str. `"discrete"` or `"continuous"`.
        context_length: int. Steps per model input `K`.
        max_episode_length: int. Timesteps must lie in `[0, max_episode_length)`.
    """

    state_dim: int
    action_dim: int
    action_space: str
    context_length: int
    max_episode_length: int

    def __post_init__(self):
        for name in ("state_dim", "action_dim", "context_length", "max_episode_length"):
            check_positive_int(name, getattr(self, name))
        check_choice("action_space", self.action_space, ACTION_SPACES)

    @classmethod
    def of_model(cls, model) -> "ActionSpace":
        """The action space of a built `decision_transformer` model (from its resolved params)."""
        params = model.zoo_config["params"]
        return cls(**{k: params[k] for k in ("state_dim", "action_dim", "action_space", "context_length",
                                             "max_episode_length")})

    def model_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions as the model reads them: one-hot `(T, action_dim)` (discrete) or as given (continuous)."""
        if self.action_space == "discrete":
            return np.eye(self.action_dim, dtype="float32")[np.asarray(actions, "int64")]
        return np.asarray(actions, "float32")


def returns_to_go(rewards: Sequence[float], discount: float = 1.0) -> np.ndarray:
    """`R_t = sum_{t' >= t} discount**(t' - t) * r_t'`: the return still to come from step `t` (float64).

    The Decision Transformer uses the undiscounted sum (`discount=1`).
    """
    discount = check_float("discount", discount, min_value=0.0, max_value=1.0)
    rewards = np.asarray(rewards, "float64")
    out = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + discount * running
        out[t] = running
    return out


def check_trajectories(trajectories: Sequence[Trajectory], space: ActionSpace) -> None:
    """Raise a `ValueError` naming the argument and value where the data does not fit the model's action space."""
    if len(trajectories) == 0:
        raise ValueError("`trajectories` must hold at least one episode. Received: trajectories=[].")
    for i, trajectory in enumerate(trajectories):
        states, actions, rewards = (np.asarray(a) for a in (trajectory.states, trajectory.actions, trajectory.rewards))
        steps = len(rewards)
        where = f"episode {i}"
        if steps == 0 or rewards.ndim != 1:
            raise ValueError(f"`rewards` of {where} must be a non-empty vector. Received: shape={rewards.shape}.")
        if steps > space.max_episode_length:
            raise ValueError(
                f"{where} has {steps} steps, so timesteps up to {steps - 1}, but the timestep table has "
                f"max_episode_length={space.max_episode_length} rows (timesteps must be < max_episode_length). "
                f"Received: episode length={steps}, max_episode_length={space.max_episode_length}."
            )
        if states.shape != (steps, space.state_dim):
            raise ValueError(
                f"`states` of {where} must have shape (steps, state_dim) = ({steps}, {space.state_dim}). "
                f"Received: states.shape={states.shape}, state_dim={space.state_dim}."
            )
        if space.action_space == "discrete":
            bad = actions.shape != (steps,) or not np.issubdtype(actions.dtype, np.integer)
            if bad:
                raise ValueError(
                    f"Discrete `actions` of {where} must be integers of shape ({steps},). "
                    f"Received: actions.shape={actions.shape}, dtype={actions.dtype}, action_space='discrete'."
                )
            outside = actions[(actions < 0) | (actions >= space.action_dim)]
            if outside.size:
                raise ValueError(
                    f"Discrete `actions` of {where} must lie in [0, action_dim) = [0, {space.action_dim}). "
                    f"Received: action={int(outside[0])}, action_dim={space.action_dim}."
                )
        elif actions.shape != (steps, space.action_dim):
            raise ValueError(
                f"Continuous `actions` of {where} must have shape (steps, action_dim) = ({steps}, {space.action_dim}). "
                f"Received: actions.shape={actions.shape}, action_dim={space.action_dim}."
            )


Policy = Callable[[np.ndarray, np.random.Generator], Any]


def collect_episodes(make_env: Callable[[], Any], policy: Policy, num_episodes: int, seed: int = 0,
                     max_steps: Optional[int] = None) -> List[Trajectory]:
    """Run `policy` for `num_episodes` episodes of a Gymnasium-style environment; episode `i` is reset with `seed + i`.

    Args:
        make_env: callable. Returns an environment with `reset(seed=)` and
            `step(action) -> (obs, reward, terminated, truncated, info)`.
        policy: callable. `(observation, rng) -> action`.
        num_episodes: int. Episodes to run.
        seed: int. Seed of the first episode's reset and of the policy's generator.
        max_steps: int or None. Cut episodes after this many steps (the
            environment's own time limit otherwise).
    """
    check_positive_int("num_episodes", num_episodes)
    check_positive_int("max_steps", max_steps, allow_none=True)
    env = make_env()
    rng = np.random.default_rng(seed)
    episodes = []
    for i in range(num_episodes):
        observation, _ = env.reset(seed=seed + i)
        states, actions, rewards = [], [], []
        done = False
        while not done and (max_steps is None or len(rewards) < max_steps):
            action = policy(np.asarray(observation), rng)
            states.append(np.asarray(observation, "float32"))
            actions.append(action)
            observation, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            done = terminated or truncated
        episodes.append(Trajectory(np.stack(states), np.asarray(actions), np.asarray(rewards, "float32")))
    env.close()
    return episodes


def returns_summary(trajectories: Sequence[Trajectory]) -> Dict[str, float]:
    """Mean, standard deviation, min and max of the episodes' returns."""
    returns = np.array([t.total_return for t in trajectories])
    return {"mean": float(returns.mean()), "std": float(returns.std()), "min": float(returns.min()),
            "max": float(returns.max()), "episodes": len(returns)}
