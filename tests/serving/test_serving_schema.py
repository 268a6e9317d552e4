"""Request validation against a signature: every bad input is a 4xx ApiError naming the problem."""

import numpy as np
import pytest

from dlzoo.serving.schema import ApiError, outputs_to_json, parse_inputs, parse_json, predict_request_schema

SPEC = [
    {"name": "tokens", "shape": [None, None], "dtype": "int32", "dynamic_axes": {"0": "batch", "1": "seq"}},
    {"name": "mask", "shape": [None, None], "dtype": "bool", "dynamic_axes": {"0": "batch", "1": "seq"}},
    {"name": "x", "shape": [None, 3], "dtype": "float32", "dynamic_axes": {"0": "batch"}},
]
GOOD = {"tokens": [[1, 2], [3, 4]], "mask": [[True, False], [True, True]], "x": [[0.5, 1, 2], [3, 4, 5]]}


def test_valid_inputs_become_typed_arrays():
    arrays = parse_inputs({"inputs": GOOD}, SPEC, max_batch_size=4)
    assert arrays["tokens"].dtype == np.int32 and arrays["tokens"].tolist() == [[1, 2], [3, 4]]
    assert arrays["mask"].dtype == np.bool_
    assert arrays["x"].dtype == np.float32 and arrays["x"].shape == (2, 3)
    # 0/1 integers are accepted as booleans, integral floats as integers
    arrays = parse_inputs({"inputs": dict(GOOD, mask=[[1, 0], [1, 1]], tokens=[[1.0, 2.0], [3.0, 4.0]])}, SPEC, 4)
    assert arrays["mask"].dtype == np.bool_ and arrays["tokens"].dtype == np.int32


def test_single_input_may_be_a_bare_list():
    spec = [SPEC[2]]
    arrays = parse_inputs({"inputs": [[1, 2, 3]]}, spec, 4)
    assert arrays["x"].shape == (1, 3)


@pytest.mark.parametrize(
    "payload, status, kind, fragment",
    [
        ([1, 2], 422, "invalid_body", "JSON object"),
        ({"inputs": GOOD, "extra": 1}, 422, "unknown_field", "extra"),
        ({"input": GOOD}, 422, "unknown_field", "input"),
        ({}, 422, "missing_field", "inputs"),
        ({"inputs": "x"}, 422, "invalid_inputs", "mapping input names"),
        ({"inputs": dict(GOOD, y=[[1]])}, 422, "unknown_input", "'y'"),
        ({"inputs": {k: v for k, v in GOOD.items() if k != "mask"}}, 422, "missing_input", "'mask'"),
        ({"inputs": dict(GOOD, x=[[1, 2], [3, 4]])}, 422, "wrong_shape", "axis 1 has length 2; expected 3"),
        ({"inputs": dict(GOOD, x=[1, 2, 3])}, 422, "wrong_shape", "rank 1"),
        ({"inputs": dict(GOOD, x=5)}, 422, "wrong_shape", "nested list"),
        ({"inputs": dict(GOOD, x=[[1, 2, 3], [4, 5]])}, 422, "ragged_input", "rectangular"),
        ({"inputs": dict(GOOD, x=[[1, None, 3], [4, 5, 6]])}, 422, "wrong_dtype", "nulls"),
        ({"inputs": dict(GOOD, x=[["a", "b", "c"], ["d", "e", "f"]])}, 422, "wrong_dtype", "strings"),
        ({"inputs": dict(GOOD, x=[[True, False, True], [True, True, True]])}, 422, "wrong_dtype", "booleans"),
        ({"inputs": dict(GOOD, tokens=[[1.5, 2], [3, 4]])}, 422, "wrong_dtype", "integers"),
        ({"inputs": dict(GOOD, tokens=[[2**40, 2], [3, 4]])}, 422, "wrong_dtype", "int32 range"),
        ({"inputs": dict(GOOD, mask=[[2, 0], [1, 1]])}, 422, "wrong_dtype", "booleans"),
        ({"inputs": dict(GOOD, x=[[1e300, 1, 1], [1, 1, 1]])}, 422, "wrong_dtype", "too large"),
        ({"inputs": dict(GOOD, mask=[[True], [True]])}, 422, "dimension_mismatch", "'seq'"),
        ({"inputs": dict(GOOD, x=[[1, 2, 3]])}, 422, "batch_mismatch", "'batch'"),
        ({"inputs": dict(GOOD, x=[[]])}, 422, "wrong_shape", ""),
        ({"inputs": {"tokens": [[1]] * 5, "mask": [[True]] * 5, "x": [[1, 2, 3]] * 5}}, 422, "batch_too_large", "at most 4"),
    ],
)
def test_bad_inputs(payload, status, kind, fragment):
    with pytest.raises(ApiError) as info:
        parse_inputs(payload, SPEC, max_batch_size=4)
    assert info.value.status == status and info.value.type == kind
    assert fragment in info.value.message
    assert info.value.to_json()["error"]["type"] == kind


@pytest.mark.parametrize("body", [b"", b"   ", b"{", b"nope", b'{"a": NaN}', b"\xff\xfe", b"[" * 100000 + b"]" * 100000])
def test_parse_json_rejects_non_json(body):
    with pytest.raises(ApiError) as info:
        parse_json(body)
    assert info.value.status == 400 and info.value.type == "invalid_json"


def test_outputs_to_json_handles_non_finite_and_ints():
    out = outputs_to_json({"a": np.array([1.0, np.nan, np.inf], "float32"), "b": np.array([[1, 2]], "int64")})
    assert out == {"a": [1.0, None, None], "b": [[1, 2]]}


def test_request_schema():
    schema = predict_request_schema(SPEC)
    props = schema["properties"]["inputs"]["properties"]
    assert schema["properties"]["inputs"]["required"] == ["tokens", "mask", "x"]
    assert props["x"]["items"]["minItems"] == props["x"]["items"]["maxItems"] == 3
    assert props["mask"]["items"]["items"] == {"type": "boolean"}
    assert props["tokens"]["items"]["items"] == {"type": "integer"}
