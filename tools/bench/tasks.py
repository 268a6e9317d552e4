"""What one benchmark worker process runs: a model (or probe) and its timed calls.

Every task is made from a plain-JSON spec inside a worker subprocess whose
`KERAS_BACKEND` is already set, so each module-level import here stays cheap
and engine modules are imported inside the tasks. A task's `setup()` builds
everything and returns facts (parameter count, jit setting, ...); `calls()`
returns `{variant: fn}`, where one `fn()` is one timed unit (a training step,
a forward pass, a build) that only returns when the work is done (results are
converted to Python/NumPy, which waits for asynchronous engines).
"""

import os
import sys
import time
from typing import Any, Callable, Dict

import numpy as np

from tools.bench.settings import ADAMW, Setting, param_count, token_batch

# Names of the ~100M model used for the build-time overhead, in order of preference.
HUNDRED_M_CANDIDATES = ("gpt-base", "bert-base")


def backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


# ------------------------------------------------------------ keras models
def build_keras_llama(impl: str, s: Setting, precision="float32"):
    """The dlzoo model, or keras-hub's `LlamaBackbone` + a Dense LM head, and its input dict."""
    import keras

    if precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if impl == "dlzoo":
        import dlzoo

        model = dlzoo.build("llama-tiny", **s.dlzoo_overrides())
        mask_dtype = "bool"
    elif impl == "keras_hub":
        import keras_hub

        backbone = keras_hub.models.LlamaBackbone(
            vocabulary_size=s.vocabulary_size,
            num_layers=s.num_layers,
            num_query_heads=s.num_heads,
            hidden_dim=s.hidden_dim,
            intermediate_dim=s.intermediate_dim,
            num_key_value_heads=s.num_key_value_heads,
            rope_max_wavelength=s.rope_max_wavelength,
            layer_norm_epsilon=s.epsilon,
            # Tied inside the backbone so that it holds no unused reverse table;
            # the untied LM head is the Dense layer below (same count as dlzoo).
            tie_word_embeddings=True,
        )
        head = keras.layers.Dense(s.vocabulary_size, use_bias=False, name="lm_head", dtype="float32")
        model = keras.Model(backbone.input, head(backbone.output), name="keras_hub_llama_lm")
        mask_dtype = "int32"
    else:
        raise ValueError(f"Unknown Keras contender {impl!r}.")
    return model, mask_dtype


def keras_inputs(s: Setting, mask_dtype: str, batch_size=None):
    ids, labels = token_batch(s, batch_size)
    return {"token_ids": ids, "padding_mask": np.ones(ids.shape, dtype=mask_dtype)}, labels


def compile_keras(model, loss):
    import keras

    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=ADAMW["learning_rate"],
            beta_1=ADAMW["beta_1"],
            beta_2=ADAMW["beta_2"],
            epsilon=ADAMW["epsilon"],
            weight_decay=ADAMW["weight_decay"],
        ),
        loss=loss,
    )


def _jit_setting(model) -> Any:
    jit = getattr(model, "jit_compile", None)
    return jit if isinstance(jit, (bool, str)) or jit is None else str(jit)


def _hand_driver(engine: str, impl: str, s: Setting, spec):
    if engine == "torch":
        import torch

        from tools.bench.hand_torch import TorchLlama

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return TorchLlama(s, compiled=impl == "hand_compile", device=device)
    if engine == "jax":
        from tools.bench.hand_jax import JaxLlama

        return JaxLlama(s, compute_dtype="bfloat16" if spec.get("precision") == "bf16" else "float32")
    if engine == "tensorflow":
        from tools.bench.hand_tf import TFLlama

        if spec.get("precision") == "bf16":
            raise NotImplementedError("the hand-written TensorFlow model is float32 only")
        return TFLlama(s, jit_compile=impl == "hand_xla")
    raise ValueError(f"Unknown engine {engine!r}.")


def _torch_autocast(spec):
    if spec.get("precision") != "bf16":
        return None
    import torch

    return torch.bfloat16


# ----------------------------------------------------------------- tasks
class Task:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self) -> Dict[str, Any]:
        return {}

    def calls(self) -> Dict[str, Callable[[], Any]]:
        raise NotImplementedError


class LlamaTask(Task):
    """The Llama-style LM of one contender: training steps and forward passes at several settings.

    Spec: `impl` (`"dlzoo"`, `"dlzoo_fast"` (the dlzoo model through
    `dlzoo.compile_forward`, inference only), `"keras_hub"`, `"hand"`,
    `"hand_compile"`, `"hand_xla"` or `"onnxruntime"`), `engine`, `train` (list of setting
    dicts) and `infer` (list of `[setting dict, batch size]`). One model is
    built per setting and serves both its training steps and its forward
    passes. Variants: `train-<setting>` and `infer-<setting>-b<batch>`.
    """

    def setup(self):
        spec = self.spec
        impl = spec["impl"]
        settings = {}
        for d in spec.get("train", []):
            settings[d["name"]] = Setting.from_dict(d)
        for d, _ in spec.get("infer", []):
            settings[d["name"]] = Setting.from_dict(d)
        info = {"backend": backend(), "params": {}, "expected_params": {}}
        self._calls = {}
        self._models = {}
        train_names = [d["name"] for d in spec.get("train", [])]
        for name, s in settings.items():
            info["expected_params"][name] = param_count(s)
            if impl == "onnxruntime":
                info.update(self._setup_onnx(s, [b for d, b in spec.get("infer", []) if d["name"] == name]))
                continue
            if impl in ("dlzoo", "keras_hub", "dlzoo_fast"):
                info["params"][name] = self._setup_keras(impl, s, name in train_names, spec)
                info["jit_compile"] = self._jit
                if impl == "dlzoo_fast":
                    info["fast_path"] = "dlzoo.compile_forward"
            else:
                info["params"][name] = self._setup_hand(impl, s, name in train_names, spec)
        for d, b in spec.get("infer", []):
            if impl != "onnxruntime":
                self._calls[f"infer-{d['name']}-b{b}"] = self._forward(d["name"], Setting.from_dict(d), b)
        return info

    def _setup_keras(self, impl, s, train, spec):
        import keras

        # `dlzoo_fast` is the `dlzoo` contender's model, run through `dlzoo.compile_forward`.
        model, mask_dtype = build_keras_llama("dlzoo" if impl == "dlzoo_fast" else impl, s, spec.get("precision"))
        self._models[s.name] = (model, mask_dtype)
        if impl == "dlzoo_fast":
            import dlzoo

            self._fast = getattr(self, "_fast", {})
            self._fast[s.name] = dlzoo.compile_forward(model)
        self._jit = None
        if train:
            compile_keras(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            self._jit = _jit_setting(model)
            x, y = keras_inputs(s, mask_dtype)
            self._calls[f"train-{s.name}"] = lambda: float(model.train_on_batch(x, y))
        return int(model.count_params())

    def _setup_hand(self, impl, s, train, spec):
        driver = _hand_driver(spec["engine"], impl, s, spec)
        self._models[s.name] = (driver, None)
        if train:
            ids, labels = token_batch(s)
            if spec["engine"] == "torch":
                self._calls[f"train-{s.name}"] = driver.train_step_fn(ids, labels, autocast_dtype=_torch_autocast(spec))
            else:
                self._calls[f"train-{s.name}"] = driver.train_step_fn(ids, labels)
        return driver.num_params()

    def _forward(self, name, s, batch_size):
        model, mask_dtype = self._models[name]
        if self.spec["impl"] == "dlzoo_fast":
            x, _ = keras_inputs(s, mask_dtype, batch_size)
            return _compiled_forward_fn(self._fast[name], x)
        if self.spec["impl"] in ("dlzoo", "keras_hub"):
            x, _ = keras_inputs(s, mask_dtype, batch_size)
            return _predict_fn(model, x, batch_size)
        ids, _ = token_batch(s, batch_size)
        if self.spec["engine"] == "torch":
            return model.forward_fn(ids, autocast_dtype=_torch_autocast(self.spec))
        return model.forward_fn(ids)

    def _setup_onnx(self, s, batches):
        import tempfile

        import onnxruntime as ort

        model, mask_dtype = build_keras_llama("dlzoo", s)
        directory = tempfile.mkdtemp(prefix="dlzoo_bench_onnx_")
        path, how = _export_onnx(model, directory)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if os.environ.get("DLZOO_BENCH_THREADS"):
            options.intra_op_num_threads = int(os.environ["DLZOO_BENCH_THREADS"])
            options.inter_op_num_threads = 1
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        if self.spec.get("device", "cpu") == "cpu":
            providers = ["CPUExecutionProvider"]
        session = ort.InferenceSession(path, options, providers=providers)
        inputs = {i.name: i.type for i in session.get_inputs()}
        for b in batches:
            x, _ = keras_inputs(s, mask_dtype, b)
            feed = {}
            for name, onnx_type in inputs.items():
                value = x["token_ids" if "token" in name else "padding_mask"]
                if "bool" in onnx_type:
                    value = value.astype(bool)
                elif "int64" in onnx_type:
                    value = value.astype("int64")
                elif "int32" in onnx_type:
                    value = value.astype("int32")
                feed[name] = value
            self._calls[f"infer-{s.name}-b{b}"] = lambda feed=feed: session.run(None, feed)
        return {"export": how, "onnx_bytes": os.path.getsize(path), "providers": session.get_providers()}

    def calls(self):
        return self._calls


def _predict_fn(model, x, batch_size):
    def run():
        return model.predict(x, batch_size=batch_size, verbose=0)

    return run


def _compiled_forward_fn(forward, x):
    """One call of a `dlzoo.compile_forward` program on NumPy inputs, waiting for its result the way the
    hand-written contenders do: `block_until_ready` on JAX, `.numpy()` on TensorFlow, a CUDA synchronize on torch
    (eager CPU torch is synchronous)."""
    import keras

    name = backend()
    if name == "jax":
        import jax

        return lambda: jax.block_until_ready(forward(x))
    if name == "tensorflow":
        return lambda: keras.tree.map_structure(lambda t: t.numpy(), forward(x))
    import torch

    def run():
        out = forward(x)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return out

    return run


def _export_onnx(model, directory):
    """ONNX file of a Keras model: `dlzoo.export` when it works here, else `model.export`."""
    try:
        import dlzoo

        result = dlzoo.export(model, os.path.join(directory, "dlzoo"), formats=["onnx"], verify=False)
        path = result.artifacts["onnx"]
        path = path if isinstance(path, str) else getattr(path, "path", os.path.join(result.path, "model.onnx"))
        if not os.path.exists(path):
            path = os.path.join(str(result.path), "model.onnx")
        return path, "dlzoo.export"
    except Exception as exc:  # noqa: BLE001 - the fallback is the point
        print(f"dlzoo.export failed ({type(exc).__name__}: {exc}); falling back to model.export", file=sys.stderr)
        path = os.path.join(directory, "model.onnx")
        model.export(path, format="onnx")
        return path, f"model.export (dlzoo.export failed: {type(exc).__name__})"


class MatmulTask(Task):
    """Float32 square matmul throughput of one engine (the machine's practical peak)."""

    def setup(self):
        engine = self.spec["engine"]
        self._calls = {}
        rng = np.random.default_rng(0)
        info = {"engine": engine}
        for n in self.spec["sizes"]:
            a = rng.standard_normal((n, n)).astype("float32")
            b = rng.standard_normal((n, n)).astype("float32")
            self._calls[f"n{n}"] = _matmul_fn(engine, a, b)
        if engine == "numpy":
            info["blas"] = _numpy_blas()
        return info

    def calls(self):
        return self._calls


def _numpy_blas():
    try:
        config = np.show_config(mode="dicts")
        return config["Build Dependencies"]["blas"]["name"]
    except Exception:  # noqa: BLE001
        return "unknown"


def _matmul_fn(engine, a, b):
    if engine == "numpy":
        return lambda: a @ b
    if engine == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

        def run():
            out = ta @ tb
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return run
    if engine == "jax":
        import jax
        import jax.numpy as jnp

        ja, jb = jnp.asarray(a), jnp.asarray(b)
        f = jax.jit(jnp.matmul)
        return lambda: f(ja, jb).block_until_ready()
    if engine == "tensorflow":
        import tensorflow as tf

        ta, tb = tf.constant(a), tf.constant(b)
        f = tf.function(tf.matmul)
        return lambda: f(ta, tb).numpy()
    raise ValueError(engine)


class LcmTrainTask(Task):
    """Training steps of a Large Concept Model (`lcm-base*` or `lcm-two-tower*`) through `train_on_batch`."""

    def setup(self):
        import dlzoo

        spec = self.spec
        if spec.get("precision") == "bf16":
            import keras

            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = dlzoo.build(spec["model"], **spec.get("overrides", {}))
        compile_keras(model, dlzoo.lcm.loss_for(model))
        rng = np.random.default_rng(0)
        b, t = spec["batch_size"], spec["sequence_length"]
        e = model.zoo_config["params"]["embedding_dim"] if hasattr(model, "zoo_config") else spec["embedding_dim"]
        embeddings = rng.standard_normal((b, t, e)).astype("float32")
        x = {"embeddings": embeddings, "padding_mask": np.ones((b, t), bool)}
        self._fn = lambda: float(model.train_on_batch(x, embeddings))
        return {"backend": backend(), "params": int(model.count_params()), "concepts_per_step": b * t,
                "jit_compile": _jit_setting(model)}

    def calls(self):
        return {"step": self._fn}


# A small fixed vocabulary for the synthetic sentences of the encoder benchmark.
_WORDS = (
    "the model reads a sentence and maps it to one vector that keeps its meaning while the next "
    "concept is predicted from the previous ones in a long document about science history music "
    "cities rivers proteins markets language learning systems data training evaluation results"
).split()


def synthetic_sentences(n, seed=0):
    """`n` deterministic English-like sentences of 6 to 30 words (realistic token counts for MiniLM)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = rng.choice(_WORDS, size=int(rng.integers(6, 31)))
        out.append(" ".join(words).capitalize() + ".")
    return out


class EncoderTask(Task):
    """`dlzoo.concepts.SentenceEncoder().encode(sentences)` (all-MiniLM-L6-v2) throughput."""

    def setup(self):
        from dlzoo.concepts import SentenceEncoder

        self._sentences = synthetic_sentences(self.spec["num_sentences"])
        self._encoder = SentenceEncoder(batch_size=self.spec.get("batch_size", 64))
        return {"backend": backend(), "sentences_per_call": len(self._sentences),
                "embedding_dim": int(self._encoder.embedding_dim)}

    def calls(self):
        return {"encode": lambda: self._encoder.encode(self._sentences, progress=False)}


class OverheadTask(Task):
    """`dlzoo.build` of a tiny and a ~100M model, `dlzoo.count_params` of the largest registered model."""

    def setup(self):
        t0 = time.perf_counter()
        import dlzoo

        info = {"backend": backend(), "import_dlzoo_s": time.perf_counter() - t0}
        info["tensorflow_after_import"] = "tensorflow" in sys.modules
        t0 = time.perf_counter()
        names = dlzoo.list_models()
        counts = {}
        for name in names:
            try:
                counts[name] = int(dlzoo.count_params(name))
            except Exception as exc:  # noqa: BLE001 - a broken config must not stop the benchmark
                print(f"count_params({name!r}) failed: {exc}", file=sys.stderr)
        info["count_all_models_s"] = time.perf_counter() - t0
        largest = max(counts, key=counts.get)
        hundred = next((n for n in HUNDRED_M_CANDIDATES if n in counts), None)
        if hundred is None:  # the model closest to 100M parameters
            hundred = min(counts, key=lambda n: abs(counts[n] - 100e6))
        info.update(largest=largest, largest_params=counts[largest], hundred_m=hundred,
                    hundred_m_params=counts[hundred], tiny="llama-tiny", tiny_params=counts.get("llama-tiny"))
        self._calls = {
            "build_tiny": lambda: dlzoo.build("llama-tiny"),
            "build_100m": lambda: dlzoo.build(hundred),
            "count_params_largest": lambda: dlzoo.count_params(largest),
        }
        self._dlzoo = dlzoo
        return info

    def calls(self):
        return self._calls

    def after(self):
        return {"tensorflow_after_build": "tensorflow" in sys.modules}


from tools.bench.generation import GenerateTask  # noqa: E402 - the section lives in its own module
from tools.bench.lcm_generation import LcmGenerateTask  # noqa: E402 - the section lives in its own module
from tools.bench.quantize import QuantizeTask  # noqa: E402 - the section lives in its own module

TASKS = {
    "generate": GenerateTask,
    "int8": QuantizeTask,
    "lcm_generate": LcmGenerateTask,
    "llama": LlamaTask,
    "matmul": MatmulTask,
    "lcm": LcmTrainTask,
    "encoder": EncoderTask,
    "overhead": OverheadTask,
}
