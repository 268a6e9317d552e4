"""Benchmark section `lcm_generate`: the LCM generation loop before/after its compiled fast path.

Per backend, one worker builds `lcm-base-tiny` and `lcm-two-tower-tiny`
(random weights) and times `dlzoo.lcm.generate` on the same prompts with
`compiled=False` (each layer called one by one: the loop before issue 16)
and `compiled=True` (per-step programs, the default), interleaved. No
end-of-text embedding and `min_new_concepts == max_new_concepts`, so every
call makes the same number of concepts; the Two-Tower denoiser runs a short
DDIM schedule to keep the slow path affordable.
"""

import os
from typing import Any, Dict, List

import numpy as np

from tools.bench import harness
from tools.bench.harness import Contender

MODELS = ("lcm-base-tiny", "lcm-two-tower-tiny")


def lcm_generate_case(opts) -> Dict[str, Any]:
    """Prompts, new concepts and DDIM steps of the section (fewer with `--quick`)."""
    if opts.quick:
        return {"num_prompts": 1, "prompt_concepts": 4, "new_concepts": 2, "num_inference_steps": 2}
    return {"num_prompts": 2, "prompt_concepts": 8, "new_concepts": 4, "num_inference_steps": 10}


class LcmGenerateTask:
    """Both LCMs on one backend; variants `<model>-compiled` and `<model>-layers`."""

    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self):
        import dlzoo
        from dlzoo.lcm import generate

        case = self.spec["case"]
        self._calls = {}
        info = {"backend": os.environ.get("KERAS_BACKEND"), "params": {}}
        for name in MODELS:
            model = dlzoo.build(name)
            info["params"][name] = int(model.count_params())
            dim = model.zoo_config["params"]["embedding_dim"]
            prompts = [np.random.default_rng(i).standard_normal((case["prompt_concepts"], dim)).astype("float32")
                       for i in range(case["num_prompts"])]
            settings = dict(max_new_concepts=case["new_concepts"], min_new_concepts=case["new_concepts"])
            if "two-tower" in name:
                settings["num_inference_steps"] = case["num_inference_steps"]
            for variant, compiled in (("compiled", True), ("layers", False)):
                def run(model=model, prompts=prompts, settings=settings, compiled=compiled):
                    result = generate(model, prompts, compiled=compiled, **settings)
                    assert all(len(c) == settings["max_new_concepts"] for c in result.concepts)
                    return result

                self._calls[f"{name}-{variant}"] = run
        return info

    def calls(self):
        return self._calls


def run_lcm_generate(opts) -> Dict[str, Any]:
    """Seconds per `dlzoo.lcm.generate` call, `compiled=False` vs `compiled=True`, per backend and model."""
    case = lcm_generate_case(opts)
    contenders = []
    for b in opts.backends:
        w = opts.worker(f"lcm-generate-{b}", {"task": "lcm_generate", "case": case}, b)
        for name in MODELS:
            for variant in ("layers", "compiled"):
                contenders.append(Contender(f"{name} {variant} ({b})", w, f"{name}-{variant}", backend=b, model=name,
                                            variant_name=variant))
    results = harness.run_interleaved(contenders, opts.n_rounds(3), warmup=1, log=opts.log,
                                      budget_s=None if opts.quick else 60)
    return {"case": case, "results": results}


def lcm_generate_rows(results) -> List[Dict[str, Any]]:
    """One row per (backend, model): before (layers) and after (compiled) seconds, paired speed-up."""
    section = results.get("lcm_generate") or {}
    rows = []
    for r in section.get("results", []):
        if r["variant_name"] != "compiled":
            continue
        before = next((x for x in section["results"] if x["backend"] == r["backend"] and x["model"] == r["model"]
                       and x["variant_name"] == "layers"), {})
        ratios = sorted(b / a for a, b in zip(r.get("times_s") or [], before.get("times_s") or []) if a)
        rows.append({"backend": r["backend"], "model": r["model"], "before_s": before.get("median_s"),
                     "after_s": r.get("median_s"), "speedup": ratios[len(ratios) // 2] if ratios else None,
                     "error": r.get("error") or before.get("error")})
    return rows


def lcm_generate_markdown(results) -> List[str]:
    rows = lcm_generate_rows(results)
    if not rows:
        return []
    case = results["lcm_generate"]["case"]
    lines = ["## LCM generation (before/after the compiled loop)", "",
             f"`dlzoo.lcm.generate` of {case['num_prompts']} prompts of {case['prompt_concepts']} concepts, exactly "
             f"{case['new_concepts']} new concepts each (Two-Tower: {case['num_inference_steps']} requested DDIM "
             "steps, guidance on), random weights of the `-tiny` configs; before = `compiled=False` (layers called "
             "one by one), after = `compiled=True` (the default); speed-up = median of the per-round ratios.", "",
             "| Backend | Model | before (s) | after (s) | speed-up |", "|---|---|---|---|---|"]
    for r in rows:
        if r["before_s"] is None or r["after_s"] is None:
            lines.append(f"| {r['backend']} | {r['model']} | failed: {str(r['error'])[:100]} | | |")
            continue
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        lines.append(f"| {r['backend']} | {r['model']} | {r['before_s']:.3f} | {r['after_s']:.3f} | {speedup} |")
    return lines + [""]
