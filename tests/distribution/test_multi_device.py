"""Sharded training on 8 virtual CPU devices (JAX) equals one device; sharded checkpoints; resume.

One subprocess (`multi_device_worker.py`) runs every case, so JAX starts once
with `XLA_FLAGS=--xla_force_host_platform_device_count=8` (it must be set
before JAX is imported). jax suite only: Keras distributes on JAX alone.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution shards on JAX only")

WORKER = Path(__file__).with_name("multi_device_worker.py")
TOLERANCE = 1e-5  # float32


@pytest.fixture(scope="module")
def report():
    env = dict(os.environ, KERAS_BACKEND="jax",
               # 8 host devices; XLA's backend optimizations off: compiling dominates these tiny steps.
               XLA_FLAGS="--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0")
    done = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=600,
                          cwd=str(WORKER.parents[2]))
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_eight_devices(report):
    assert report["devices"] == 8


def test_every_mesh_asked_for_is_covered(report):
    covered = {(c["model"], c["strategy"], tuple(c["mesh"])) for c in report["cases"]}
    assert {("gpt-tiny", "data", (8, 1)), ("gpt-tiny", "model", (2, 4)), ("gpt-tiny", "model", (1, 8)),
            ("gpt-tiny", "fsdp-like", (4, 2)), ("lcm-base-tiny", "model", (2, 4)),
            ("lcm-two-tower-tiny", "model", (2, 4))} <= covered


def test_sharded_step_equals_one_device(report):
    for case in report["cases"]:
        label = f"{case['model']} {case['strategy']} {case['mesh']}"
        assert case["moved"] > 1e-4, f"{label}: the step did not move the weights, the comparison is empty"
        assert case["loss_error"] <= TOLERANCE, label
        assert case["weight_error"] <= TOLERANCE, label


def test_each_variable_and_momentum_slot_has_its_declared_sharding(report):
    for case in report["cases"]:
        assert case["sharding_mismatches"] == [], case
        if case["strategy"] == "data":
            assert case["sharded_variables"] == 0
        else:
            assert case["sharded_variables"] > 0, case


def test_fsdp_like_shards_more_than_model_parallel(report):
    by = {(c["model"], c["strategy"], tuple(c["mesh"])): c for c in report["cases"]}
    assert by[("gpt-tiny", "fsdp-like", (4, 2))]["sharded_variables"] > by[("gpt-tiny", "model", (2, 4))]["sharded_variables"]


def test_sharded_checkpoints_load_on_one_device_and_back(report):
    result = report["checkpoints"]
    assert result["sharded_to_one_devices"] == 1
    assert result["one_to_sharded_query_spec"] == [None, "model", None]
    for key in ("sharded_to_one_keras_error", "sharded_to_one_weights_h5_error", "one_to_sharded_keras_error",
                "one_to_sharded_weights_h5_error"):
        assert result[key] <= TOLERANCE, key


def test_resume_after_a_kill_under_distribution(report):
    result = report["resume"]
    assert result["killed"]
    assert result["moved"] > 1e-4
    assert result["resume_error"] <= TOLERANCE
    assert result["query_spec"] == [None, "model", None]
