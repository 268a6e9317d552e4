"""Run an exported artifact in a clean process: no dlzoo, no Keras, no backend.

Run as a script by path (`python .../_verify_run.py SPEC.json`), never as
`-m dlzoo...`, so the `dlzoo` package is not imported. The first thing it
does is block `dlzoo`, `keras`, `tf_keras`, `torch`, `jax` and `jaxlib`:
TensorFlow imports Keras eagerly when it is installed (and tolerates its
absence), so blocking proves the artifact runs without them. The report
lists any blocked module that still got into `sys.modules` (there should be
none).

SPEC.json: `{"format": "onnx"|"saved_model", "artifact": path,
"inputs": npz path (keys "<case>:<input>"), "input_names": [...],
"output_names": [...], "num_cases": n, "outputs": npz path to write,
"report": json path to write}`.

Uses only the standard library, NumPy and the runtime (onnxruntime or
TensorFlow).
"""

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.pop(0)  # do not let this folder's modules shadow top-level packages

BLOCKED = ("dlzoo", "keras", "tf_keras", "torch", "jax", "jaxlib")


class _BlockedLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError(f"{module.__name__} is blocked in the clean verification process", name=module.__name__)


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return importlib.machinery.ModuleSpec(name, _BlockedLoader(), origin=f"<blocked {name}>")
        return None


sys.meta_path.insert(0, _Blocker())

import numpy as np  # noqa: E402


def _run_onnx(spec, cases):
    import onnxruntime as ort  # lazy: optional dependency (onnxruntime)

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(spec["artifact"], options, providers=["CPUExecutionProvider"])
    meta = {
        "runtime": "onnxruntime",
        "runtime_version": ort.__version__,
        "inputs": [{"name": i.name, "shape": i.shape, "type": i.type} for i in session.get_inputs()],
        "outputs": [{"name": o.name, "shape": o.shape, "type": o.type} for o in session.get_outputs()],
    }
    got_in = [i.name for i in session.get_inputs()]
    got_out = [o.name for o in session.get_outputs()]
    if sorted(got_in) != sorted(spec["input_names"]) or got_out != spec["output_names"]:
        raise RuntimeError(
            f"artifact names differ from the model's: inputs {got_in} vs {spec['input_names']}, "
            f"outputs {got_out} vs {spec['output_names']}"
        )

    def run(feeds):
        return dict(zip(got_out, session.run(got_out, feeds)))

    return meta, run


def _run_saved_model(spec, cases):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # lazy: optional dependency (tensorflow)

    loaded = tf.saved_model.load(spec["artifact"])
    fn = loaded.signatures["serving_default"]
    _, kwargs = fn.structured_input_signature
    meta = {
        "runtime": "tensorflow",
        "runtime_version": tf.__version__,
        "inputs": [{"name": k, "shape": v.shape.as_list(), "type": v.dtype.name} for k, v in sorted(kwargs.items())],
        "outputs": [
            {"name": k, "shape": v.shape.as_list(), "type": v.dtype.name} for k, v in sorted(fn.structured_outputs.items())
        ],
        "endpoints": sorted(set(loaded.signatures.keys()) | ({"serve"} if hasattr(loaded, "serve") else set())),
    }
    if sorted(kwargs) != sorted(spec["input_names"]) or sorted(fn.structured_outputs) != sorted(spec["output_names"]):
        raise RuntimeError(
            f"artifact names differ from the model's: inputs {sorted(kwargs)} vs {spec['input_names']}, "
            f"outputs {sorted(fn.structured_outputs)} vs {spec['output_names']}"
        )

    def run(feeds):
        out = fn(**{k: tf.constant(v) for k, v in feeds.items()})
        return {k: v.numpy() for k, v in out.items()}

    return meta, run


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    start = time.perf_counter()
    report = {"ok": False}
    try:
        data = np.load(spec["inputs"])
        cases = [{n: data[f"{i}:{n}"] for n in spec["input_names"]} for i in range(spec["num_cases"])]
        runner = _run_onnx if spec["format"] == "onnx" else _run_saved_model
        meta, run = runner(spec, cases)
        report.update(meta)
        results = {}
        timings = []
        for i, feeds in enumerate(cases):
            t0 = time.perf_counter()
            out = run(feeds)
            timings.append(time.perf_counter() - t0)
            for name in spec["output_names"]:
                results[f"{i}:{name}"] = np.asarray(out[name])
        np.savez(spec["outputs"], **results)
        report["ok"] = True
        report["run_seconds"] = timings
    except Exception as exc:  # reported to the parent, which raises with this text
        report["error"] = f"{type(exc).__name__}: {exc}"[:4000]
    report["seconds"] = time.perf_counter() - start
    report["python"] = sys.version.split()[0]
    # A blocked import fails, so its module never stays in sys.modules; anything listed here got in anyway.
    report["forbidden_modules_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    with open(spec["report"], "w") as f:
        json.dump(report, f, indent=1, default=str)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
