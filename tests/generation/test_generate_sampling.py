"""The token choosers of `dlzoo.generation.sampling` against NumPy (float64) references."""

import numpy as np

import keras

from dlzoo.generation import sampling


def numpy_of(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


LOGITS = np.random.default_rng(0).normal(size=(4, 50)).astype("float32") * 3


def test_top_k_keeps_the_k_largest():
    kept = numpy_of(sampling.keep_top_k(LOGITS, 7)) > sampling.FILTERED_LOGIT / 2
    expected = np.zeros_like(kept)
    np.put_along_axis(expected, np.argsort(-LOGITS, axis=-1)[:, :7], True, axis=-1)
    np.testing.assert_array_equal(kept, expected)


def test_top_p_keeps_the_smallest_set_reaching_p():
    for top_p in (0.05, 0.5, 0.8, 0.95):
        kept = numpy_of(sampling.keep_top_p(LOGITS, np.float32(top_p))) > sampling.FILTERED_LOGIT / 2
        probabilities = softmax(LOGITS.astype("float64"))
        for row in range(len(LOGITS)):
            order = np.argsort(-probabilities[row])
            mass_before = np.cumsum(probabilities[row][order]) - probabilities[row][order]
            size = int((mass_before < top_p).sum())  # the first token always, then until the mass reaches p
            assert set(np.flatnonzero(kept[row])) == set(order[:size]), (top_p, row)


def test_inverse_cdf_draw_matches_numpy_searchsorted():
    uniforms = np.array([0.01, 0.4, 0.77, 1.0], "float32")
    got = numpy_of(sampling.inverse_cdf_tokens(LOGITS, uniforms))
    cumulative = np.cumsum(softmax(LOGITS.astype("float64")), axis=-1)
    expected = [int(np.searchsorted(cumulative[row], uniforms[row] * cumulative[row, -1])) for row in range(4)]
    np.testing.assert_array_equal(got, expected)


def test_filtered_tokens_are_never_drawn_and_frequencies_follow_the_temperature():
    logits = np.tile(np.array([[2.0, 1.0, 0.5, -1.0, 0.0]], "float32"), (20000, 1))
    uniforms = 1.0 - np.random.default_rng(1).random(20000).astype("float32")
    drawn = numpy_of(sampling.sampled_tokens(logits, uniforms, np.float32(0.7), top_k=3))
    assert set(np.unique(drawn)) <= {0, 1, 2}
    expected = softmax(np.array([2.0, 1.0, 0.5]) / 0.7)
    frequencies = np.bincount(drawn, minlength=3)[:3] / len(drawn)
    np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_greedy_is_argmax():
    np.testing.assert_array_equal(numpy_of(sampling.greedy_tokens(LOGITS)), LOGITS.argmax(-1))
