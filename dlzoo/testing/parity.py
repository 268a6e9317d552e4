"""Cross-backend parity: the same block or model, weights and input on every backend.

The reference backend builds each registered block from its registry
`example`, and each `*-tiny` zoo model, saves the weights (`.weights.h5`)
and its output; every other backend, each in its own subprocess (never two
backends in one process), rebuilds it, loads those weights and computes the
output on the same input. The parent process compares the outputs with
NumPy only. Models are reported as `model:<name>`.

Run it with `python tools/backend_parity.py` or `run_parity()`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

import numpy as np

import keras

from dlzoo.registry import BLOCKS, signature_parameters
from dlzoo.testing.test_case import _first, make_input, model_feed, wrap_in_model

BACKENDS = ("tensorflow", "torch", "jax")
DEFAULT_TOLERANCE = 1e-5


MODEL_PREFIX = "model:"
# Models whose inference draws random numbers from each backend's own generator (their towers are compared
# in tests/compat/test_legacy_files.py instead).
RANDOM_AT_INFERENCE = {"lcm-two-tower-tiny"}


def block_entries(names=None):
    """Registered dlzoo blocks with a parity example (Keras' own layers are Keras' business)."""
    return [e for e in BLOCKS.entries() if e.example and not e.metadata.get("native") and (not names or e.name in names)]


def model_names(names=None):
    """`model:<name>` for every test-size `*-tiny` zoo model (`dlzoo.testing.sizes`)."""
    from dlzoo import configs  # lazy: keeps `import dlzoo.testing` light

    wanted = [n for n in configs.config_names() if not names or MODEL_PREFIX + n in names]
    if not any(n.endswith("-tiny") for n in wanted):
        return []
    from dlzoo.testing.sizes import tiny_models  # lazy: counting imports Keras

    return [MODEL_PREFIX + n for n in tiny_models(wanted)]


def model_inputs(model, batch=2, seq=6, seed=0):
    """Deterministic data for a model's inputs: ints in [0, 2), masks of ones, floats N(0, 1)."""
    rng = np.random.default_rng(seed)
    structure = model.input
    items = structure.items() if isinstance(structure, dict) else enumerate(keras.tree.flatten(structure))
    data = {}
    for key, spec in items:
        shape = [batch] + [seq if d is None else d for d in spec.shape[1:]]
        dtype = keras.backend.standardize_dtype(spec.dtype)
        if dtype == "bool":
            data[key] = np.ones(shape, bool)
        elif "int" in dtype:
            data[key] = rng.integers(0, 2, shape).astype(dtype)
        else:
            data[key] = rng.standard_normal(shape).astype(dtype)
    return data if isinstance(structure, dict) else list(data.values())


def _model_output(name, mode, workdir):
    import dlzoo  # lazy: keras

    keras.utils.set_random_seed(0)
    model = dlzoo.build(name[len(MODEL_PREFIX):])
    weights_path = os.path.join(workdir, f"{name.replace(':', '_')}.weights.h5")
    if mode == "save":
        _perturb_zero_weights(model)
        model.save_weights(weights_path)
    else:
        model.load_weights(weights_path)
    out = model(model_inputs(model), training=False)
    # Every output, in an order every backend agrees on (a dict's key order is the backend's own).
    parts = [out[key] for key in sorted(out)] if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(keras.ops.cast(p, "float32"))) for p in parts])


def _perturb_zero_weights(model) -> None:
    """Give zero-initialised weights (AdaLN-Zero, DiT's output projection) small random values, so a model
    whose output is zero at initialisation is still compared on a real function."""
    rng = np.random.default_rng(0)
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight)
        if value.size and not np.any(value) and "float" in str(value.dtype):
            weight.assign(0.02 * rng.standard_normal(value.shape).astype(value.dtype))


def _worker(mode: str, workdir: str, names: Optional[List[str]]) -> None:
    """Runs inside one backend's process: save (reference) or load weights, write outputs."""
    _load_all_blocks()
    backend = keras.backend.backend()
    results = {}
    errors = {}
    for name in model_names(names):
        try:
            results[name] = _model_output(name, mode, workdir)
        except Exception as exc:  # reported per model, never hides the others
            errors[name] = f"{type(exc).__name__}: {exc}"[:500]
    for entry in block_entries(names):
        try:
            example = entry.example
            keras.utils.set_random_seed(0)
            layer = entry.obj(**example.get("init_kwargs", {}))
            data = make_input(_as_spec(example["inputs"]), seed=0)
            call_kwargs = dict(example.get("call_kwargs", {}))
            call_kwargs.setdefault("training", False) if _accepts_training(layer) else None
            model, _ = wrap_in_model(layer, data, call_kwargs)
            weights_path = os.path.join(workdir, f"{entry.name}.weights.h5")
            if mode == "save":
                _perturb_zero_weights(model)
                model.save_weights(weights_path)
            else:
                model.load_weights(weights_path)
            out = _first(model(model_feed(data)))
            results[entry.name] = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
        except Exception as exc:  # reported per block, never hides the others
            errors[entry.name] = f"{type(exc).__name__}: {exc}"[:500]
    np.savez(os.path.join(workdir, f"outputs_{backend}.npz"), **results)
    with open(os.path.join(workdir, f"errors_{backend}.json"), "w") as f:
        json.dump(errors, f, indent=1)


def _load_all_blocks() -> None:
    """Register every block: the library's and the plugins'."""
    import dlzoo.catalog  # noqa: F401  (lazy: it loads the installed plugins, third-party code, on demand)


def _as_spec(spec):
    """JSON-friendly example specs: lists of ints are shapes."""
    if isinstance(spec, list) and all(isinstance(v, int) for v in spec):
        return tuple(spec)
    if isinstance(spec, dict) and "shape" not in spec:
        return {k: _as_spec(v) for k, v in spec.items()}
    if isinstance(spec, dict):
        return dict(spec, shape=tuple(spec["shape"]))
    return spec


def _accepts_training(layer) -> bool:
    return any(p.name == "training" for p in signature_parameters(layer.call))


def _run_backend(backend: str, mode: str, workdir: str, names: Optional[List[str]], timeout: int) -> None:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "dlzoo.testing.parity", "--worker", mode, "--workdir", workdir]
    if names:
        cmd += ["--names", ",".join(names)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"parity worker for {backend} failed:\n{proc.stderr[-3000:]}")


def run_parity(
    reference: str = "tensorflow",
    backends=BACKENDS,
    names: Optional[List[str]] = None,
    timeout: int = 900,
) -> Dict[str, dict]:
    """Compare every registered block's output across backends.

    Args:
        reference: str. Backend that creates and saves the weights.
        backends: iterable of str. Backends to compare with the reference.
        names: list of str. Only these blocks, or `model:<name>` zoo models
            (default: every block with an example and every `*-tiny` model).
        timeout: int. Seconds allowed per backend subprocess.

    Returns:
        `{block: {"tolerance": t, "<ref>-><backend>": max_abs_diff or error, ...}}`.
    """
    _load_all_blocks()
    with tempfile.TemporaryDirectory(prefix="dlzoo-parity-") as workdir:
        _run_backend(reference, "save", workdir, names, timeout)
        outputs = {reference: dict(np.load(os.path.join(workdir, f"outputs_{reference}.npz")))}
        errors = {reference: json.load(open(os.path.join(workdir, f"errors_{reference}.json")))}
        for backend in backends:
            if backend == reference:
                continue
            _run_backend(backend, "load", workdir, names, timeout)
            outputs[backend] = dict(np.load(os.path.join(workdir, f"outputs_{backend}.npz")))
            errors[backend] = json.load(open(os.path.join(workdir, f"errors_{backend}.json")))
    report = {}
    tolerances = {e.name: e.metadata.get("parity_tolerance", DEFAULT_TOLERANCE) for e in block_entries(names)}
    tolerances.update({n: float("inf") if n[len(MODEL_PREFIX):] in RANDOM_AT_INFERENCE else DEFAULT_TOLERANCE
                       for n in model_names(names)})
    for name, tolerance in tolerances.items():
        row = {"tolerance": tolerance}
        for backend in backends:
            if backend == reference:
                continue
            key = f"{reference}->{backend}"
            err = errors[reference].get(name) or errors[backend].get(name)
            if err:
                row[key] = err
                continue
            if name not in outputs[reference] or name not in outputs[backend]:
                row[key] = "not run in a worker"
                continue
            a, b = outputs[reference][name], outputs[backend][name]
            row[key] = float(np.max(np.abs(a - b))) if a.shape == b.shape else f"shape {a.shape} vs {b.shape}"
        report[name] = row
    return report


def failures(report: Dict[str, dict]) -> List[str]:
    """Human-readable lines for every block over its tolerance or in error."""
    bad = []
    for name, row in report.items():
        for key, value in row.items():
            if key == "tolerance":
                continue
            if not isinstance(value, float) or value > row["tolerance"]:
                bad.append(f"{name} {key}: {value} (tolerance {row['tolerance']})")
    return bad


def format_table(report: Dict[str, dict]) -> str:
    pairs = sorted({k for row in report.values() for k in row if k != "tolerance"})
    lines = ["| block | " + " | ".join(pairs) + " | tolerance |", "|---" * (len(pairs) + 2) + "|"]
    for name, row in sorted(report.items()):
        cells = [f"{row[p]:.2e}" if isinstance(row.get(p), float) else str(row.get(p)) for p in pairs]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['tolerance']:.0e} |")
    worst = []
    for p in pairs:
        values = [(row[p], n) for n, row in report.items() if isinstance(row.get(p), float)]
        if values:
            v, n = max(values)
            worst.append(f"worst {p}: {n} ({v:.2e})")
    return "\n".join(lines + [""] + worst)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=["save", "load"])
    parser.add_argument("--workdir")
    parser.add_argument("--names", default="")
    parser.add_argument("--reference", default="tensorflow")
    args = parser.parse_args(argv)
    names = [n for n in args.names.split(",") if n] or None
    if args.worker:
        _worker(args.worker, args.workdir, names)
        return 0
    report = run_parity(reference=args.reference, names=names)
    print(format_table(report))
    bad = failures(report)
    for line in bad:
        print("FAIL", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
