"""Request validation against a model signature, and the OpenAPI schemas it implies.

A signature is a list of tensor specs as in an export's `manifest.json`:
`{"name", "shape" (None = dynamic), "dtype", "dynamic_axes": {axis: name}}`.
Every bad request becomes an `ApiError` (a 4xx status, a machine-readable
`type` and a message that names the problem); nothing here raises
anything else on bad input. Only NumPy and the standard library.
"""

import json
from typing import Any, Dict, List, Optional

import numpy as np

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")


class ApiError(Exception):
    """A client error: HTTP `status`, error `type`, human `message`, extra fields (e.g. `input`)."""

    def __init__(self, status: int, type: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.extra = extra

    def to_json(self) -> Dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, **self.extra}}


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Parse a request body strictly (no NaN/Infinity); 400 on anything that is not JSON."""
    if not body.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object.")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "The request body is not UTF-8 text; send a JSON object.") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "The request body nests too deeply to parse.") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}.") from None


def _describe_shape(shape: List[Optional[int]], dim_names: Dict[str, str]) -> str:
    dims = [dim_names.get(str(i), "?") if d is None else str(d) for i, d in enumerate(shape)]
    return "[" + ", ".join(dims) + "]"


def _to_array(name: str, value: Any, spec: Dict[str, Any]) -> np.ndarray:
    dtype = spec["dtype"]
    shape = spec["shape"]
    expected = _describe_shape(shape, spec.get("dynamic_axes", {}))
    if not isinstance(value, list):
        raise ApiError(
            422, "wrong_shape",
            f"Input {name!r} must be a nested list of rank {len(shape)} (shape {expected}); received a JSON "
            f"{_json_type(value)}.", input=name,
        )  # fmt: skip
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(
            422, "ragged_input",
            f"Input {name!r} is not a rectangular nested list (rows of different lengths); expected shape {expected}.",
            input=name,
        ) from None  # fmt: skip
    kind = array.dtype.kind
    if kind == "O":
        raise ApiError(
            422, "wrong_dtype",
            f"Input {name!r} holds nulls, mixed types, ragged rows or integers too large; expected {dtype} values "
            f"in shape {expected}.", input=name,
        )  # fmt: skip
    if kind in "USV":
        raise ApiError(422, "wrong_dtype", f"Input {name!r} holds strings; expected {dtype} values.", input=name)
    if array.ndim != len(shape):
        raise ApiError(
            422, "wrong_shape",
            f"Input {name!r} has rank {array.ndim} (shape {list(array.shape)}); expected rank {len(shape)} "
            f"(shape {expected}).", input=name,
        )  # fmt: skip
    for axis, (want, got) in enumerate(zip(shape, array.shape)):
        if got < 1:
            raise ApiError(422, "wrong_shape", f"Input {name!r} has an empty axis {axis}; every axis needs length >= 1.", input=name)
        if want is not None and want != got:
            raise ApiError(
                422, "wrong_shape",
                f"Input {name!r} axis {axis} has length {got}; expected {want} (shape {expected}). "
                f"Received shape {list(array.shape)}.", input=name,
            )  # fmt: skip
    if dtype == "bool":
        if kind == "b":
            return array
        if kind in "iu" and np.isin(array, (0, 1)).all():
            return array.astype(bool)
        raise ApiError(422, "wrong_dtype", f"Input {name!r} must hold booleans (true/false); received {array.dtype.name} values.", input=name)
    if kind == "b":
        raise ApiError(422, "wrong_dtype", f"Input {name!r} must hold {dtype} numbers; received booleans.", input=name)
    if dtype in INT_DTYPES:
        if kind == "f":
            if not np.isfinite(array).all() or not (array == np.round(array)).all():
                raise ApiError(422, "wrong_dtype", f"Input {name!r} must hold integers ({dtype}); received non-integral numbers.", input=name)
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ApiError(422, "wrong_dtype", f"Input {name!r} has values outside the {dtype} range [{info.min}, {info.max}].", input=name)
        return array.astype(dtype)
    if dtype in FLOAT_DTYPES:
        with np.errstate(over="ignore"):
            out = array.astype("float32" if dtype == "bfloat16" else dtype)
        if kind == "f" and np.isinf(out).any() and np.isfinite(array).all():
            raise ApiError(422, "wrong_dtype", f"Input {name!r} has values too large for {dtype}.", input=name)
        return out
    raise ApiError(422, "wrong_dtype", f"Input {name!r} has dtype {dtype}, which this server cannot fill from JSON.", input=name)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", dict: "object", list: "array"}.get(
        type(value), type(value).__name__
    )


def parse_inputs(payload: Any, inputs: List[Dict[str, Any]], max_batch_size: int, limits: Any = None) -> Dict[str, np.ndarray]:
    """Validate a `/predict` body against the signature (and `limits`, a `limits.Limits`); return NumPy arrays by input name."""
    names = [spec["name"] for spec in inputs]
    example = '{"inputs": {' + ", ".join(f'"{n}": [...]' for n in names) + "}}"
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_body", f"The body must be a JSON object like {example}; received a JSON {_json_type(payload)}.")
    extra = sorted(set(payload) - {"inputs"})
    if extra:
        raise ApiError(422, "unknown_field", f"Unknown field(s) {extra} in the body; expected only 'inputs', as in {example}.")
    if "inputs" not in payload:
        raise ApiError(422, "missing_field", f"The body has no 'inputs' field; expected {example}.")
    given = payload["inputs"]
    if isinstance(given, list) and len(inputs) == 1:
        given = {names[0]: given}
    if not isinstance(given, dict):
        raise ApiError(
            422, "invalid_inputs", f"'inputs' must be an object mapping input names {names} to nested lists; received a JSON {_json_type(given)}."
        )
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ApiError(422, "unknown_input", f"Unknown input(s) {unknown}; this model's inputs are {names}.", input=unknown[0])
    missing = [n for n in names if n not in given]
    if missing:
        raise ApiError(422, "missing_input", f"Missing input(s) {missing}; this model's inputs are {names}.", input=missing[0])
    arrays = {spec["name"]: _to_array(spec["name"], given[spec["name"]], spec) for spec in inputs}
    sizes: Dict[str, tuple] = {}
    for spec in inputs:
        array = arrays[spec["name"]]
        for axis, dim in sorted((int(k), v) for k, v in spec.get("dynamic_axes", {}).items()):
            size = array.shape[axis]
            if dim in sizes and sizes[dim][0] != size:
                other_size, other_name, other_axis = sizes[dim]
                kind = "batch_mismatch" if dim == "batch" else "dimension_mismatch"
                raise ApiError(
                    422, kind,
                    f"Input {spec['name']!r} axis {axis} has length {size} but input {other_name!r} axis {other_axis} "
                    f"has length {other_size}; both are dimension {dim!r} and must agree.", input=spec["name"],
                )  # fmt: skip
            sizes.setdefault(dim, (size, spec["name"], axis))
    batch = next(iter(arrays.values())).shape[0] if arrays else 0
    for spec in inputs:
        if arrays[spec["name"]].shape[0] != batch:
            raise ApiError(422, "batch_mismatch", f"All inputs need the same batch size (axis 0); {spec['name']!r} has {arrays[spec['name']].shape[0]}, another has {batch}.", input=spec["name"])
    if batch > max_batch_size:
        raise ApiError(422, "batch_too_large", f"The batch has {batch} rows; this server accepts at most {max_batch_size} (max_batch_size).")
    if limits is not None:
        limits.check_shapes({name: array.shape for name, array in arrays.items()}, inputs)
        limits.check_values(arrays)
    return arrays


def outputs_to_json(outputs: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """NumPy outputs as nested lists; non-finite floats become null (JSON has no NaN)."""
    result = {}
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.dtype.kind == "f":
            if array.dtype.itemsize < 4 or array.dtype.name == "bfloat16":
                array = array.astype("float32")
            if not np.isfinite(array).all():
                array = np.where(np.isfinite(array), array, None)
        elif array.dtype.kind not in "biu":
            array = array.astype("float32")
        result[name] = array.tolist()
    return result


def tensor_schema(spec: Dict[str, Any]) -> Dict[str, Any]:
    """JSON Schema of one tensor as nested arrays."""
    dtype = spec["dtype"]
    leaf = {"type": "boolean"} if dtype == "bool" else {"type": "integer"} if dtype in INT_DTYPES else {"type": "number"}
    schema: Dict[str, Any] = leaf
    for size in reversed(spec["shape"]):
        schema = {"type": "array", "items": schema}
        if size is not None:
            schema["minItems"] = schema["maxItems"] = size
        else:
            schema["minItems"] = 1
    schema["description"] = f"{dtype}, shape {_describe_shape(spec['shape'], spec.get('dynamic_axes', {}))}"
    return schema


def predict_request_schema(inputs: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "inputs": {
                "type": "object",
                "required": [s["name"] for s in inputs],
                "additionalProperties": False,
                "properties": {s["name"]: tensor_schema(s) for s in inputs},
            }
        },
    }


def predict_response_schema(outputs: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "outputs": {"type": "object", "properties": {s["name"]: tensor_schema(s) for s in outputs}},
            "batch_size": {"type": "integer"},
        },
    }


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}, "input": {"type": "string"}},
            "required": ["type", "message"],
        }
    },
}
