"""`evaluate_conditioned`: what the model reads at each step, the timestep check, and the CartPole loop end to end."""

import os
import sys

import keras
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from dlzoo.decisions import evaluate_conditioned  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_cartpole():
    return gymnasium.make("CartPole-v1")


class RecordingModel:
    """A stand-in Decision Transformer that pushes right and records every batch it reads."""

    def __init__(self, context_length=3, max_episode_length=50):
        self.zoo_config = {"params": {"state_dim": 4, "action_dim": 2, "action_space": "discrete",
                                      "context_length": context_length, "max_episode_length": max_episode_length}}
        self.batches = []

    def predict_on_batch(self, batch):
        self.batches.append({k: np.array(v) for k, v in batch.items()})
        logits = np.zeros(batch["states"].shape[:2] + (2,), "float32")
        logits[..., 1] = 1.0
        return {"action_preds": logits}


def test_the_model_reads_the_return_still_to_get_and_its_past_actions():
    model = RecordingModel()
    result = evaluate_conditioned(model, make_cartpole, target_return=40.0, seeds=[7, 8], return_scale=10.0,
                                  max_steps=5)
    assert result["lengths"] == [5, 5] and result["returns"] == [5.0, 5.0]
    replay = make_cartpole()
    observation, _ = replay.reset(seed=7)
    states = [observation]
    for t, batch in enumerate(model.batches):
        n = min(t + 1, 3)  # real steps in the window
        assert batch["padding_mask"][0].tolist() == [False] * (3 - n) + [True] * n
        np.testing.assert_array_equal(batch["timesteps"][0, 3 - n:], np.arange(t + 1 - n, t + 1))
        # CartPole pays 1 per step: the return-to-go falls by 1 each step, from the target, over return_scale.
        np.testing.assert_allclose(batch["returns_to_go"][0, 3 - n:, 0], (40.0 - np.arange(t + 1 - n, t + 1)) / 10.0)
        np.testing.assert_allclose(batch["states"][0, 3 - n:], np.stack(states[-n:]), rtol=1e-6)
        # Past actions one-hot (always "right"), the current one still a zero placeholder.
        np.testing.assert_array_equal(batch["actions"][0, -1], [0.0, 0.0])
        np.testing.assert_array_equal(batch["actions"][0, 3 - n:-1], np.tile([0.0, 1.0], (n - 1, 1)))
        observation, *_ = replay.step(1)
        states.append(observation)


def test_episodes_of_different_lengths_end_on_their_own():
    seeds = [0, 3, 5, 11]
    result = evaluate_conditioned(RecordingModel(), make_cartpole, target_return=100.0, seeds=seeds)
    expected = []
    for seed in seeds:  # always pushing right, replayed directly
        env = make_cartpole()
        env.reset(seed=seed)
        steps, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(1)
            steps, done = steps + 1, terminated or truncated
        expected.append(steps)
    assert len(set(expected)) > 1  # the test needs episodes that end at different steps
    assert result["lengths"] == expected and result["returns"] == [float(n) for n in expected]


def test_an_episode_past_the_timestep_table_is_refused():
    with pytest.raises(ValueError, match="max_episode_length=4.*timestep=4"):
        evaluate_conditioned(RecordingModel(max_episode_length=4), make_cartpole, 100.0, seeds=[0])


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the CartPole loop runs in the torch suite only")
def test_the_cartpole_loop_runs_end_to_end(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "guides", "examples"))
    try:
        import decision_transformer_cartpole
    finally:
        sys.path.pop(0)
    summary = decision_transformer_cartpole.main([
        "--out", str(tmp_path), "--model", "decision-transformer-tiny", "--episodes", "2", "--segments", "16",
        "--epochs", "1", "--batch-size", "16", "--eval-episodes", "2", "--max-steps", "4", "--targets", "500", "best",
    ])
    assert summary["data"]["data_set"]["episodes"] == 4
    assert np.isfinite(summary["train_loss"][0])
    for target in ("500", "best"):
        assert summary["evaluation"][target]["lengths"] == [4, 4]
    assert os.path.exists(tmp_path / "model.keras") and os.path.exists(tmp_path / "summary.json")
