"""Smoke test of the benchmark harness (`tools/bench`): tiny sizes, one round, no timing assertions."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import keras
import pytest

import dlzoo
from dlzoo.testing import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tools.bench import report  # noqa: E402
from tools.bench.settings import LARGE, SMALL, TINY, forward_flops, param_count, train_flops  # noqa: E402


class SettingsTest(TestCase):
    def test_hand_written_architecture_has_the_dlzoo_parameter_count(self):
        # The hand-written contenders implement `param_count`; it must be the dlzoo model's count.
        for s in (TINY, SMALL, LARGE):
            self.assertEqual(param_count(s), dlzoo.count_params("llama-tiny", **s.dlzoo_overrides()))

    def test_flop_counts_follow_the_formula(self):
        s = TINY
        tokens = s.batch_size * s.sequence_length
        matmul = param_count(s) - s.vocabulary_size * s.hidden_dim - (2 * s.num_layers + 1) * s.hidden_dim
        attention = 4 * s.num_layers * s.hidden_dim * s.sequence_length
        self.assertEqual(train_flops(s), 6 * matmul * tokens + 3 * attention * tokens)
        self.assertEqual(forward_flops(s, 3), (2 * matmul + attention) * 3 * s.sequence_length)


def _row(label, engine, impl, times, setting="w32", **extra):
    return {"label": label, "engine": engine, "impl": impl, "setting": setting, "times_s": times,
            "median_s": sorted(times)[len(times) // 2], "min_s": min(times), "max_s": max(times), **extra}


class ReportTest(TestCase):
    def synthetic(self):
        s = TINY.replace(hidden_dim=512, name="w512")
        return {
            "peak": {"peak_gflops": 100.0, "peak_source": "numpy 4096", "results": []},
            "train": {"settings": {"w512": s.to_dict()}, "results": [
                _row("hand", "torch", "hand", [1.0, 1.0, 1.0], setting="w512"),
                _row("dlzoo", "torch", "dlzoo", [1.2, 1.2, 1.2], setting="w512"),
                _row("hub", "torch", "keras_hub", [1.5, 1.5, 1.5], setting="w512"),
            ]},
            "infer": {"settings": {"w512": s.to_dict()}, "results": [
                _row("dlzoo", "torch", "dlzoo", [0.10, 0.10, 0.10], setting="w512", batch=1),
                _row("ort", "torch", "onnxruntime", [0.04, 0.04, 0.04], setting="w512", batch=1),
            ]},
            "imports": {"results": [{"backend": "torch", "overhead_s": 0.5,
                                     "keras": {"median_s": 1.0, "min_s": 1.0, "max_s": 1.0},
                                     "dlzoo": {"median_s": 1.5, "min_s": 1.5, "max_s": 1.5,
                                               "tensorflow_imported": False}}]},
        }

    def test_targets_are_judged_from_paired_ratios(self):
        results = report.derive(self.synthetic())
        targets = {t["target"]: t for t in report.targets(results)}
        self.assertFalse(targets["dlzoo within 10% of hand-written (torch)"]["met"])  # 1.2x
        self.assertTrue(targets["dlzoo never slower than keras-hub (torch)"]["met"])  # 0.8x
        self.assertFalse(targets["fastest dlzoo backend >= fastest hand-written"]["met"])
        self.assertFalse(targets["import dlzoo <= import keras + 0.3 s"]["met"])  # +0.5 s
        self.assertTrue(targets["onnxruntime batch-1 <= 0.5x Keras eager predict"]["met"])  # 0.4x
        mfu = targets["training MFU at width 512 >= 40% (fastest dlzoo backend)"]
        expected = train_flops(TINY.replace(hidden_dim=512)) / 1.2 / 1e9 / 100.0
        self.assertEqual(mfu["met"], expected >= 0.4)
        text = report.markdown(dict(results, targets=list(targets.values())))
        self.assertIn("| dlzoo within 10% of hand-written (torch) |", text)
        self.assertIn("**not met**", text)

    def synthetic_issue16(self):
        results = self.synthetic()
        s = TINY.replace(hidden_dim=256, name="w256")
        results["train"]["results"].append(_row("compile", "torch", "hand_compile", [0.9, 1.0, 1.1], setting="w512"))
        results["infer"] = {"settings": {"w256": s.to_dict()}, "results": [
            _row("hand", "torch", "hand", [0.10, 0.20, 0.10], setting="w256", batch=1),
            _row("fast", "torch", "dlzoo_fast", [0.11, 0.21, 0.11], setting="w256", batch=1),  # 1.10x, 1.05x, 1.10x
            _row("hand", "torch", "hand", [1.0, 1.0, 1.0], setting="w256", batch=32),
            _row("fast", "torch", "dlzoo_fast", [1.2, 1.2, 1.2], setting="w256", batch=32),  # 1.2x: not met
            _row("ort", "torch", "onnxruntime", [1.5, 1.5, 1.5], setting="w256", batch=32),  # fast 0.8x of ORT
            _row("hand", "jax", "hand", [0.10, 0.10, 0.10], setting="w256", batch=1),
            _row("fast", "jax", "dlzoo_fast", [0.11, 0.11, 0.11], setting="w256", batch=1),
        ]}
        gen = [_row(label, engine, impl, [t] * 3, batch=b, new_tokens=128, prompt_length=64)
               for label, engine, impl, t in (("hf", "torch", "transformers", 2.0),
                                              ("dl", "torch", "dlzoo", 2.5),  # 0.8x transformers' tokens/s
                                              ("dl", "jax", "dlzoo", 1.0))  # 2.0x
               for b in (1, 8)]
        results["generate"] = {"setting": s.to_dict(), "results": gen}
        memory = {"w256": {"float_bytes": 1000, "int8_bytes": 280, "float_quantizable_bytes": 800,
                           "int8_quantizable_bytes": 200}}
        results["int8"] = {"settings": {"w256": s.to_dict()}, "batch": 1, "results": [
            _row(f"{m} w256 (torch)", "torch", None, [t] * 3, setting="w256", backend="torch", mode=m, batch=1,
                 info={"memory": memory, "output_change": {"w256": 0.01}, "forward": "dlzoo.compile_forward"})
            for m, t in (("float", 0.1), ("int8", 0.2))]}
        results["lcm_generate"] = {"case": {"num_prompts": 2, "prompt_concepts": 8, "new_concepts": 4,
                                            "num_inference_steps": 10}, "results": [
            _row(v, "torch", None, [t] * 3, backend="torch", model="lcm-base-tiny", variant_name=v)
            for v, t in (("layers", 0.3), ("compiled", 0.1))]}
        results["meta"] = {"device": "cpu"}
        return report.derive(results)

    def test_issue16_targets_are_judged_and_rendered(self):
        results = self.synthetic_issue16()
        targets = {t["target"]: t for t in report.targets_issue16(results)}
        torch_fast = targets["inference within 15% of hand-written (torch)"]
        self.assertEqual(torch_fast["values"], ["w256 b1: 1.10x", "w256 b32: 1.20x"])
        self.assertFalse(torch_fast["met"])
        self.assertTrue(targets["inference within 15% of hand-written (jax)"]["met"])
        ort = targets["inference on torch not slower than onnxruntime at batch 32"]
        self.assertEqual((ort["values"], ort["met"]), (["w256 b32: 0.80x"], True))
        fastest = targets["generation: fastest dlzoo backend >= 1.5x transformers"]
        self.assertEqual((fastest["values"], fastest["met"]), (["b1: jax 2.00x", "b8: jax 2.00x"], True))
        self.assertFalse(targets["generation: every dlzoo backend >= 1.0x transformers"]["met"])  # torch 0.8x
        train = targets["training: fastest dlzoo backend <= 1.0x fastest hand-written"]
        self.assertFalse(train["met"])  # dlzoo 1.2 s vs torch.compile 0.9-1.1 s: paired median 1.2x
        self.assertTrue(train["values"][0].startswith("w512: 1.20x"))
        self.assertFalse(targets["training: dlzoo within 10% of hand-written, per backend"]["met"])
        int8 = targets["int8 weights <= 0.3x float32 weights"]
        self.assertEqual((int8["values"], int8["met"]), (["w256: 0.280x (Dense layers 0.250x)"], True))
        self.assertEqual(targets["GPU: lcm-base MFU >= 45%, inference and generation tokens/s"]["values"],
                         ["no GPU figure (no accelerator lent)"])
        self.assertIsNone(targets["gradient checkpointing saves activation memory (width 512)"]["met"])
        lcm = targets["LCM generation on the compiled loop (before/after)"]
        self.assertEqual(lcm["values"], ["torch lcm-base-tiny: 0.300 -> 0.100 s (3.0x)"])
        text = report.markdown(dict(results, targets=report.targets(results),
                                    targets_issue16=list(targets.values())))
        self.assertLess(text.index("## Targets (issue 16)"), text.index("## Targets (issue 7)"))
        self.assertIn("| inference within 15% of hand-written (torch) | forward latency", text)
        self.assertIn("| torch | fast | 110.0 |", text)  # the inference table has the dlzoo_fast rows
        self.assertIn("## Generation (tokens/s)", text)
        self.assertIn("| torch | lcm-base-tiny | 0.300 | 0.100 | 3.0x |", text)
        self.assertIn("| torch | w256 | 0.00 | 0.00 | 0.280 | 0.250 | 100.0 | 200.0 | 2.00 (2.00-2.00) | 0.0100 |",
                      text)


@pytest.mark.slow
class HarnessSmokeTest(TestCase):
    def test_train_and_overhead_run_end_to_end_on_this_backend(self):
        # Real workers: dlzoo vs hand-written on the current backend, tiny sizes, one round.
        out_dir = tempfile.mkdtemp(prefix="dlzoo_bench_test_")
        self.addCleanup(shutil.rmtree, out_dir, ignore_errors=True)
        backend = keras.backend.backend()
        proc = subprocess.run(
            [sys.executable, "-m", "tools.bench", "train", "--quick", "--backends", backend, "--rounds", "1",
             "--out-dir", out_dir],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        with open(os.path.join(out_dir, "BENCHMARKS.json")) as f:
            results = json.load(f)
        rows = results["train"]["results"]
        self.assertEqual(sorted(r["impl"] for r in rows), ["dlzoo", "hand"])
        for r in rows:
            self.assertIsNone(r["error"], r["error"])
            self.assertEqual(r["n"], 1)
            self.assertEqual(r["info"]["params"]["w32"], param_count(TINY))
        self.assertTrue(results["peak"]["peak_gflops"] > 0)
        with open(os.path.join(out_dir, "BENCHMARKS.md")) as f:
            text = f.read()
        self.assertIn("## 1. Training step", text)
        self.assertIn("## Targets (issue 7)", text)
