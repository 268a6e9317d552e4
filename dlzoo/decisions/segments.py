"""Training windows for a Decision Transformer: `K`-step segments of trajectories, left-padded at episode starts."""

from typing import Dict, Sequence, Tuple

import numpy as np

from dlzoo.decisions.trajectories import ActionSpace, Trajectory, check_trajectories, returns_to_go
from dlzoo.validation import check_float, check_positive_int


def pad_left(array: np.ndarray, length: int) -> np.ndarray:
    """`array` with zeros put in front along the first axis, up to `length` rows."""
    missing = length - len(array)
    return np.concatenate([np.zeros((missing,) + array.shape[1:], array.dtype), array]) if missing else array


def window(states, actions, returns, start, end, space: ActionSpace, return_scale: float) -> Dict[str, np.ndarray]:
    """Model inputs for steps `start .. end - 1` of one episode, left-padded to `space.context_length` steps.

    Padded steps have zero states, actions, returns and timesteps and
    `padding_mask=False`; `actions` are in the model's form (one-hot for
    discrete actions); returns-to-go are divided by `return_scale`.
    """
    k = space.context_length
    steps = end - start
    return {
        "returns_to_go": pad_left(np.asarray(returns[start:end], "float32")[:, None] / return_scale, k),
        "states": pad_left(np.asarray(states[start:end], "float32"), k),
        "actions": pad_left(np.asarray(actions[start:end], "float32"), k),
        "timesteps": pad_left(np.arange(start, end, dtype="int32"), k),
        "padding_mask": pad_left(np.ones(steps, bool), k),
    }


def sample_segments(trajectories: Sequence[Trajectory], space: ActionSpace, num_segments: int, seed: int = 0,
                    return_scale: float = 1.0) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Random `K`-step training windows and their action targets, as in the paper's training loop.

    An episode is drawn with probability proportional to its length, then
    a uniformly random step `t` of it; the window is steps `t - K + 1 .. t`
    (cut at the episode start and left-padded), so each step is equally
    likely to be the last of a window and the model learns from partial
    contexts as it will see them at the start of an evaluation episode.
    The data is checked against the model's action space first.

    Args:
        trajectories: list of `Trajectory`.
        space: `ActionSpace` of the model (`ActionSpace.of_model(model)`).
        num_segments: int. Windows to draw.
        seed: int. Seed of the draws.
        return_scale: float. Returns-to-go are divided by it (keeps the
            return input near unit scale; CartPole's returns reach 500).

    Returns:
        A tuple `(inputs, targets)`: `inputs` is a dict of the model's
        inputs with a leading `num_segments` axis; `targets` holds the
        actions taken (ints `(n, K)` for discrete actions, floats
        `(n, K, action_dim)` for continuous ones). `inputs["padding_mask"]`
        says which steps are real (use it as the loss's sample weight).
    """
    check_trajectories(trajectories, space)
    check_positive_int("num_segments", num_segments)
    return_scale = check_float("return_scale", return_scale, min_value=0.0, min_inclusive=False)
    rng = np.random.default_rng(seed)
    lengths = np.array([len(t) for t in trajectories])
    episode_of = rng.choice(len(trajectories), size=num_segments, p=lengths / lengths.sum())
    prepared = [(t.states, space.model_actions(t.actions), returns_to_go(t.rewards), t.actions) for t in trajectories]
    windows, targets = [], []
    k = space.context_length
    for i in episode_of:
        states, actions, returns, raw_actions = prepared[i]
        end = int(rng.integers(1, len(returns) + 1))
        start = max(0, end - k)
        windows.append(window(states, actions, returns, start, end, space, return_scale))
        targets.append(pad_left(np.asarray(raw_actions[start:end]), k))
    inputs = {name: np.stack([w[name] for w in windows]) for name in windows[0]}
    target_dtype = "int32" if space.action_space == "discrete" else "float32"
    return inputs, np.stack(targets).astype(target_dtype)
