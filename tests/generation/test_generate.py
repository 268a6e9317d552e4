"""`dlzoo.generate` on gpt-tiny and llama-tiny: the KV-cached loop against full forward passes, padding, stops, errors.

The reference for every cached step is the model's own functional forward
pass over the whole sequence so far (no cache), read at the column before the
one generated.
"""

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.generation import compiled, decode_loop

TOLERANCE = 1e-4
SMALL = dict(dropout=0.0, vocabulary_size=96, hidden_dim=32, max_sequence_length=48)


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {
        "gpt": dlzoo.build("gpt-tiny", use_position_ids=True, **SMALL),
        "llama": dlzoo.build("llama-tiny", **SMALL),
    }


def full_forward_logits(model, ids, key_mask):
    """Logits of the functional model over `ids` (no cache); positions count real tokens (GPT)."""
    feed = {"token_ids": ids.astype("int32"), "padding_mask": key_mask}
    if "position_ids" in model.input:
        feed["position_ids"] = np.maximum(np.cumsum(key_mask, axis=1) - 1, 0).astype("int32")
    return np.asarray(keras.ops.convert_to_numpy(model(feed)), "float64")


PROMPTS = np.array([[11, 12, 13, 14, 15], [0, 0, 21, 22, 23], [31, 32, 33, 0, 0]])
MASK = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0]], bool)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_cached_steps_equal_full_forward(models, family):
    model = models[family]
    ids, scores = dlzoo.generate(model, PROMPTS, padding_mask=MASK, max_new_tokens=6, return_scores=True)
    assert ids.shape == (3, 11)
    # Which slots hold real tokens once generated: the prompt's real tokens and every later column.
    key_mask = np.ones(ids.shape, bool)
    key_mask[:, :5] = MASK
    key_mask[2, 3:5] = True  # the right-padded row continues into its padding
    logits = full_forward_logits(model, ids, key_mask)
    for row, first_new in enumerate([5, 5, 3]):
        generated = slice(first_new, first_new + 6)
        np.testing.assert_array_equal(ids[row, generated], logits[row, first_new - 1:first_new + 5].argmax(-1))
        difference = np.abs(scores[row, generated] - logits[row, first_new - 1:first_new + 5]).max()
        assert difference <= TOLERANCE, (family, row, difference)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_padding_gives_the_unpadded_continuation(models, family):
    model = models[family]
    batched = dlzoo.generate(model, PROMPTS, padding_mask=MASK, max_new_tokens=5)
    alone = dlzoo.generate(model, PROMPTS[1:2, 2:], max_new_tokens=5)  # row 1 unpadded
    np.testing.assert_array_equal(batched[1, 5:10], alone[0, 3:])  # left-padded
    alone_right = dlzoo.generate(model, PROMPTS[2, :3], max_new_tokens=5)
    np.testing.assert_array_equal(batched[2, 3:8], alone_right[3:])  # right-padded: continues in its padding
    assert (batched[2, 8:] == 0).all()  # then pads: its 5 new tokens are done
    np.testing.assert_array_equal(batched[:2, :5], PROMPTS[:2])  # prompts as given, padding included
    np.testing.assert_array_equal(batched[2, :3], PROMPTS[2, :3])


def test_stop_tokens_end_each_sequence(models):
    model = models["llama"]
    free = dlzoo.generate(model, PROMPTS[:2], max_new_tokens=8)
    stop = int(free[0, 7])  # row 0's third new token
    first = np.flatnonzero(free[0, 5:] == stop)[0] + 5
    stopped = dlzoo.generate(model, PROMPTS[:2], max_new_tokens=8, stop_token_ids=[stop], pad_token_id=95)
    np.testing.assert_array_equal(stopped[0, : first + 1], free[0, : first + 1])
    assert (stopped[0, first + 1:] == 95).all()
    hits = np.flatnonzero(free[1, 5:] == stop)
    end = 5 + (hits[0] + 1 if len(hits) else 8)
    np.testing.assert_array_equal(stopped[1, :end], free[1, :end])
    assert stopped.shape[1] == max(first + 1, end)  # ends when every row is done


def test_max_length_caps_the_width(models):
    ids = dlzoo.generate(models["gpt"], PROMPTS, padding_mask=MASK, max_new_tokens=20, max_length=8)
    assert ids.shape == (3, 8)
    longer = dlzoo.generate(models["gpt"], PROMPTS, padding_mask=MASK, max_new_tokens=20)
    np.testing.assert_array_equal(ids, longer[:, :8])


def test_sampling_is_reproducible_with_a_seed(models):
    model = models["llama"]  # the token choice does not depend on the family
    kwargs = dict(max_new_tokens=10, do_sample=True, temperature=1.5, top_k=40, top_p=0.95)
    first = dlzoo.generate(model, PROMPTS, padding_mask=MASK, seed=7, **kwargs)
    np.testing.assert_array_equal(first, dlzoo.generate(model, PROMPTS, padding_mask=MASK, seed=7, **kwargs))
    assert (first != dlzoo.generate(model, PROMPTS, padding_mask=MASK, seed=8, **kwargs)).any()
    greedy = dlzoo.generate(model, PROMPTS, padding_mask=MASK, max_new_tokens=10)
    assert (first != greedy).any()
    np.testing.assert_array_equal(
        dlzoo.generate(model, PROMPTS, padding_mask=MASK, max_new_tokens=10, do_sample=True, top_k=1, seed=3), greedy
    )


def test_the_step_is_traced_once_per_shape(monkeypatch):
    """jax.jit / tf.function trace the loop once; torch traces its step once (torch.jit.trace)."""
    model = dlzoo.build("llama-tiny", **SMALL)
    calls = []
    real = decode_loop.decode_step

    def counting(*arguments):
        calls.append(1)
        return real(*arguments)

    monkeypatch.setattr(decode_loop, "decode_step", counting)
    monkeypatch.setattr(compiled, "decode_step", counting)
    kwargs = dict(max_new_tokens=6, do_sample=True, top_p=0.9)
    first = dlzoo.generate(model, PROMPTS, padding_mask=MASK, seed=1, temperature=0.7, **kwargs)
    other = np.where(MASK, PROMPTS + 40, 0)
    second = dlzoo.generate(model, other, padding_mask=MASK, seed=2, temperature=1.3, **kwargs)
    assert len(calls) == 1
    assert first.shape[1] == second.shape[1] == 11 and (first[:, 5:] != second[:, 5:]).any()


def test_model_method_is_the_function(models):
    ids = models["llama"].generate(PROMPTS, padding_mask=MASK, max_new_tokens=3)
    np.testing.assert_array_equal(ids, dlzoo.generate(models["llama"], PROMPTS, padding_mask=MASK, max_new_tokens=3))


def test_one_dimensional_prompt(models):
    ids = dlzoo.generate(models["gpt"], [3, 4, 5], max_new_tokens=2)
    assert ids.shape == (5,)
    np.testing.assert_array_equal(ids[:3], [3, 4, 5])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(max_new_tokens=60), "max_new_tokens"),  # past the learned position table (48)
        (dict(max_length=3), "max_length"),
        (dict(temperature=0.0), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(seed=-1), "seed"),
        (dict(stop_token_ids=[96]), "stop_token_ids"),
        (dict(prompt_ids=[[1, 200]]), "prompt_ids"),
        (dict(prompt_ids=[[1.5, 2.0]]), "prompt_ids"),
        (dict(padding_mask=[[True, False]]), "padding_mask"),
        (dict(padding_mask=[[False, False, False]]), "padding_mask"),
    ],
)
def test_bad_arguments_are_named(models, kwargs, name):
    arguments = dict(prompt_ids=[[1, 2, 3]], max_new_tokens=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        dlzoo.generate(models["gpt"], **arguments)


def test_refuses_models_that_are_not_decoder_lms():
    with pytest.raises(ValueError, match="model"):
        dlzoo.generate(dlzoo.build("bert-tiny"), [[1, 2]])
    with pytest.raises(ValueError, match="use_lm_head"):
        dlzoo.generate(dlzoo.build("gpt-tiny", use_lm_head=False), [[1, 2]])
