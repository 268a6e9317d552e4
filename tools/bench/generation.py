"""Benchmark section `generate`: tokens/s of greedy generation, dlzoo per backend against `transformers`.

The model is the width-256 Llama shape of the training section (`SMALL`,
vocabulary 512) with random weights made once by `transformers` from a
seeded `torch` generator: every worker (any backend) makes the same
`LlamaForCausalLM`, writes it with `save_pretrained`, and dlzoo loads that
directory with `dlzoo.build`, so all contenders run identical weights. One
timed call continues a batch of `prompt_length`-token prompts by exactly
`new_tokens` greedy tokens (no stop token): `dlzoo.generate` on each Keras
backend, `LlamaForCausalLM.generate` (PyTorch eager, KV cache) as the
reference, and keras-hub's `LlamaCausalLM.generate` (its own compiled,
KV-cached loop) on each backend, with random weights of the same shapes
(keras-hub cannot read the local checkpoint; speed does not depend on the
values, every call makes all new tokens). tokens/s counts generated tokens
only (batch x new tokens).
"""

import os
import tempfile
from typing import Any, Dict, List

import numpy as np

from tools.bench import harness
from tools.bench.harness import Contender
from tools.bench.settings import SMALL, TINY, Setting

PROMPT_LENGTH = 64
NEW_TOKENS = 128
BATCHES = (1, 8)
LABELS = {
    "dlzoo": "dlzoo.generate ({engine})",
    "transformers": "transformers LlamaForCausalLM.generate (torch)",
    "keras_hub": "keras-hub LlamaCausalLM.generate ({engine})",
}


def generation_cases(opts):
    """`(setting, prompt length, new tokens, batches)` of the section (tiny with `--quick`)."""
    if opts.quick:
        return TINY, 8, 8, (1, 2)
    return SMALL, PROMPT_LENGTH, NEW_TOKENS, BATCHES


def reference_model(s: Setting, max_positions: int):
    """The seeded `transformers` Llama of shape `s` (no stop token: every call makes all new tokens)."""
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=s.vocabulary_size, hidden_size=s.hidden_dim, num_hidden_layers=s.num_layers,
        num_attention_heads=s.num_heads, num_key_value_heads=s.num_key_value_heads,
        intermediate_size=s.intermediate_dim, max_position_embeddings=max_positions,
        rope_theta=s.rope_max_wavelength, rms_norm_eps=s.epsilon, tie_word_embeddings=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=0,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def prompts(s: Setting, batch_size: int, prompt_length: int):
    rng = np.random.default_rng(batch_size)
    return rng.integers(1, s.vocabulary_size, size=(batch_size, prompt_length)).astype("int32")


class GenerateTask:
    """One contender of the `generate` section (spec: `impl`, `engine`, `setting`, `prompt_length`,
    `new_tokens`, `batches`); variants `b<batch>`."""

    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self):
        spec = self.spec
        s = Setting.from_dict(spec["setting"])
        prompt_length, new_tokens = spec["prompt_length"], spec["new_tokens"]
        reference = reference_model(s, prompt_length + new_tokens)
        self._calls = {}
        info = {"backend": os.environ.get("KERAS_BACKEND"), "params": int(reference.num_parameters())}
        if spec["impl"] == "transformers":
            import torch

            threads = os.environ.get("DLZOO_BENCH_THREADS")
            if threads:
                torch.set_num_threads(int(threads))
            for b in spec["batches"]:
                ids = torch.tensor(prompts(s, b, prompt_length), dtype=torch.long)
                mask = torch.ones_like(ids)

                def run(ids=ids, mask=mask):
                    with torch.inference_mode():
                        out = reference.generate(ids, attention_mask=mask, max_new_tokens=new_tokens,
                                                 min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
                    assert out.shape[1] == prompt_length + new_tokens
                    return out

                self._calls[f"b{b}"] = run
            return info
        if spec["impl"] == "keras_hub":
            self._setup_keras_hub(s, prompt_length, new_tokens, spec["batches"])
            return info
        import dlzoo

        directory = tempfile.mkdtemp(prefix="dlzoo_bench_generate_")
        reference.save_pretrained(directory)
        model = dlzoo.build(directory)
        info["dlzoo_params"] = int(model.count_params())
        for b in spec["batches"]:
            ids = prompts(s, b, prompt_length)

            def run(ids=ids):
                out = dlzoo.generate(model, ids, max_new_tokens=new_tokens)
                assert out.shape[1] == prompt_length + new_tokens
                return out

            self._calls[f"b{b}"] = run
        return info

    def _setup_keras_hub(self, s, prompt_length, new_tokens, batches):
        import keras_hub

        backbone = keras_hub.models.LlamaBackbone(
            vocabulary_size=s.vocabulary_size, num_layers=s.num_layers, num_query_heads=s.num_heads,
            hidden_dim=s.hidden_dim, intermediate_dim=s.intermediate_dim, num_key_value_heads=s.num_key_value_heads,
            rope_max_wavelength=s.rope_max_wavelength, layer_norm_epsilon=s.epsilon, tie_word_embeddings=False,
        )
        causal_lm = keras_hub.models.LlamaCausalLM(backbone=backbone, preprocessor=None)
        for b in batches:
            # Without a preprocessor keras-hub fills the unmasked columns of a full-length buffer.
            ids = np.zeros((b, prompt_length + new_tokens), "int32")
            ids[:, :prompt_length] = prompts(s, b, prompt_length)
            mask = np.zeros(ids.shape, bool)
            mask[:, :prompt_length] = True

            def run(ids=ids, mask=mask):
                out = causal_lm.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)
                assert int(np.asarray(out["padding_mask"]).sum()) == ids.size
                return out

            self._calls[f"b{b}"] = run

    def calls(self):
        return self._calls


def run_generate(opts) -> Dict[str, Any]:
    """Greedy generation tokens/s per batch: dlzoo on each backend and transformers, interleaved."""
    s, prompt_length, new_tokens, batches = generation_cases(opts)
    base = {"task": "generate", "setting": s.to_dict(), "prompt_length": prompt_length, "new_tokens": new_tokens,
            "batches": list(batches)}
    workers = [("torch", "transformers", opts.worker("generate-transformers", dict(base, impl="transformers",
                                                                                   engine="torch"), "torch"))]
    for engine in opts.backends:
        for impl in ("dlzoo", "keras_hub"):
            if impl in opts.skip:
                continue
            workers.append((engine, impl, opts.worker(f"generate-{impl}-{engine}", dict(base, impl=impl,
                                                                                       engine=engine), engine)))
    results: List[Dict[str, Any]] = []
    harness.setup_workers([w for _, _, w in workers], opts.log)
    try:
        for b in batches:
            opts.log(f"[generate] batch {b}, prompt {prompt_length}, {new_tokens} new tokens")
            contenders = [Contender(LABELS[impl].format(engine=engine), w, f"b{b}", engine=engine, impl=impl,
                                    batch=b, new_tokens=new_tokens, prompt_length=prompt_length)
                          for engine, impl, w in workers]
            results += harness.time_interleaved(contenders, opts.n_rounds(5), warmup=1, log=opts.log,
                                                budget_s=None if opts.quick else 240)
    except BaseException:
        harness.close_workers([w for _, _, w in workers], opts.log, graceful=False)
        raise
    harness.close_workers([w for _, _, w in workers], opts.log)
    for r in results:
        r["tokens_per_s"] = r["batch"] * r["new_tokens"] / r["median_s"] if r.get("median_s") else None
        reference = next((x for x in results if x["impl"] == "transformers" and x["batch"] == r["batch"]), None)
        r["vs_transformers"] = (r["tokens_per_s"] / reference["tokens_per_s"]
                                if r["tokens_per_s"] and reference and reference.get("tokens_per_s") else None)
    return {"setting": s.to_dict(), "results": results}


def generate_markdown(results: Dict[str, Any]) -> List[str]:
    section = results.get("generate")
    if not section:
        return []
    s = Setting.from_dict(section["setting"])
    rows = section["results"]
    lines = ["## Generation (tokens/s)", "",
             f"Greedy continuation of random {rows[0]['prompt_length'] if rows else '?'}-token prompts by exactly "
             f"{rows[0]['new_tokens'] if rows else '?'} tokens, Llama shape width {s.hidden_dim}, {s.num_layers} "
             f"layers, vocabulary {s.vocabulary_size}, the same weights for transformers and dlzoo (made by "
             "transformers, loaded by dlzoo; keras-hub: random weights of the same shapes). tokens/s counts "
             "generated tokens; `x transformers` is the ratio of tokens/s.", "",
             "| Batch | Contender | tokens/s | s per call | min-max | x transformers | first call (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r.get("median_s"):
            lines.append(f"| {r['batch']} | {r['label']} | error: {str(r.get('error'))[:80]} | | | | |")
            continue
        first = f"{r['first_s']:.1f}" if r.get("first_s") is not None else "-"
        ratio = f"{r['vs_transformers']:.2f}" if r.get("vs_transformers") else "-"
        lines.append(f"| {r['batch']} | {r['label']} | {r['tokens_per_s']:.0f} | {r['median_s']:.2f} | "
                     f"{r['min_s']:.2f}-{r['max_s']:.2f} | {ratio} | {first} |")
    return lines + [""]
