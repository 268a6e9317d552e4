"""`dlzoo.serving.limits` and `model_facts`: what one request may cost, read from the model's config and the flags."""

import numpy as np
import pytest

from dlzoo.serving import model_facts
from dlzoo.serving.limits import Limits
from dlzoo.serving.schema import ApiError

TOKENS = [{"name": "token_ids", "shape": [None, None], "dtype": "int32", "dynamic_axes": {"0": "batch", "1": "sequence"}},
          {"name": "segment_ids", "shape": [None, None], "dtype": "int32", "dynamic_axes": {"0": "batch", "1": "sequence"}}]
CONFIG = {"name": "m", "model": "bert", "params": {"vocabulary_size": 100, "num_segments": 2, "max_sequence_length": 16},
          "extensions": []}


def test_facts_of_a_resolved_config():
    assert model_facts.max_sequence_length(CONFIG) == 16
    assert model_facts.id_ranges(CONFIG) == {"token_ids": (0, 100, "params.vocabulary_size"),
                                             "segment_ids": (0, 2, "params.num_segments")}
    assert model_facts.num_classes({"params": {"num_classes": 10}}) == (10, "params.num_classes")
    head = {"params": {"num_classes": 10}, "extensions": ["freeze", {"name": "classification_head", "num_classes": 3}]}
    assert model_facts.num_classes(head) == (3, "extensions[1].num_classes (classification_head)")
    for nothing in (None, {}, {"params": None}, {"params": {"max_sequence_length": True, "num_classes": 0}}):
        assert model_facts.max_sequence_length(nothing) is None and model_facts.num_classes(nothing) is None
        assert model_facts.id_ranges(nothing) == {}


def test_limits_for_model_keep_the_inputs_it_has():
    limits = Limits.for_model(CONFIG, TOKENS[:1], max_batch_size=2, max_tokens=20)
    assert limits.to_json() == {"max_batch_size": 2, "max_tokens": 20, "max_sequence_length": 16,
                                "id_ranges": {"token_ids": [0, 100]}}


@pytest.mark.parametrize(
    "shapes, kind",
    [({"token_ids": (1, 17), "segment_ids": (1, 17)}, "sequence_too_long"),
     ({"token_ids": (2, 11), "segment_ids": (2, 11)}, "too_many_tokens")],
)
def test_shapes_over_a_bound(shapes, kind):
    limits = Limits.for_model(CONFIG, TOKENS, max_tokens=20)
    limits.check_shapes({"token_ids": (2, 10), "segment_ids": (2, 10)}, TOKENS)  # 20 tokens, length 10: fine
    with pytest.raises(ApiError) as info:
        limits.check_shapes(shapes, TOKENS)
    assert info.value.status == 422 and info.value.type == kind and info.value.extra["input"] == "token_ids"


def test_values_outside_an_id_range():
    limits = Limits.for_model(CONFIG, TOKENS)
    limits.check_values({"token_ids": np.array([[0, 99]]), "segment_ids": np.array([[0, 1]])})
    with pytest.raises(ApiError, match=r"'segment_ids' has 1 value\(s\) outside \[0, 2\)"):
        limits.check_values({"token_ids": np.array([[0, 99]]), "segment_ids": np.array([[0, 2]])})


@pytest.mark.parametrize("name", ["max_batch_size", "max_tokens"])
@pytest.mark.parametrize("value", [0, -5, 2.0, True, None])
def test_bad_limits_name_the_argument(name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1. Received: {name}="):
        Limits(**{name: value})
