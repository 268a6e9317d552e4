"""The benchmark sections: which contenders run, in which order, for how many rounds.

Each `run_*` function returns a JSON-ready dict; `tools.bench.report` turns
them into `BENCHMARKS.md`. Nothing here imports a backend: every engine runs
in a worker subprocess (`tools.bench.worker`).
"""

import dataclasses
import statistics
import time
from typing import Any, Callable, Dict, List, Optional

from tools.bench import harness
from tools.bench.harness import Contender, Worker
from tools.bench.settings import LARGE, SMALL, TINY, Setting

BACKENDS = ("torch", "jax", "tensorflow")
INFERENCE_ONLY = ("onnxruntime", "dlzoo_fast")  # contenders with no training step

# (engine, impl) -> label. "hand" is each engine's hand-written baseline of issue 7.
LABELS = {
    ("torch", "dlzoo"): "dlzoo (Keras on torch)",
    ("torch", "keras_hub"): "keras-hub LlamaBackbone (torch)",
    ("torch", "hand"): "PyTorch eager, hand-written",
    ("torch", "hand_compile"): "PyTorch torch.compile, hand-written",
    ("torch", "onnxruntime"): "onnxruntime (ONNX export of dlzoo)",
    ("torch", "dlzoo_fast"): "dlzoo compile_forward (torch)",
    ("jax", "dlzoo_fast"): "dlzoo compile_forward (jax)",
    ("tensorflow", "dlzoo_fast"): "dlzoo compile_forward (tensorflow)",
    ("jax", "dlzoo"): "dlzoo (Keras on jax)",
    ("jax", "keras_hub"): "keras-hub LlamaBackbone (jax)",
    ("jax", "hand"): "JAX jax.jit + optax, hand-written",
    ("tensorflow", "dlzoo"): "dlzoo (Keras on tensorflow)",
    ("tensorflow", "keras_hub"): "keras-hub LlamaBackbone (tensorflow)",
    ("tensorflow", "hand"): "TensorFlow tf.function, hand-written",
    ("tensorflow", "hand_xla"): "TensorFlow tf.function(jit_compile=True), hand-written",
}


@dataclasses.dataclass
class Options:
    """Knobs shared by all sections (see `python -m tools.bench --help`)."""

    backends: tuple = BACKENDS
    quick: bool = False
    rounds: Optional[int] = None  # overrides every section's default
    device: str = "cpu"  # "cpu" hides accelerators from the workers; "gpu" leaves them visible
    precision: str = "fp32"  # "bf16": Keras mixed_bfloat16, torch autocast, JAX bf16 compute
    skip: tuple = ()  # contender impls to leave out (e.g. "hand_compile", "keras_hub")
    extra: tuple = ()  # optional contenders to add ("hand_xla")
    threads: Optional[int] = None  # per-worker thread budget (default: each engine's own, all cores)
    log: Callable[[str], None] = print
    log_dir: str = ""

    def n_rounds(self, default: int) -> int:
        if self.rounds is not None:
            return self.rounds
        return 1 if self.quick else default

    def worker(self, label, spec, keras_backend) -> Worker:
        spec = dict(spec, device=self.device, precision=self.precision)
        return Worker(label, spec, keras_backend, self.log_dir, device=self.device, threads=self.threads)


def train_settings(opts: Options) -> List[Setting]:
    return [TINY] if opts.quick else [SMALL, LARGE]


def infer_cases(opts: Options) -> List[tuple]:
    if opts.quick:
        return [(TINY, 1), (TINY, 4)]
    return [(SMALL, 1), (SMALL, 32), (LARGE, 1), (LARGE, 32)]


def _impls(engine: str, opts: Options, train: bool, infer: bool = True) -> List[str]:
    impls = ["dlzoo", "keras_hub", "hand"]
    if infer:
        impls.append("dlzoo_fast")  # `dlzoo.compile_forward(model)`: inference only
    if engine == "torch" and train:
        impls.append("hand_compile")
    if engine == "tensorflow" and "hand_xla" in opts.extra:
        impls.append("hand_xla")
    if opts.quick:
        impls = [i for i in impls if i in ("dlzoo", "dlzoo_fast", "hand")]
    return [i for i in impls if i not in opts.skip]


# ------------------------------------------------------------------ peak
def run_peak(opts: Options) -> Dict[str, Any]:
    """Float32 square-matmul throughput of NumPy and each backend (interleaved)."""
    sizes = [256] if opts.quick else [1024, 2048]
    engines = ["numpy"] + list(opts.backends)
    contenders = []
    for engine in engines:
        w = opts.worker(f"matmul-{engine}", {"task": "matmul", "engine": engine, "sizes": sizes},
                        engine if engine != "numpy" else opts.backends[0])
        for n in sizes:
            contenders.append(Contender(f"{engine} {n}", w, f"n{n}", engine=engine, size=n, flops=2 * n**3))
    results = harness.run_interleaved(contenders, opts.n_rounds(5), warmup=1, log=opts.log)
    best = None
    for r in results:
        r["gflops"] = r["flops"] / r["median_s"] / 1e9 if r["median_s"] else None
        r["gflops_best"] = r["flops"] / r["min_s"] / 1e9 if r["min_s"] else None
        if r["gflops"] and (best is None or r["gflops"] > best["gflops"]):
            best = r
    return {"results": results, "peak_gflops": best["gflops"] if best else None,
            "peak_source": best["label"] if best else None}


# ----------------------------------------------------------------- llama
def llama_workers(opts: Options, train: bool, infer: bool) -> List[tuple]:
    """(engine, impl, Worker) for every contender of the Llama comparisons."""
    settings = [s.to_dict() for s in train_settings(opts)] if train else []
    cases = [[s.to_dict(), b] for s, b in infer_cases(opts)] if infer else []
    out = []
    for engine in opts.backends:
        for impl in _impls(engine, opts, train, infer):
            if impl == "hand_compile" and not train:
                continue
            spec = {"task": "llama", "impl": impl, "engine": engine,
                    "train": settings if impl != "dlzoo_fast" else [],
                    "infer": cases if impl != "hand_compile" else []}
            out.append((engine, impl, opts.worker(f"{engine}-{impl}", spec, engine)))
    if infer and "torch" in opts.backends and "onnxruntime" not in opts.skip:
        spec = {"task": "llama", "impl": "onnxruntime", "engine": "torch", "train": [], "infer": cases}
        out.append(("torch", "onnxruntime", opts.worker("torch-onnxruntime", spec, "torch")))
    return out


def run_llama(opts: Options, train=True, infer=True) -> Dict[str, Any]:
    """Training steps (section 1) and forward latency (section 2) with the same workers."""
    workers = llama_workers(opts, train, infer)
    harness.setup_workers([w for _, _, w in workers], opts.log)
    out: Dict[str, Any] = {"train": [], "infer": [], "settings": {}}
    try:
        if train:
            for s in train_settings(opts):
                out["settings"][s.name] = s.to_dict()
                opts.log(f"[train] {s.name}: {s.describe()}")
                contenders = [
                    Contender(f"{LABELS.get((e, i), i)}", w, f"train-{s.name}", engine=e, impl=i, setting=s.name)
                    for e, i, w in workers
                    if i not in INFERENCE_ONLY
                ]
                rounds = opts.n_rounds(7 if s is SMALL else 5)
                budget = None if opts.quick else (240 if s is SMALL else 420)
                warmup = 2 if (s is SMALL and not opts.quick) else 1  # the first call compiles
                out["train"] += harness.time_interleaved(contenders, rounds, warmup=warmup, budget_s=budget,
                                                         min_rounds=min(3, rounds), log=opts.log)
        if infer:
            for s, b in infer_cases(opts):
                out["settings"][s.name] = s.to_dict()
                opts.log(f"[infer] {s.name} batch {b}")
                contenders = [
                    Contender(f"{LABELS.get((e, i), i)}", w, f"infer-{s.name}-b{b}", engine=e, impl=i,
                              setting=s.name, batch=b)
                    for e, i, w in workers
                    if i != "hand_compile"
                ]
                out["infer"] += harness.time_interleaved(contenders, opts.n_rounds(7), warmup=2 if not opts.quick
                                                         else 1, budget_s=None if opts.quick else 150, log=opts.log)
    except BaseException:
        harness.close_workers([w for _, _, w in workers], opts.log, graceful=False)
        raise
    harness.close_workers([w for _, _, w in workers], opts.log)
    return out


# -------------------------------------------------------------- overhead
def run_imports(opts: Options) -> Dict[str, Any]:
    """`import keras` vs `import dlzoo` in fresh interpreters, interleaved, per backend."""
    reps = opts.n_rounds(5)
    samples: Dict[str, Dict[str, List[dict]]] = {b: {"keras": [], "dlzoo": []} for b in opts.backends}
    for r in range(reps):
        for b in opts.backends:
            for module in ("keras", "dlzoo"):
                try:
                    samples[b][module].append(harness.time_import(module, b, opts.device, threads=opts.threads))
                except Exception as exc:  # noqa: BLE001 - recorded in the results
                    samples[b][module].append({"error": str(exc)[:300]})
        opts.log(f"  imports round {r + 1}/{reps}: " + "; ".join(
            f"{b} keras {_last_s(samples[b]['keras'])} dlzoo {_last_s(samples[b]['dlzoo'])}" for b in opts.backends))
    results = []
    for b in opts.backends:
        row = {"backend": b}
        for module in ("keras", "dlzoo"):
            ok = [s for s in samples[b][module] if "s" in s]
            row[module] = harness.summarize([s["s"] for s in ok])
            row[module]["tensorflow_imported"] = any(s.get("tensorflow") for s in ok)
            row[module]["keras_hub_imported"] = any(s.get("keras_hub") for s in ok)
            row[module]["errors"] = [s["error"] for s in samples[b][module] if "error" in s]
        pairs = [d["s"] - k["s"] for k, d in zip(samples[b]["keras"], samples[b]["dlzoo"]) if "s" in k and "s" in d]
        row["overhead_s"] = (row["dlzoo"]["median_s"] - row["keras"]["median_s"]
                             if row["dlzoo"]["median_s"] is not None and row["keras"]["median_s"] is not None else None)
        row["paired_overhead"] = harness.summarize(pairs)
        results.append(row)
    return {"results": results}


def _last_s(samples):
    return f"{samples[-1]['s']:.2f}s" if samples and "s" in samples[-1] else "error"


def run_overhead(opts: Options) -> Dict[str, Any]:
    """`dlzoo.build` (tiny, ~100M) and `dlzoo.count_params` (largest model) per backend."""
    contenders = []
    for b in opts.backends:
        w = opts.worker(f"overhead-{b}", {"task": "overhead"}, b)
        variants = ["build_tiny", "count_params_largest"] + ([] if opts.quick else ["build_100m"])
        for v in variants:
            contenders.append(Contender(f"{v} ({b})", w, v, backend=b, what=v))
    results = harness.run_interleaved(contenders, opts.n_rounds(3), warmup=1, log=opts.log)
    return {"results": results}


# ------------------------------------------------------------------- lcm
def lcm_specs(opts: Options) -> List[Dict[str, Any]]:
    """The LCM sizes: on CPU MiniLM-sized concepts (384), width 256, 4 layers (two-tower: 2 + 2);
    with `--device gpu` the full lcm-base width with 4 layers."""
    if opts.quick:
        common = {"embedding_dim": 16, "hidden_dim": 16, "max_sequence_length": 8,
                  "attention": {"num_heads": 2}, "feedforward": {"intermediate_dim": 32, "multiple_of": 8}}
        base = dict(common, num_layers=1)
        tower = dict(common, num_encoder_layers=1, num_denoiser_layers=1)
        batch, seq = 2, 8
    elif opts.device == "gpu":
        # Full lcm-base width (2048, 16 heads, SwiGLU 8192 -> 5632) on SONAR-sized concepts, a few layers.
        common = {"embedding_dim": 1024, "hidden_dim": 2048, "max_sequence_length": 256, "dropout": 0.0,
                  "attention": {"num_heads": 16}, "feedforward": {"intermediate_dim": 8192, "multiple_of": 256}}
        base = dict(common, num_layers=4)
        tower = dict(common, num_encoder_layers=2, num_denoiser_layers=2)
        batch, seq = 32, 128
    else:
        common = {"embedding_dim": 384, "hidden_dim": 256, "max_sequence_length": 128, "dropout": 0.0,
                  "attention": {"num_heads": 4}, "feedforward": {"intermediate_dim": 1024, "multiple_of": 64}}
        base = dict(common, num_layers=4)
        tower = dict(common, num_encoder_layers=2, num_denoiser_layers=2)
        batch, seq = 16, 64
    return [
        {"model": "lcm-base-tiny", "overrides": base, "batch_size": batch, "sequence_length": seq},
        {"model": "lcm-two-tower-tiny", "overrides": tower, "batch_size": batch, "sequence_length": seq},
    ]


def run_lcm(opts: Options) -> Dict[str, Any]:
    """LCM training throughput (concepts/s) and the concept encoder's sentences/s, per backend."""
    contenders = []
    for b in opts.backends:
        for spec in lcm_specs(opts):
            w = opts.worker(f"lcm-{spec['model']}-{b}", dict(spec, task="lcm"), b)
            contenders.append(Contender(f"{spec['model']} ({b})", w, "step", backend=b, model=spec["model"],
                                        overrides=spec["overrides"], batch_size=spec["batch_size"],
                                        sequence_length=spec["sequence_length"]))
    train = harness.run_interleaved(contenders, opts.n_rounds(5), warmup=2 if not opts.quick else 1,
                                    budget_s=None if opts.quick else 180, log=opts.log)
    for r in train:
        r["concepts_per_s"] = r["batch_size"] * r["sequence_length"] / r["median_s"] if r["median_s"] else None
    encoder = []
    if not opts.quick:
        contenders = []
        for b in opts.backends:
            w = opts.worker(f"encoder-{b}", {"task": "encoder", "num_sentences": 256, "batch_size": 64}, b)
            contenders.append(Contender(f"SentenceEncoder ({b})", w, "encode", backend=b, num_sentences=256))
        encoder = harness.run_interleaved(contenders, opts.n_rounds(3), warmup=1, log=opts.log)
        for r in encoder:
            r["sentences_per_s"] = r["num_sentences"] / r["median_s"] if r["median_s"] else None
    return {"train": train, "encoder": encoder}


SECTIONS = ("peak", "train", "infer", "generate", "lcm_generate", "int8", "imports", "cli", "overhead", "lcm")


def run_sections(sections, opts: Options) -> Dict[str, Any]:
    """Run the chosen sections in the canonical order; returns `{section: result, "durations_s": ...}`."""
    out: Dict[str, Any] = {"durations_s": {}}
    order = [s for s in SECTIONS if s in sections]
    if "peak" in order:  # first, so that it is measured next to the training steps it normalizes
        start = time.perf_counter()
        opts.log("== peak: float32 matmul ==")
        out["peak"] = run_peak(opts)
        out["durations_s"]["peak"] = time.perf_counter() - start
    if "train" in order or "infer" in order:
        # Section 1 and 2 share their workers (one model per contender and setting).
        start = time.perf_counter()
        opts.log("== Llama: training steps and inference ==")
        llama = run_llama(opts, train="train" in order, infer="infer" in order)
        out["durations_s"]["llama"] = time.perf_counter() - start
        if "train" in order:
            out["train"] = {"settings": llama["settings"], "results": llama["train"]}
        if "infer" in order:
            out["infer"] = {"settings": llama["settings"], "results": llama["infer"]}
    from tools.bench.cli import run_cli
    from tools.bench.generation import run_generate
    from tools.bench.lcm_generation import run_lcm_generate
    from tools.bench.quantize import run_int8

    for name, fn in (("generate", run_generate), ("lcm_generate", run_lcm_generate), ("int8", run_int8),
                     ("imports", run_imports), ("cli", run_cli),
                     ("overhead", run_overhead), ("lcm", run_lcm)):
        if name in order:
            start = time.perf_counter()
            opts.log(f"== {name} ==")
            out[name] = fn(opts)
            out["durations_s"][name] = time.perf_counter() - start
    return out


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
