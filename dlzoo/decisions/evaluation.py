"""Online evaluation of a Decision Transformer: act in the environment, conditioned on a target return."""

from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from dlzoo.decisions.segments import window
from dlzoo.decisions.trajectories import ActionSpace
from dlzoo.validation import check_float, check_positive_int


class Rollout:
    """One episode being played: its environment and the history the model reads."""

    def __init__(self, env, seed: int, target_return: float):
        self.env = env
        observation, _ = env.reset(seed=seed)
        self.states = [np.asarray(observation, "float32")]
        self.actions = []
        self.returns = [float(target_return)]  # return still to get, before each step
        self.total = 0.0
        self.done = False
        self.last_inputs = None  # a finished episode keeps its place in the batch with its last window

    def inputs(self, space: ActionSpace, return_scale: float) -> Dict[str, np.ndarray]:
        """The last `K` steps, with a zero placeholder for the action about to be chosen."""
        if self.done:
            return self.last_inputs
        t = len(self.states)
        if t > space.max_episode_length:
            raise ValueError(
                f"The episode reached timestep {t - 1}, past the timestep table of the model "
                f"(max_episode_length={space.max_episode_length}). Received: timestep={t - 1}, "
                f"max_episode_length={space.max_episode_length}. Cut episodes with `max_steps`."
            )
        actions = np.zeros((t, space.action_dim), "float32")
        if self.actions:
            actions[:-1] = space.model_actions(np.asarray(self.actions))
        start = max(0, t - space.context_length)
        self.last_inputs = window(np.stack(self.states), actions, np.asarray(self.returns), start, t, space,
                                  return_scale)
        return self.last_inputs

    def step(self, action) -> None:
        observation, reward, terminated, truncated, _ = self.env.step(action)
        self.actions.append(action)
        self.total += float(reward)
        self.done = bool(terminated or truncated)
        if not self.done:
            self.states.append(np.asarray(observation, "float32"))
            self.returns.append(self.returns[-1] - float(reward))


def choose_actions(predictions: np.ndarray, space: ActionSpace):
    """The model's action at the last step: argmax of the logits (discrete) or the predicted vector (continuous)."""
    last = predictions[:, -1]
    if space.action_space == "discrete":
        return [int(a) for a in np.argmax(last, axis=-1)]
    return [np.asarray(a, "float32") for a in last]


def evaluate_conditioned(model, make_env: Callable[[], Any], target_return: float, seeds: Sequence[int],
                         return_scale: float = 1.0, max_steps: Optional[int] = None) -> Dict[str, Any]:
    """Play one episode per seed with a Decision Transformer conditioned on `target_return`; episodes run in lockstep.

    At step `t` the model reads the last `K` steps of (return-to-go, state,
    action), where the return-to-go starts at `target_return` and drops by
    each reward received (the paper's evaluation), and the chosen action is
    the prediction at the last state token (greedy for discrete actions).
    All episodes form one batch, so the model runs once per step.

    Args:
        model: a built `decision_transformer` model.
        make_env: callable. Returns a Gymnasium-style environment.
        target_return: float. Return the model is asked to achieve.
        seeds: list of int. One episode per seed (its reset seed).
        return_scale: float. The scale the model was trained with.
        max_steps: int or None. Cut episodes after this many steps.

    Returns:
        dict: `returns` and `lengths` (one per seed), `mean`, `std`.
    """
    space = ActionSpace.of_model(model)
    check_float("target_return", target_return)
    return_scale = check_float("return_scale", return_scale, min_value=0.0, min_inclusive=False)
    check_positive_int("max_steps", max_steps, allow_none=True)
    if len(seeds) == 0:
        raise ValueError("`seeds` must name at least one episode. Received: seeds=[].")
    rollouts = [Rollout(make_env(), int(seed), target_return) for seed in seeds]
    steps = 0
    while not all(r.done for r in rollouts) and (max_steps is None or steps < max_steps):
        windows = [r.inputs(space, return_scale) for r in rollouts]
        batch = {name: np.stack([w[name] for w in windows]) for name in windows[0]}
        predictions = model.predict_on_batch(batch)["action_preds"]
        for rollout, action in zip(rollouts, choose_actions(np.asarray(predictions), space)):
            if not rollout.done:
                rollout.step(action)
        steps += 1
    for rollout in rollouts:
        rollout.env.close()
    returns = np.array([r.total for r in rollouts])
    return {"returns": returns.tolist(), "lengths": [len(r.actions) for r in rollouts],
            "mean": float(returns.mean()), "std": float(returns.std())}
