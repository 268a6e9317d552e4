"""Two behaviour policies for Gymnasium's CartPole-v1, the sources of the offline data set in guides/decisions.md.

An observation is `(cart position, cart velocity, pole angle, pole angular
velocity)`; action 0 pushes the cart left, 1 right; each step the pole stays
up earns 1, up to 500 steps.
"""

import numpy as np

from dlzoo.validation import check_rate


def random_policy(observation: np.ndarray, rng: np.random.Generator) -> int:
    """Push left or right with equal probability."""
    return int(rng.integers(2))


class NoisyBalancer:
    """Push towards where the pole is falling, with probability `epsilon` of a random push instead.

    The pole falls right when `angle + angular_velocity * lookahead > 0`
    (its angle a fraction of a second ahead); pushing the cart right then
    brings the base under it. The controller ignores the cart's position,
    so the cart drifts and some episodes end by leaving the track; the
    random pushes make it imperfect, so the data set mixes good and poor
    episodes.

    Args:
        epsilon: float. Probability of a random action. Defaults to `0.2`.
        lookahead: float. Weight of the angular velocity. Defaults to `0.5`.
    """

    def __init__(self, epsilon: float = 0.2, lookahead: float = 0.5):
        self.epsilon = check_rate("epsilon", epsilon)
        self.lookahead = float(lookahead)

    def __call__(self, observation: np.ndarray, rng: np.random.Generator) -> int:
        if rng.random() < self.epsilon:
            return int(rng.integers(2))
        return int(observation[2] + self.lookahead * observation[3] > 0)
