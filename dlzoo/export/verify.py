"""Parity of an exported artifact with the Keras model, measured in a clean process.

The caller's process computes the Keras model's outputs on a few input
shapes (its own backend); `_verify_run.py` runs the artifact on the same
inputs in a fresh interpreter that blocks dlzoo, Keras and the backends
(onnxruntime for ONNX, `tf.saved_model.load` for SavedModel); this module
compares the two with NumPy.
"""

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from dlzoo.export.routes import ExportError
from dlzoo.export.signature import Signature, make_inputs

VERIFY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_verify_run.py")


class Cases:
    """Verification inputs and the Keras model's reference outputs, one entry per input shape."""

    def __init__(self, signature: Signature, inputs: List[Dict[str, np.ndarray]], outputs: List[Dict[str, np.ndarray]]):
        self.signature = signature
        self.inputs = inputs
        self.outputs = outputs

    def __len__(self) -> int:
        return len(self.inputs)

    def shapes(self, i: int) -> Dict[str, List[int]]:
        return {name: list(a.shape) for name, a in self.inputs[i].items()}

    def save_inputs(self, path: str) -> None:
        np.savez(path, **{f"{i}:{n}": a for i, case in enumerate(self.inputs) for n, a in case.items()})


def reference_cases(model: Any, signature: Signature, sizes: Sequence[Dict[str, int]]) -> Cases:
    """Run the Keras model on deterministic inputs of each size assignment.

    The reference is the model's own forward pass (`model(x, training=False)`),
    not `dlzoo.compile_forward`: an artifact is compared with the model itself,
    and four calls gain nothing from compiling (a torch trace per shape made
    an export 45% slower).
    """
    import keras  # lazy: keras

    def run(data):
        result = model(signature.pack_inputs([data[n] for n in signature.input_names]), training=False)
        flat = signature.flatten_outputs(result)
        return {n: np.asarray(keras.ops.convert_to_numpy(t)) for n, t in zip(signature.output_names, flat)}

    inputs, outputs = [], []
    for i, case_sizes in enumerate(sizes):
        data = make_inputs(signature, case_sizes, seed=i)
        outputs.append(run(data))
        inputs.append(data)
    again = run(inputs[0])
    for name in signature.output_names:
        diff = max_abs_diff(outputs[0][name], again[name])
        if not diff <= 1e-6:
            raise ExportError(
                f"The model's forward pass is not deterministic at inference (training=False): two calls on the same "
                f"input differ by {diff:.3g} on output {name!r}, so no artifact can be verified. Does it sample "
                f"noise inside (a training graph)? Export an inference graph instead (`graph=`)."
            )
    return Cases(signature, inputs, outputs)


def cases_from_shapes(signature: Signature, shapes: Sequence[Dict[str, Sequence[int]]]) -> List[Dict[str, int]]:
    """Turn user `verify_shapes` (input name -> full shape) into size assignments, checking static axes."""
    result = []
    for case in shapes:
        if not isinstance(case, dict):
            raise TypeError(f"Each `verify_shapes` entry must be a dict input name -> shape. Received: {case!r}.")
        sizes: Dict[str, int] = {}
        for info in signature.inputs:
            if info.name not in case:
                raise ValueError(f"`verify_shapes` entry {case!r} lacks input {info.name!r}.")
            shape = list(case[info.name])
            if len(shape) != len(info.shape):
                raise ValueError(f"`verify_shapes`: input {info.name!r} has rank {len(info.shape)}. Received: {shape}.")
            for axis, (want, got) in enumerate(zip(info.shape, shape)):
                if want is None:
                    name = info.dim_names[axis]
                    if sizes.setdefault(name, got) != got:
                        raise ValueError(f"`verify_shapes`: axes named {name!r} must agree. Received: {case!r}.")
                elif want != got:
                    raise ValueError(
                        f"`verify_shapes`: input {info.name!r} axis {axis} is static ({want}). Received: {shape}."
                    )
        result.append(sizes)
    return result


def max_abs_diff(expected: np.ndarray, got: np.ndarray) -> float:
    """Largest absolute difference; inf when shapes or NaN positions differ."""
    if tuple(expected.shape) != tuple(got.shape):
        return float("inf")
    if expected.size == 0:
        return 0.0
    a = expected.astype(np.float64)
    b = got.astype(np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return float("inf")
    keep = ~nan_a
    if not keep.any():
        return 0.0
    a, b = a[keep], b[keep]
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    if not np.array_equal(inf_a & (a > 0), inf_b & (b > 0)) or not np.array_equal(inf_a & (a < 0), inf_b & (b < 0)):
        return float("inf")
    finite = ~inf_a
    return float(np.max(np.abs(a[finite] - b[finite]))) if finite.any() else 0.0


def dtype_problem(expected: np.dtype, got: np.dtype) -> Optional[str]:
    """Why the artifact's output dtype cannot stand for the model's (another kind, or a narrower float); else None.

    Integer widths may differ (an exporter may widen int32 to int64); kinds and float precision may not.
    """
    expected, got = np.dtype(expected), np.dtype(got)
    if expected.kind not in "biuf":  # e.g. bfloat16 from ml_dtypes: compared by value only
        return None
    if expected.kind != got.kind or (expected.kind == "f" and got.itemsize < expected.itemsize):
        return f"artifact dtype {got.name} != model dtype {expected.name}"
    return None


def run_clean(fmt: str, artifact: str, cases: Cases, workdir: str, timeout: float) -> Dict[str, Any]:
    """Run the artifact in a clean process; return the parity report.

    Returns:
        dict with `passed` (filled in by `judge`), `runtime`, `runtime_version`,
        `forbidden_modules_loaded`, `cases` (shapes and per-output diffs)
        and `max_abs_diff`, or `error` when the artifact did not run.
    """
    sig = cases.signature
    inputs_path = os.path.join(workdir, f"verify-{fmt}-inputs.npz")
    outputs_path = os.path.join(workdir, f"verify-{fmt}-outputs.npz")
    report_path = os.path.join(workdir, f"verify-{fmt}-report.json")
    spec_path = os.path.join(workdir, f"verify-{fmt}-spec.json")
    cases.save_inputs(inputs_path)
    for path in (outputs_path, report_path):
        if os.path.exists(path):
            os.remove(path)
    spec = {
        "format": fmt,
        "artifact": artifact,
        "inputs": inputs_path,
        "input_names": sig.input_names,
        "output_names": sig.output_names,
        "num_cases": len(cases),
        "outputs": outputs_path,
        "report": report_path,
    }
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP",)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "")
    try:
        proc = subprocess.run(
            [sys.executable, VERIFY_SCRIPT, spec_path],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"passed": False, "error": f"the verification process ran past {timeout} s"}
    if not os.path.exists(report_path):
        return {"passed": False, "error": f"the verification process crashed: {proc.stderr[-2000:]}"}
    with open(report_path) as f:
        report = json.load(f)
    if not report.get("ok"):
        return {"passed": False, **{k: v for k, v in report.items() if k != "ok"}}
    got = np.load(outputs_path)
    case_reports = []
    for i in range(len(cases)):
        diffs = {}
        for name in sig.output_names:
            expected = cases.outputs[i][name]
            actual = got[f"{i}:{name}"]
            diffs[name] = max_abs_diff(expected, actual)
            if tuple(expected.shape) != tuple(actual.shape):
                diffs[name] = float("inf")
                report.setdefault("shape_errors", []).append(
                    f"case {i} output {name!r}: artifact shape {list(actual.shape)} != model shape {list(expected.shape)}"
                )
            problem = dtype_problem(expected.dtype, actual.dtype)
            if problem and i == 0:
                report.setdefault("dtype_errors", []).append(f"output {name!r}: {problem}")
        case_reports.append({"input_shapes": cases.shapes(i), "max_abs_diff": diffs, "max": max(diffs.values())})
    report.pop("ok", None)
    report["cases"] = case_reports
    report["max_abs_diff"] = max(c["max"] for c in case_reports)
    return report


def judge(report: Dict[str, Any], atol: float) -> Optional[str]:
    """Set `report["passed"]`; return why it failed, or None."""
    reason = None
    if report.get("error"):
        reason = f"the artifact did not run: {report['error']}"
    elif report.get("forbidden_modules_loaded"):
        reason = f"the clean process imported {report['forbidden_modules_loaded']}"
    elif report.get("shape_errors"):
        reason = "; ".join(report["shape_errors"][:3])
    elif report.get("dtype_errors"):
        reason = "; ".join(report["dtype_errors"][:3])
    elif not report["max_abs_diff"] <= atol:
        over = []
        for name in report["cases"][0]["max_abs_diff"]:
            worst = max(report["cases"], key=lambda c: c["max_abs_diff"][name])
            if not worst["max_abs_diff"][name] <= atol:
                over.append(f"output {name!r} differs by {worst['max_abs_diff'][name]:.3g} "
                            f"(at input shapes {worst['input_shapes']})")
        reason = f"max abs diff {report['max_abs_diff']:.3g} > tolerance {atol:g}: " + "; ".join(over)
    report["passed"] = reason is None
    report["tolerance"] = atol
    return reason
