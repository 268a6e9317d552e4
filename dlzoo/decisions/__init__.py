"""Offline reinforcement learning with a Decision Transformer: trajectories, training windows, online evaluation.

See `guides/decisions.md`. The environments are Gymnasium-style objects the
caller makes (`reset(seed=)`, `step(action)`); nothing here imports Gymnasium.
"""

from dlzoo.decisions.cartpole import NoisyBalancer, random_policy
from dlzoo.decisions.evaluation import evaluate_conditioned
from dlzoo.decisions.segments import sample_segments
from dlzoo.decisions.trajectories import (
    ActionSpace,
    Trajectory,
    check_trajectories,
    collect_episodes,
    returns_summary,
    returns_to_go,
)

__all__ = [
    "ActionSpace",
    "NoisyBalancer",
    "Trajectory",
    "check_trajectories",
    "collect_episodes",
    "evaluate_conditioned",
    "random_policy",
    "returns_summary",
    "returns_to_go",
    "sample_segments",
]
