"""`dlzoo.decisions`: returns-to-go, the data checks against a model's action space, and training windows."""

import numpy as np
import pytest

from dlzoo.decisions import ActionSpace, NoisyBalancer, Trajectory, check_trajectories, returns_to_go, sample_segments

SPACE = ActionSpace(state_dim=3, action_dim=2, action_space="discrete", context_length=4, max_episode_length=10)


def episode(steps, seed=0, actions=None, state_dim=3):
    rng = np.random.default_rng(seed)
    return Trajectory(
        states=rng.standard_normal((steps, state_dim)).astype("float32"),
        actions=rng.integers(0, 2, steps) if actions is None else np.asarray(actions),
        rewards=rng.random(steps).astype("float32"),
    )


def test_returns_to_go_is_the_sum_of_the_rewards_still_to_come():
    rewards = np.array([1.0, 0.5, 2.0, -1.0])
    np.testing.assert_allclose(returns_to_go(rewards), [2.5, 1.5, 1.0, -1.0])
    discounted = [sum(0.9 ** (j - t) * rewards[j] for j in range(t, 4)) for t in range(4)]
    np.testing.assert_allclose(returns_to_go(rewards, discount=0.9), discounted)


@pytest.mark.parametrize(
    "trajectory, argument, value",
    [
        (episode(5, actions=[0, 1, 2, 0, 1]), "action_dim", "action=2"),
        (episode(5, actions=[0, 1, -1, 0, 1]), "action_dim", "action=-1"),
        (episode(5, actions=np.zeros((5, 2))), "actions", "(5, 2)"),
        (episode(5, state_dim=4), "state_dim", "(5, 4)"),
        (episode(11), "max_episode_length", "11"),
    ],
)
def test_data_that_does_not_fit_the_action_space_is_refused(trajectory, argument, value):
    with pytest.raises(ValueError, match=argument) as info:
        check_trajectories([episode(3), trajectory], SPACE)
    assert value in str(info.value) and "episode 1" in str(info.value)


def test_continuous_actions_of_the_wrong_width_are_refused():
    space = ActionSpace(state_dim=3, action_dim=2, action_space="continuous", context_length=4, max_episode_length=10)
    check_trajectories([episode(5, actions=np.zeros((5, 2)))], space)
    with pytest.raises(ValueError, match=r"action_dim.*Received: actions.shape=\(5, 3\), action_dim=2"):
        check_trajectories([episode(5, actions=np.zeros((5, 3)))], space)


def test_the_action_space_checks_its_own_values():
    with pytest.raises(ValueError, match="action_space.*'box'"):
        ActionSpace(state_dim=3, action_dim=2, action_space="box", context_length=4, max_episode_length=10)
    with pytest.raises(ValueError, match="context_length.*0"):
        ActionSpace(state_dim=3, action_dim=2, action_space="discrete", context_length=0, max_episode_length=10)


def test_windows_are_slices_of_the_episodes_left_padded():
    episodes = [episode(6, seed=0), episode(3, seed=1)]
    inputs, targets = sample_segments(episodes, SPACE, num_segments=40, seed=0, return_scale=2.0)
    assert inputs["states"].shape == (40, 4, 3) and inputs["actions"].shape == (40, 4, 2) and targets.shape == (40, 4)
    for i in range(40):
        mask = inputs["padding_mask"][i]
        n = int(mask.sum())
        assert mask.tolist() == [False] * (4 - n) + [True] * n  # real steps at the end
        steps = inputs["timesteps"][i, 4 - n:]
        assert np.all(np.diff(steps) == 1)
        source = next(e for e in episodes
                      if len(e) > steps[-1] and np.allclose(e.states[steps], inputs["states"][i, 4 - n:]))
        rtg = np.cumsum(source.rewards[::-1])[::-1]
        np.testing.assert_allclose(inputs["returns_to_go"][i, 4 - n:, 0], rtg[steps] / 2.0, rtol=1e-6)
        np.testing.assert_array_equal(targets[i, 4 - n:], source.actions[steps])
        np.testing.assert_array_equal(inputs["actions"][i, 4 - n:].argmax(-1), source.actions[steps])
        assert n == min(4, steps[-1] + 1)  # the window ends at a random step and reaches back K steps at most
        assert not inputs["states"][i, : 4 - n].any() and not inputs["timesteps"][i, : 4 - n].any()


def test_the_balancer_pushes_towards_the_falling_side():
    rng = np.random.default_rng(0)
    assert NoisyBalancer(epsilon=0.0)(np.array([0.0, 0.0, 0.05, 0.0]), rng) == 1
    assert NoisyBalancer(epsilon=0.0)(np.array([0.0, 0.0, 0.05, -0.2]), rng) == 0
