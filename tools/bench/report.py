"""Derived numbers (tokens/s, ratios, MFU), the issue-7 and issue-16 targets, and the BENCHMARKS.md text."""

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
from typing import Any, Dict, List, Optional

from tools.bench.settings import Setting, forward_flops, param_count, train_flops

PACKAGES = ("keras", "torch", "jax", "jaxlib", "tensorflow", "keras-hub", "optax", "onnxruntime", "numpy")
# The hand-written baseline of each backend (issue 7: "plain PyTorch eager for torch; jax.jit + optax
# for JAX; tf.function for TensorFlow").
BASELINE = "hand"
TARGET_HAND_RATIO = 1.10
TARGET_MFU = 0.40
TARGET_IMPORT_S = 0.3
TARGET_ORT_RATIO = 0.5


# ------------------------------------------------------------------ meta
def machine_meta() -> Dict[str, Any]:
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": _loadavg(),
        "versions": {},
    }
    for name in PACKAGES:
        try:
            meta["versions"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            meta["versions"][name] = None
    return meta


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------- derived
def _paired_ratio(times: List[float], base: List[float]) -> Dict[str, Optional[float]]:
    """Median (and range) of the round-by-round ratios (same round = same machine load)."""
    ratios = [t / b for t, b in zip(times, base) if b]
    if not ratios:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def _find(rows, **match):
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()) and r.get("median_s"):
            return r
    return None


def derive(results: Dict[str, Any]) -> Dict[str, Any]:
    """Add tokens/s, ratios and MFU to the train/infer rows (in place); return `results`."""
    peak = (results.get("peak") or {}).get("peak_gflops")
    train = results.get("train")
    if train:
        settings = {k: Setting.from_dict(v) for k, v in train["settings"].items()}
        rows = train["results"]
        for r in rows:
            s = settings[r["setting"]]
            r["params_expected"] = param_count(s)
            r["flops_per_step"] = train_flops(s)
            if not r.get("median_s"):
                continue
            r["tokens_per_s"] = s.batch_size * s.sequence_length / r["median_s"]
            r["achieved_gflops"] = r["flops_per_step"] / r["median_s"] / 1e9
            r["mfu"] = r["achieved_gflops"] / peak if peak else None
            hand = _find(rows, engine=r["engine"], impl=BASELINE, setting=r["setting"])
            hub = _find(rows, engine=r["engine"], impl="keras_hub", setting=r["setting"])
            r["vs_hand"] = _paired_ratio(r["times_s"], hand["times_s"]) if hand else None
            r["vs_keras_hub"] = _paired_ratio(r["times_s"], hub["times_s"]) if hub else None
    lcm = results.get("lcm")
    if lcm:
        for r in lcm.get("train", []):
            params = (r.get("info") or {}).get("params")
            if r.get("median_s") and params:
                # 6*N*T: a lower bound (attention scores not counted; the noising/timestep work is tiny).
                r["achieved_gflops"] = 6 * params * r["batch_size"] * r["sequence_length"] / r["median_s"] / 1e9
                r["mfu"] = r["achieved_gflops"] / peak if peak else None
    infer = results.get("infer")
    if infer:
        settings = {k: Setting.from_dict(v) for k, v in infer["settings"].items()}
        rows = infer["results"]
        for r in rows:
            s = settings[r["setting"]]
            r["flops"] = forward_flops(s, r["batch"])
            if not r.get("median_s"):
                continue
            r["tokens_per_s"] = r["batch"] * s.sequence_length / r["median_s"]
            ref = _find(rows, engine="torch", impl="dlzoo", setting=r["setting"], batch=r["batch"])
            r["vs_keras_torch_predict"] = _paired_ratio(r["times_s"], ref["times_s"]) if ref else None
            hand = _find(rows, engine=r["engine"], impl=BASELINE, setting=r["setting"], batch=r["batch"])
            r["vs_hand"] = _paired_ratio(r["times_s"], hand["times_s"]) if hand else None
            ort = _find(rows, engine="torch", impl="onnxruntime", setting=r["setting"], batch=r["batch"])
            r["vs_onnxruntime"] = (_paired_ratio(r["times_s"], ort["times_s"])
                                   if ort and r["engine"] == "torch" else None)
    generate = results.get("generate")
    if generate:
        rows = generate["results"]
        for r in rows:
            if r.get("median_s"):
                r["tokens_per_s"] = r["batch"] * r["new_tokens"] / r["median_s"]
            ref = _find(rows, impl="transformers", batch=r["batch"])
            if r.get("median_s") and ref:
                # tokens/s ratio per round = transformers' time / this contender's time (same new tokens).
                ratio = _paired_ratio(ref["times_s"], r["times_s"])
                r["vs_transformers"] = ratio["median"]
                r["vs_transformers_range"] = ratio
    return results


# ---------------------------------------------------------------- targets
def targets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each issue-7 target with its number(s) and `met` (True/False, or None when not measured)."""
    out = []
    train = (results.get("train") or {}).get("results", [])
    settings = sorted({r["setting"] for r in train})
    backends = [b for b in ("torch", "jax", "tensorflow") if any(r["engine"] == b for r in train)]

    for b in backends:
        values, met = [], []
        for name in settings:
            r = _find(train, engine=b, impl="dlzoo", setting=name)
            ratio = (r or {}).get("vs_hand") or {}
            if ratio.get("median") is not None:
                values.append(f"{name}: {ratio['median']:.2f}x")
                met.append(ratio["median"] <= TARGET_HAND_RATIO)
        out.append(_target(f"dlzoo within 10% of hand-written ({b})", "step time dlzoo / hand <= 1.10",
                           values, met))
    for b in backends:
        values, met = [], []
        for name in settings:
            r = _find(train, engine=b, impl="dlzoo", setting=name)
            ratio = (r or {}).get("vs_keras_hub") or {}
            if ratio.get("median") is not None:
                values.append(f"{name}: {ratio['median']:.2f}x")
                met.append(ratio["median"] <= 1.0)
        out.append(_target(f"dlzoo never slower than keras-hub ({b})", "step time dlzoo / keras-hub <= 1.00",
                           values, met))
    values, met = [], []
    for name in settings:
        best_dl, best_hand = _fastest_dlzoo_and_hand(train, name)
        if best_dl and best_hand:
            values.append(f"{name}: dlzoo {best_dl['engine']} {best_dl['median_s'] * 1e3:.0f} ms vs "
                          f"{best_hand['label']} {best_hand['median_s'] * 1e3:.0f} ms")
            met.append(best_dl["median_s"] <= best_hand["median_s"])
    out.append(_target("fastest dlzoo backend >= fastest hand-written", "min dlzoo step <= min hand step",
                       values, met))
    large = [r for r in train if r["impl"] == "dlzoo" and r.get("mfu") is not None
             and (results["train"]["settings"][r["setting"]]["hidden_dim"] == 512)]
    if large:
        best = min(large, key=lambda r: r["median_s"])
        out.append(_target("training MFU at width 512 >= 40% (fastest dlzoo backend)",
                           "model FLOP/s / measured matmul peak >= 0.40",
                           [f"{best['engine']}: {best['mfu'] * 100:.0f}% ({best['achieved_gflops']:.0f} of "
                            f"{results['peak']['peak_gflops']:.0f} GFLOP/s)"], [best["mfu"] >= TARGET_MFU]))
    else:
        out.append(_target("training MFU at width 512 >= 40% (fastest dlzoo backend)",
                           "model FLOP/s / measured matmul peak >= 0.40", [], []))
    imports = (results.get("imports") or {}).get("results", [])
    values, met = [], []
    for row in imports:
        if row.get("overhead_s") is not None:
            values.append(f"{row['backend']}: {row['overhead_s']:+.2f} s")
            met.append(row["overhead_s"] <= TARGET_IMPORT_S)
    out.append(_target("import dlzoo <= import keras + 0.3 s", "median difference per backend", values, met))
    values, met = [], []
    for row in imports:
        tf = row["dlzoo"].get("tensorflow_imported")
        if row["backend"] != "tensorflow":
            values.append(f"{row['backend']}: {'imports' if tf else 'does not import'} tensorflow")
            met.append(not tf)
    out.append(_target("import dlzoo does not import TensorFlow (torch/jax)", "'tensorflow' not in sys.modules",
                       values, met))
    infer = (results.get("infer") or {}).get("results", [])
    values, met = [], []
    for r in infer:
        if r["impl"] == "onnxruntime" and r["batch"] == 1 and (r.get("vs_keras_torch_predict") or {}).get("median"):
            ratio = r["vs_keras_torch_predict"]["median"]
            values.append(f"{r['setting']}: {ratio:.2f}x")
            met.append(ratio <= TARGET_ORT_RATIO)
    out.append(_target("onnxruntime batch-1 <= 0.5x Keras eager predict", "ORT / dlzoo predict on torch <= 0.5",
                       values, met))
    return out


# ------------------------------------------------------- issue-16 targets
TARGET_FAST_HAND_RATIO = 1.15
TARGET_FAST_ORT_RATIO = 1.0
TARGET_GENERATE_FASTEST = 1.5
TARGET_GENERATE_EVERY = 1.0
TARGET_TRAIN_FASTEST = 1.0
REPORTED = "reported"  # `met` of a row that reports numbers without a threshold


def _case(r):
    return f"{r['setting']} b{r['batch']}"


def targets_issue16(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each issue-16 target with its measured ratio(s) and `met` (True/False, or None when not measured)."""
    out = []
    infer = (results.get("infer") or {}).get("results", [])
    backends = [b for b in ("torch", "jax", "tensorflow") if any(r["engine"] == b for r in infer)]
    for b in backends or ("torch", "jax", "tensorflow"):
        values, met = [], []
        for r in infer:
            if r["engine"] == b and r["impl"] == "dlzoo_fast" and (r.get("vs_hand") or {}).get("median") is not None:
                values.append(f"{_case(r)}: {r['vs_hand']['median']:.2f}x")
                met.append(r["vs_hand"]["median"] <= TARGET_FAST_HAND_RATIO)
        out.append(_target(f"inference within 15% of hand-written ({b})",
                           "forward latency `compile_forward` / hand <= 1.15 (batch 1, 32; w256, w512)", values, met))
    values, met = [], []
    for r in infer:
        if (r["engine"] == "torch" and r["impl"] == "dlzoo_fast" and r["batch"] > 1
                and (r.get("vs_onnxruntime") or {}).get("median") is not None):
            values.append(f"{_case(r)}: {r['vs_onnxruntime']['median']:.2f}x")
            met.append(r["vs_onnxruntime"]["median"] <= TARGET_FAST_ORT_RATIO)
    out.append(_target("inference on torch not slower than onnxruntime at batch 32",
                       "`compile_forward` / onnxruntime (ONNX export) <= 1.00", values, met))
    out += _generation_targets(results)
    out += _training_targets(results)
    out.append(_int8_target(results))
    out.append(_target("gradient checkpointing saves activation memory (width 512)",
                       "not part of `all`: `python -m tools.bench.remat` (several 13-17 s steps per backend)",
                       ["see guides/performance.md (remat: saved-for-backward 31x less on jax, 10x on torch)"], []))
    out.append(_lcm_generation_target(results))
    meta = results.get("meta") or {}
    if meta.get("device", "cpu") == "cpu":
        out.append(_target("GPU: lcm-base MFU >= 45%, inference and generation tokens/s",
                           "`--device gpu --precision bf16` on a CUDA machine",
                           ["no GPU figure (no accelerator lent)"], []))
    return out


def _generation_targets(results):
    rows = [r for r in (results.get("generate") or {}).get("results", []) if r["impl"] == "dlzoo"]
    batches = sorted({r["batch"] for r in rows})
    fastest_values, fastest_met, every_values, every_met = [], [], [], []
    for b in batches:
        ratios = {r["engine"]: r["vs_transformers"] for r in rows if r["batch"] == b and r.get("vs_transformers")}
        if not ratios:
            continue
        best = max(ratios, key=ratios.get)
        fastest_values.append(f"b{b}: {best} {ratios[best]:.2f}x")
        fastest_met.append(ratios[best] >= TARGET_GENERATE_FASTEST)
        every_values.append(f"b{b}: " + ", ".join(f"{e} {v:.2f}x" for e, v in ratios.items()))
        every_met.append(min(ratios.values()) >= TARGET_GENERATE_EVERY)
    rule = "tokens/s dlzoo.generate / transformers generate (batch 1, 8; prompt 64, 128 new tokens)"
    return [_target("generation: fastest dlzoo backend >= 1.5x transformers", rule + " >= 1.5",
                    fastest_values, fastest_met),
            _target("generation: every dlzoo backend >= 1.0x transformers", rule + " >= 1.0",
                    every_values, every_met)]


def _fastest_dlzoo_and_hand(train, setting):
    """The fastest dlzoo and the fastest hand-written training result at `setting` (None where there is none)."""
    def fastest(rows):
        return min(rows, key=lambda r: r["median_s"]) if rows else None

    timed = [r for r in train if r["setting"] == setting and r.get("median_s")]
    return (fastest([r for r in timed if r["impl"] == "dlzoo"]),
            fastest([r for r in timed if r["impl"].startswith("hand")]))


def _training_targets(results):
    train = (results.get("train") or {}).get("results", [])
    settings = sorted({r["setting"] for r in train})
    values, met = [], []
    for name in settings:
        best_dl, best_hand = _fastest_dlzoo_and_hand(train, name)
        if best_dl and best_hand:
            ratio = _paired_ratio(best_dl["times_s"], best_hand["times_s"])["median"]
            values.append(f"{name}: {ratio:.2f}x (dlzoo {best_dl['engine']} {best_dl['median_s'] * 1e3:.0f} ms vs "
                          f"{best_hand['label']} {best_hand['median_s'] * 1e3:.0f} ms)")
            met.append(ratio <= TARGET_TRAIN_FASTEST)
    out = [_target("training: fastest dlzoo backend <= 1.0x fastest hand-written",
                   "min dlzoo step / min hand-written step (incl. torch.compile) <= 1.00, paired rounds",
                   values, met)]
    values, met = [], []
    for b in ("torch", "jax", "tensorflow"):
        for name in settings:
            r = _find(train, engine=b, impl="dlzoo", setting=name)
            ratio = (r or {}).get("vs_hand") or {}
            if ratio.get("median") is not None:
                values.append(f"{b} {name}: {ratio['median']:.2f}x")
                met.append(ratio["median"] <= TARGET_HAND_RATIO)
    out.append(_target("training: dlzoo within 10% of hand-written, per backend",
                       "step time dlzoo / same backend's hand-written <= 1.10 (issue 7, restated)", values, met))
    return out


def _int8_target(results):
    from tools.bench.quantize import TARGET_INT8_MEMORY, int8_rows

    values, met, seen = [], [], set()
    for r in int8_rows(results):
        if r["ratio"] is None or r["setting"] in seen:  # the bytes are the same on every backend
            continue
        seen.add(r["setting"])
        values.append(f"{r['setting']}: {r['ratio']:.3f}x (Dense layers {r['quantizable_ratio']:.3f}x)")
        met.append(r["ratio"] <= TARGET_INT8_MEMORY)
    return _target("int8 weights <= 0.3x float32 weights", "weight bytes after `model.quantize(\"int8\")` / "
                   "float32, whole model (token embedding and norms stay float32)", values, met)


def _lcm_generation_target(results):
    """Before/after of the LCM generation loop, when the run measured it (section `lcm_generate`)."""
    from tools.bench.lcm_generation import lcm_generate_rows

    values = [f"{r['backend']} {r['model']}: {r['before_s']:.3f} -> {r['after_s']:.3f} s ({r['speedup']:.1f}x)"
              for r in lcm_generate_rows(results) if r["before_s"] and r["after_s"] and r["speedup"]]
    target = _target("LCM generation on the compiled loop (before/after)",
                     "`dlzoo.lcm.generate` s/call, compiled=False -> compiled=True; reported, no threshold",
                     values or ["not measured in this run"], [])
    if values:
        target["met"] = REPORTED
    return target


def _target(name, rule, values, met):
    return {"target": name, "rule": rule, "values": values, "met": (all(met) if met else None)}


# -------------------------------------------------------------- markdown
def _ms(x):
    return "-" if x is None else (f"{x * 1e3:.1f}" if x < 1 else f"{x * 1e3:.0f}")


def _ratio(d):
    if not d or d.get("median") is None:
        return "-"
    return f"{d['median']:.2f} ({d['min']:.2f}-{d['max']:.2f})"


def _verdict(met):
    return {True: "**met**", False: "**not met**", None: "not measured", REPORTED: "reported"}[met]


def _error_cell(r):
    err = r.get("error")
    return f"failed: {err.splitlines()[0][:120]}" if err else "failed"


def markdown(results: Dict[str, Any]) -> str:
    meta = results.get("meta", {})
    v = meta.get("versions", {})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m tools.bench all` (see `guides/performance.md`); do not edit by hand. "
        "Raw numbers, every timed call and the run's settings are in `BENCHMARKS.json`.",
        "",
        f"Machine: {meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, {meta.get('device_note', 'CPU only')}. "
        f"Run {meta.get('date', '?')}, took {meta.get('total_s', 0) / 60:.1f} min; load average at start "
        f"{meta.get('load_average')}, at end {meta.get('load_average_end')} "
        "(the machine is shared: absolute times are noisy, interleaved ratios much less).",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + f", Python {meta.get('python')}.",
        "",
        "Method: one worker process per contender (one Keras backend per process), all set up first, then "
        "timed in interleaved rounds (A, B, C, A, B, C, ...) after warm-up calls; medians with min-max over "
        "rounds. Ratios are medians of the per-round ratios (the two calls of a round see the same load). "
        "Same data (seeded), AdamW (lr 1e-4, betas 0.9/0.999, eps 1e-8, weight decay 0.01), float32.",
        "",
    ]
    tgts16 = results.get("targets_issue16") or []
    if tgts16:
        lines += ["## Targets (issue 16)", "", "| Target | Rule | Measured | Verdict |", "|---|---|---|---|"]
        for t in tgts16:
            lines.append(f"| {t['target']} | {t['rule']} | {'; '.join(t['values']) or '-'} | {_verdict(t['met'])} |")
        lines.append("")
    tgts = results.get("targets") or []
    if tgts:
        lines += ["## Targets (issue 7)", "", "| Target | Rule | Measured | Verdict |", "|---|---|---|---|"]
        for t in tgts:
            lines.append(f"| {t['target']} | {t['rule']} | {'; '.join(t['values']) or '-'} | {_verdict(t['met'])} |")
        lines.append("")
        notes = results.get("notes") or []
        if notes:
            lines += ["Findings:", ""] + [f"- {n}" for n in notes] + [""]
    from tools.bench.generation import generate_markdown

    from tools.bench.lcm_generation import lcm_generate_markdown

    lines += _peak_md(results) + _train_md(results) + _infer_md(results) + generate_markdown(results)
    lines += lcm_generate_markdown(results)
    from tools.bench.cli import cli_markdown

    lines += _imports_md(results) + _overhead_md(results) + cli_markdown(results) + _lcm_md(results)
    from tools.bench.quantize import int8_markdown

    lines += int8_markdown(results)
    return "\n".join(lines).rstrip() + "\n"


def _peak_md(results):
    peak = results.get("peak")
    if not peak:
        return []
    lines = ["## Float32 matmul peak", "", "| Engine | n | ms (median) | min-max | GFLOP/s (median) | GFLOP/s (best) |",
             "|---|---|---|---|---|---|"]
    for r in peak["results"]:
        if not r.get("median_s"):
            lines.append(f"| {r['engine']} | {r['size']} | {_error_cell(r)} | | | |")
            continue
        lines.append(f"| {r['engine']} | {r['size']} | {_ms(r['median_s'])} | {_ms(r['min_s'])}-{_ms(r['max_s'])} | "
                     f"{r['gflops']:.0f} | {r['gflops_best']:.0f} |")
    if peak.get("peak_gflops"):
        lines += ["", f"Measured peak (best median): **{peak['peak_gflops']:.0f} GFLOP/s** ({peak['peak_source']}); "
                  "the MFU column below divides each step's model FLOP/s by it."]
    return lines + [""]


def _train_md(results):
    train = results.get("train")
    if not train:
        return []
    lines = ["## 1. Training step (Llama-style decoder LM)", "",
             "Model FLOPs per step = 6 x (matmul parameters) x tokens + 12 x layers x width x seq x tokens "
             "(attention scores, PaLM's convention, not halved for the causal mask). `x hand` / `x keras-hub`: "
             "step-time ratio to the same backend's hand-written / keras-hub contender (< 1 = faster). "
             "`first` = first warm-up step (tracing/compilation).", ""]
    for name, sd in train["settings"].items():
        rows = [r for r in train["results"] if r["setting"] == name]
        if not rows:
            continue
        s = Setting.from_dict(sd)
        lines += [f"### {s.describe()} ({param_count(s) / 1e6:.2f}M parameters, "
                  f"{train_flops(s) / 1e9:.1f} GFLOP/step)", "",
                  "| Backend | Contender | ms/step | min-max | tokens/s | x hand | x keras-hub | MFU | first (s) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if not r.get("median_s"):
                lines.append(f"| {r['engine']} | {r['label']} | {_error_cell(r)} | | | | | | |")
                continue
            mfu = f"{r['mfu'] * 100:.0f}%" if r.get("mfu") is not None else "-"
            first = f"{r['first_s']:.1f}" if r.get("first_s") is not None else "-"
            lines.append(f"| {r['engine']} | {r['label']} | {_ms(r['median_s'])} | {_ms(r['min_s'])}-{_ms(r['max_s'])} "
                         f"| {r['tokens_per_s']:.0f} | {_ratio(r.get('vs_hand'))} | {_ratio(r.get('vs_keras_hub'))} "
                         f"| {mfu} | {first} |")
        lines.append("")
    return lines


def _infer_md(results):
    infer = results.get("infer")
    if not infer:
        return []
    lines = ["## 2. Inference (forward latency)", "",
             "Keras contenders use `model.predict(x, batch_size=b)` (eager on torch, compiled on jax/tensorflow); "
             "`dlzoo compile_forward` is the same dlzoo model through `forward = dlzoo.compile_forward(model)`, "
             "timed as `forward(x)` on NumPy inputs with the result made ready; "
             "hand-written ones their engine's forward (`torch.inference_mode` eager, `jax.jit`, `tf.function`); "
             "onnxruntime runs the ONNX export of the dlzoo model (CPU provider). `x hand`: latency ratio to the same "
             "backend's hand-written forward; `x torch predict`: to dlzoo's `predict` on the torch backend (Keras "
             "eager predict).", ""]
    cases = []
    for r in infer["results"]:
        if (r["setting"], r["batch"]) not in cases:
            cases.append((r["setting"], r["batch"]))
    for name, b in cases:
        s = Setting.from_dict(infer["settings"][name])
        lines += [f"### {name} (width {s.hidden_dim}, {s.num_layers} layers, seq {s.sequence_length}), batch {b}", "",
                  "| Backend | Contender | ms | min-max | tokens/s | x hand | x torch predict | first (s) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in infer["results"]:
            if (r["setting"], r["batch"]) != (name, b):
                continue
            if not r.get("median_s"):
                lines.append(f"| {r['engine']} | {r['label']} | {_error_cell(r)} | | | | | |")
                continue
            first = f"{r['first_s']:.1f}" if r.get("first_s") is not None else "-"
            lines.append(f"| {r['engine']} | {r['label']} | {_ms(r['median_s'])} | {_ms(r['min_s'])}-{_ms(r['max_s'])} "
                         f"| {r['tokens_per_s']:.0f} | {_ratio(r.get('vs_hand'))} "
                         f"| {_ratio(r.get('vs_keras_torch_predict'))} | {first} |")
        lines.append("")
    onnx = [r for r in infer["results"] if r["impl"] == "onnxruntime" and r.get("info")]
    if onnx:
        lines += [f"ONNX export route: {onnx[0]['info'].get('export')}.", ""]
    return lines


def _imports_md(results):
    imports = results.get("imports")
    if not imports:
        return []
    lines = ["## 4a. Import time (fresh interpreters, interleaved)", "",
             "| Backend | import keras (s) | import dlzoo (s) | dlzoo - keras (s) | TensorFlow imported by `import dlzoo` |",
             "|---|---|---|---|---|"]
    for row in imports["results"]:
        k, d = row["keras"], row["dlzoo"]
        if k["median_s"] is None or d["median_s"] is None:
            lines.append(f"| {row['backend']} | failed: {(k.get('errors') or d.get('errors') or ['?'])[0][:100]} | | | |")
            continue
        lines.append(f"| {row['backend']} | {k['median_s']:.2f} ({k['min_s']:.2f}-{k['max_s']:.2f}) | "
                     f"{d['median_s']:.2f} ({d['min_s']:.2f}-{d['max_s']:.2f}) | {row['overhead_s']:+.2f} | "
                     f"{'yes' if d['tensorflow_imported'] else 'no'} |")
    return lines + [""]


def _overhead_md(results):
    ov = results.get("overhead")
    if not ov:
        return []
    lines = ["## 4b. Builder overheads", "", "| Backend | What | median (s) | min-max | first call (s) |",
             "|---|---|---|---|---|"]
    info = {}
    for r in ov["results"]:
        info = r.get("info") or info
        what = {"build_tiny": f"dlzoo.build({info.get('tiny')!r})",
                "build_100m": f"dlzoo.build({info.get('hundred_m')!r}) ({(info.get('hundred_m_params') or 0) / 1e6:.0f}M)",
                "count_params_largest": f"dlzoo.count_params({info.get('largest')!r}) "
                                        f"({(info.get('largest_params') or 0) / 1e9:.2f}B)"}.get(r["what"], r["what"])
        if not r.get("median_s"):
            lines.append(f"| {r['backend']} | {what} | {_error_cell(r)} | | |")
            continue
        lines.append(f"| {r['backend']} | {what} | {r['median_s']:.3f} | {r['min_s']:.3f}-{r['max_s']:.3f} | "
                     f"{r['first_s']:.3f} |")
    tf = {r["backend"]: (r.get("info") or {}).get("tensorflow_after_build") for r in ov["results"]}
    tf = {k: v for k, v in tf.items() if k != "tensorflow" and v is not None}
    if tf:
        lines += ["", "TensorFlow in `sys.modules` after these builds: "
                  + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in tf.items()) + "."]
    return lines + [""]


def _lcm_md(results):
    lcm = results.get("lcm")
    if not lcm:
        return []
    lines = ["## 5. Large Concept Model", "",
             "| Backend | Model | params | batch x concepts | ms/step | min-max | concepts/s | MFU (6NT) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in lcm["train"]:
        params = (r.get("info") or {}).get("params")
        p = f"{params / 1e6:.2f}M" if params else "-"
        if not r.get("median_s"):
            lines.append(f"| {r['backend']} | {r['model']} | {p} | {r['batch_size']}x{r['sequence_length']} | "
                         f"{_error_cell(r)} | | | |")
            continue
        mfu = f"{r['mfu'] * 100:.0f}%" if r.get("mfu") is not None else "-"
        lines.append(f"| {r['backend']} | {r['model']} | {p} | {r['batch_size']}x{r['sequence_length']} | "
                     f"{_ms(r['median_s'])} | {_ms(r['min_s'])}-{_ms(r['max_s'])} | {r['concepts_per_s']:.0f} | {mfu} |")
    if lcm["train"]:
        o = lcm["train"][0]["overrides"]
        lines += ["", f"Sizes: the `-tiny` configs resized to {json.dumps(o)} (two-tower: encoder and denoiser "
                  "layers as in the JSON); AdamW, `dlzoo.lcm.loss_for(model)`, `train_on_batch`."]
    if lcm.get("encoder"):
        lines += ["", "Concept encoder (`dlzoo.concepts.SentenceEncoder()`, all-MiniLM-L6-v2, batch 64, "
                  "synthetic 6-30 word sentences):", "", "| Backend | s per call | min-max | sentences/s |",
                  "|---|---|---|---|"]
        for r in lcm["encoder"]:
            if not r.get("median_s"):
                lines.append(f"| {r['backend']} | {_error_cell(r)} | | |")
                continue
            lines.append(f"| {r['backend']} | {r['median_s']:.2f} | {r['min_s']:.2f}-{r['max_s']:.2f} | "
                         f"{r['sentences_per_s']:.0f} |")
    return lines + [""]
