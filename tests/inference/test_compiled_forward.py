"""`dlzoo.compile_forward`: the compiled forward pass against the model's own eager call, buckets, LRU, errors.

The reference for every output is `model(inputs, training=False)`, the
Keras functional call the fast path replaces, on the unpadded inputs. Few
distinct shapes: each new shape costs an eager (op-by-op) compile on JAX.
"""

import numpy as np
import pytest

import keras

import dlzoo
from dlzoo.inference import compiled_forward

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {name: dlzoo.build(name) for name in ("gpt-tiny", "bert-tiny", "vit-test-tiny")}


def token_inputs(batch, length, seed=0, segments=False):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 100, (batch, length)).astype("int32")
    mask = np.ones((batch, length), bool)
    mask[0, length - 1:] = False  # one padded position: the mask is really used
    feed = {"token_ids": ids, "padding_mask": mask}
    if segments:
        feed["segment_ids"] = (np.arange(length)[None, :] >= length // 2).astype("int32").repeat(batch, 0)
    return feed


def image_inputs(batch, seed=0):
    return {"images": np.random.default_rng(seed).normal(size=(batch, 32, 32, 3)).astype("float32")}


def inputs_for(name, batch, length=6, seed=0):
    if name == "vit-test-tiny":
        return image_inputs(batch, seed)
    return token_inputs(batch, length, seed, segments=name == "bert-tiny")


def eager(model, feed):
    return keras.tree.map_structure(np.asarray, keras.tree.map_structure(
        keras.ops.convert_to_numpy, model(feed, training=False)))


def assert_same(expected, got, tolerance=TOLERANCE):
    keras.tree.assert_same_structure(expected, got)
    for want, have in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        assert want.shape == have.shape
        np.testing.assert_allclose(have, want, rtol=0, atol=tolerance)


@pytest.mark.parametrize("name", ["gpt-tiny", "bert-tiny", "vit-test-tiny"])
def test_equals_the_model_call(models, name):
    model = models[name]
    forward = dlzoo.compile_forward(model)
    feed = inputs_for(name, batch=2)
    got = forward(feed)
    assert all(not isinstance(t, np.ndarray) for t in keras.tree.flatten(got))  # backend tensors
    assert_same(eager(model, feed), keras.tree.map_structure(keras.ops.convert_to_numpy, got))
    assert_same(eager(model, feed), forward.predict(feed))
    assert forward.num_programs == 1


def test_batch_buckets_compile_once_and_slice_the_padding(models):
    model = models["vit-test-tiny"]
    forward = model.compile_forward(batch_buckets=(4,))
    feed = image_inputs(10, seed=1)
    expected = eager(model, feed)  # rows are independent: the rows of one unpadded call
    for batch in (1, 3, 10):  # 10 runs as chunks 4 + 4 + 2 (padded to 4)
        got = forward.predict({"images": feed["images"][:batch]})
        assert got.shape[0] == batch
        assert_same(expected[:batch], got)
    assert forward.num_programs == 1


def test_sequence_buckets_exact_for_a_causal_lm(models):
    model = models["gpt-tiny"]
    forward = dlzoo.compile_forward(model, batch_buckets=(2,), sequence_buckets=(8, 16))
    for batch, length in ((1, 5), (2, 7)):
        feed = token_inputs(batch, length, seed=length)
        assert_same(eager(model, feed), forward.predict(feed))
    assert forward.num_programs == 1
    feed = token_inputs(2, 7, seed=8)
    feed["padding_mask"][:] = True  # no masked position: only causality keeps the padding out
    assert_same(eager(model, feed), forward.predict(feed))
    assert forward.num_programs == 1
    with pytest.raises(ValueError, match="sequence_buckets=\\(8, 16\\)"):
        forward.predict(token_inputs(1, 17))


def test_sequence_buckets_exact_with_a_padding_mask(models):
    model = models["bert-tiny"]
    forward = dlzoo.compile_forward(model, sequence_buckets=(8,))
    feed = token_inputs(2, 6, segments=True)
    got = forward.predict(feed)
    assert got["sequence_output"].shape[:2] == (2, 6)
    assert_same(eager(model, feed), got)


def test_sequence_buckets_refused_where_not_exact(models):
    with pytest.raises(ValueError, match="`sequence_buckets`.*exact only for causal LMs"):
        dlzoo.compile_forward(models["vit-test-tiny"], sequence_buckets=(8,))


def test_weights_changed_after_compiling_are_seen(models):
    model = models["gpt-tiny"]
    forward = dlzoo.compile_forward(model)
    feed = token_inputs(1, 5)
    before = forward.predict(feed)
    original = model.get_weights()
    try:
        model.set_weights([w * 1.5 if w.dtype.kind == "f" else w for w in original])
        after = forward.predict(feed)
        assert np.abs(after - before).max() > 1e-3
        assert_same(eager(model, feed), after)
    finally:
        model.set_weights(original)
    assert forward.num_programs == 1


def test_programs_are_kept_in_a_bounded_lru(models, monkeypatch):
    # TensorFlow without XLA (plain tf.function, `None` axes) has one program for every shape; with XLA (the
    # default) it compiles per shape like the other backends.
    monkeypatch.setattr(compiled_forward, "JIT_COMPILE_TENSORFLOW", True)
    model = models["gpt-tiny"]
    forward = dlzoo.compile_forward(model, max_programs=1)
    small, large = token_inputs(1, 5), token_inputs(2, 6)
    forward.predict(small)
    forward.predict(small)
    assert (forward.num_programs, forward.num_cached_programs) == (1, 1)
    assert_same(eager(model, large), forward.predict(large))
    assert (forward.num_programs, forward.num_cached_programs) == (2, 1)
    forward.predict(small)  # evicted by `large`: compiled again
    assert (forward.num_programs, forward.num_cached_programs) == (3, 1)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(batch_buckets=8), TypeError, ("batch_buckets", "8", "list/tuple")),
        (dict(batch_buckets=()), ValueError, ("batch_buckets", "()", "at least one")),
        (dict(batch_buckets=(4, 0)), ValueError, ("batch_buckets", "(4, 0)", "positive integer")),
        (dict(sequence_buckets=[8, "16"]), TypeError, ("sequence_buckets", "'16'", "positive integer")),
        (dict(max_programs=0), ValueError, ("max_programs", "0", ">= 1")),
    ],
)
def test_bad_arguments_are_named(models, kwargs, error, words):
    with pytest.raises(error) as caught:
        dlzoo.compile_forward(models["gpt-tiny"], **kwargs)
    for word in words:
        assert word in str(caught.value)


def test_model_must_be_a_keras_model():
    with pytest.raises(TypeError, match="`model` must be a built keras.Model.*str"):
        dlzoo.compile_forward("gpt-tiny")
