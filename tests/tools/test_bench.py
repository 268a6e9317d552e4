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
