"""Benchmark section `int8`: weight memory and forward latency of `model.quantize("int8")` against float32.

Per backend, one worker builds the benchmark's Llama shapes (`SMALL` w256
and `LARGE` w512, see `tools.bench.settings`) twice from the same seed and
quantizes the second copy with `ZooModel.quantize("int8")` (Keras'
weight-only int8: int8 kernels with one float32 scale per output channel
for every `Dense`/`EinsumDense`; the token embedding and the norms stay
float32). Memory is the bytes of the model's weights (`prod(shape) *
itemsize` over `model.weights`), for the whole model and for the layers
Keras quantizes. The timed calls are batch-1 forward passes through
`dlzoo.compile_forward` (the inference fast path; `model.predict` when that
is not available here, recorded as `forward`), float and int8 interleaved.
"""

import os
from typing import Any, Dict, List

import numpy as np

from tools.bench import harness
from tools.bench.harness import Contender
from tools.bench.settings import LARGE, SMALL, TINY, Setting, token_batch

TARGET_INT8_MEMORY = 0.3  # issue 16: int8 weights <= 0.3x the float32 weights


def int8_cases(opts):
    """`(settings, batch)` of the section (tiny with `--quick`)."""
    return ([TINY], 1) if opts.quick else ([SMALL, LARGE], 1)


def weight_bytes(weights) -> int:
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in weights)


def quantized_layers(model):
    """The layers Keras' int8 mode quantizes (`Dense`, `EinsumDense`)."""
    import keras

    kinds = (keras.layers.Dense, keras.layers.EinsumDense)
    return [layer for layer in model._flatten_layers() if isinstance(layer, kinds)]


class QuantizeTask:
    """Float32 and int8 copies of the Llama shapes on one backend; variants `float-<setting>` / `int8-<setting>`."""

    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self):
        import keras

        import dlzoo

        info = {"backend": os.environ.get("KERAS_BACKEND"), "memory": {}, "output_change": {}}
        self._calls = {}
        batch = self.spec["batch"]
        for d in self.spec["settings"]:
            s = Setting.from_dict(d)
            models = {}
            for mode in ("float", "int8"):
                keras.utils.set_random_seed(0)
                models[mode] = dlzoo.build("llama-tiny", **s.dlzoo_overrides())
            float_bytes = weight_bytes(models["float"].weights)
            float_dense = weight_bytes([v for layer in quantized_layers(models["float"]) for v in layer.weights])
            models["int8"].quantize("int8")
            info["memory"][s.name] = {
                "float_bytes": float_bytes,
                "int8_bytes": weight_bytes(models["int8"].weights),
                "float_quantizable_bytes": float_dense,
                "int8_quantizable_bytes": weight_bytes(
                    [v for layer in quantized_layers(models["int8"]) for v in layer.weights]),
            }
            ids, _ = token_batch(s, batch)
            x = {"token_ids": ids, "padding_mask": np.ones(ids.shape, bool)}
            outputs = {}
            for mode, model in models.items():
                run, how = _forward(model, x, batch)
                info["forward"] = how
                outputs[mode] = np.asarray(keras.ops.convert_to_numpy(model(x)), "float64")
                self._calls[f"{mode}-{s.name}"] = run
            info["output_change"][s.name] = float(
                np.abs(outputs["int8"] - outputs["float"]).max() / np.abs(outputs["float"]).max())
        return info

    def calls(self):
        return self._calls


def _forward(model, x, batch):
    """A timed forward call through `dlzoo.compile_forward` (its result made ready), else `model.predict`."""
    import dlzoo

    compile_forward = getattr(dlzoo, "compile_forward", None)
    if compile_forward is None:
        return (lambda: model.predict(x, batch_size=batch, verbose=0)), "model.predict (no dlzoo.compile_forward)"
    from tools.bench.tasks import _compiled_forward_fn

    return _compiled_forward_fn(compile_forward(model), x), "dlzoo.compile_forward"


def _paired(times, base):
    ratios = sorted(t / b for t, b in zip(times, base) if b)
    if not ratios:
        return None
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return {"median": median, "min": ratios[0], "max": ratios[-1]}


def run_int8(opts) -> Dict[str, Any]:
    """Weight bytes and batch-1 forward latency, float32 vs int8, per backend (timed calls interleaved)."""
    settings, batch = int8_cases(opts)
    contenders = []
    for b in opts.backends:
        w = opts.worker(f"int8-{b}", {"task": "int8", "settings": [s.to_dict() for s in settings], "batch": batch}, b)
        for s in settings:
            for mode in ("float", "int8"):
                contenders.append(Contender(f"{mode} {s.name} ({b})", w, f"{mode}-{s.name}", backend=b, mode=mode,
                                            setting=s.name, batch=batch))
    results = harness.run_interleaved(contenders, opts.n_rounds(5), warmup=2 if not opts.quick else 1,
                                      budget_s=None if opts.quick else 90, log=opts.log)
    return {"settings": {s.name: s.to_dict() for s in settings}, "batch": batch, "results": results}


def int8_rows(results) -> List[Dict[str, Any]]:
    """One row per (backend, setting): bytes, ratios, float and int8 latency, output change."""
    section = results.get("int8") or {}
    rows = []
    for r in section.get("results", []):
        if r["mode"] != "int8":
            continue
        info = r.get("info") or {}
        memory = (info.get("memory") or {}).get(r["setting"])
        base = next((x for x in section["results"] if x["backend"] == r["backend"] and x["setting"] == r["setting"]
                     and x["mode"] == "float"), {})
        rows.append({
            "backend": r["backend"], "setting": r["setting"], "memory": memory,
            "ratio": memory["int8_bytes"] / memory["float_bytes"] if memory else None,
            "quantizable_ratio": (memory["int8_quantizable_bytes"] / memory["float_quantizable_bytes"]
                                  if memory and memory["float_quantizable_bytes"] else None),
            "float_s": base.get("median_s"), "int8_s": r.get("median_s"),
            "vs_float": _paired(r.get("times_s") or [], base.get("times_s") or []),
            "output_change": (info.get("output_change") or {}).get(r["setting"]), "forward": info.get("forward"),
            "error": r.get("error") or base.get("error"),
        })
    return rows


def int8_markdown(results) -> List[str]:
    rows = int8_rows(results)
    if not rows:
        return []
    section = results["int8"]
    lines = ["## 6. Weight-only int8 (`model.quantize(\"int8\")`)", "",
             "Weight bytes (`prod(shape) x itemsize` over `model.weights`) of the whole model and of the layers Keras "
             "quantizes (`Dense`, `EinsumDense`: int8 kernels + one float32 scale per output channel; the token "
             "embedding and the norms stay float32). Forward: batch "
             f"{section['batch']}, `{rows[0]['forward'] or '?'}`, float32 and int8 copies (same seed) interleaved; "
             "`x float` = median of the per-round latency ratios. Output change = max |int8 - float| / max |float| "
             "of the logits.", "",
             "| Backend | Model | float32 weights (MiB) | int8 weights (MiB) | x float32 (whole) "
             "| x float32 (Dense layers) | float ms | int8 ms | int8 x float | output change |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["memory"]
        if not m:
            lines.append(f"| {r['backend']} | {r['setting']} | failed: {str(r['error'])[:100]} | | | | | | | |")
            continue
        ms = (lambda t: "-" if t is None else f"{t * 1e3:.1f}")
        ratio = r["vs_float"]
        lines.append(f"| {r['backend']} | {r['setting']} | {m['float_bytes'] / 2**20:.2f} "
                     f"| {m['int8_bytes'] / 2**20:.2f} "
                     f"| {r['ratio']:.3f} | {r['quantizable_ratio']:.3f} | {ms(r['float_s'])} | {ms(r['int8_s'])} | "
                     + (f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "-")
                     + " | " + ("-" if r["output_change"] is None else f"{r['output_change']:.4f}") + " |")
    return lines + [""]
