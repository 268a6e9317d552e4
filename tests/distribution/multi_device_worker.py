"""Run in a subprocess with 8 virtual CPU devices (JAX): sharded training equals one device; checkpoints; resume.

`tests/distribution/test_multi_device.py` starts it once with
`XLA_FLAGS=--xla_force_host_platform_device_count=8` (it must be set before
JAX is imported) and reads the JSON it prints last. Every case starts from
the same weights (copied from a one-device model), takes one SGD-with-
momentum step on the same global batch, and records the largest absolute
difference of the loss and of every updated weight from the one-device
step, and whether each variable's (and momentum slot's) sharding is the one
the layout declares.
"""

import json
import os
import sys
import tempfile
import time

import keras
import numpy as np

import dlzoo
from dlzoo.distribution import layout, setup
from dlzoo.experiments import callbacks as CB
from dlzoo.testing.parity import model_inputs

BATCH = 8
ONE_LAYER = {"num_layers": 1}

# (name, overrides, [(strategy, mesh), ...]). One layer each (compile time); gpt-tiny with 8 heads so that the
# 1x8 mesh divides them.
CASES = [
    ("gpt-tiny", {"attention": {"num_heads": 8}, **ONE_LAYER},
     [("data", (8, 1)), ("model", (2, 4)), ("model", (1, 8)), ("fsdp-like", (4, 2))]),
    ("lcm-base-tiny", ONE_LAYER, [("model", (2, 4))]),
    ("lcm-two-tower-tiny", {"num_encoder_layers": 1, "num_denoiser_layers": 1}, [("model", (2, 4))]),
]


def numpy_tree(x):
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(x)]


def max_error(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))


def values(variables):
    return [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in variables]


def restore(model, state):
    """Put every model variable (weights and seed-generator states) back to `state`, zero the optimizer's slots.

    The learning rate (also an optimizer variable) is kept.
    """
    for variable, value in zip(model.variables, state):
        variable.assign(value)
    for variable in model.optimizer.variables:
        if variable.name != "learning_rate":
            variable.assign(np.zeros(variable.shape, variable.dtype))


def compile_step(model, outputs):
    loss = keras.tree.map_structure(lambda _: "mse", outputs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss=loss, jit_compile=True)


def sharding_mismatches(model, expected):
    """Variables (and their momentum slots) whose array sharding differs from the declared layout."""
    wrong = []
    slots = {v.path: v for v in model.optimizer.variables}
    for variable in model.weights:
        axes = tuple(expected[variable.path])
        slot = [s for p, s in slots.items() if p.endswith(variable.path.replace("/", "_") + "_momentum")]
        for what, var in [("weight", variable)] + [("momentum", s) for s in slot]:
            spec = tuple(var.value.sharding.spec)
            spec = spec + (None,) * (len(axes) - len(spec))
            if spec != axes:
                wrong.append(f"{what} {variable.path}: {spec} != {axes}")
        if not slot:
            wrong.append(f"no momentum slot found for {variable.path}")
    return wrong


def run_case(name, overrides, runs, keep):
    """One SGD-momentum step on one device, then under each (strategy, mesh) from the same variables."""
    keras.distribution.set_distribution(None)
    keras.utils.set_random_seed(0)
    reference = dlzoo.build(name, **overrides)
    x = model_inputs(reference, batch=BATCH, seq=6, seed=0)
    outputs = reference(x)
    rng = np.random.default_rng(1)
    targets = keras.tree.map_structure(lambda t: rng.standard_normal(tuple(t.shape)).astype("float32"), outputs)
    # Every variable, seed-generator states included: the distributed model draws the same dropout / noise.
    initial = values(reference.variables)
    initial_weights = reference.get_weights()
    compile_step(reference, outputs)
    ref_loss = float(reference.train_on_batch(x, targets))
    ref_weights = reference.get_weights()
    results = []
    for strategy, mesh in runs:
        start = time.perf_counter()
        model = setup.distribute(name, mesh=mesh, strategy=strategy, **overrides)
        for variable, value in zip(model.variables, initial):
            variable.assign(value)
        compile_step(model, outputs)
        loss = float(model.train_on_batch(x, targets))
        expected = layout.resolved_layouts(layout.variable_specs(name, **overrides), mesh, strategy)
        results.append({
            "model": name, "strategy": strategy, "mesh": list(mesh),
            "loss": loss, "reference_loss": ref_loss,
            "loss_error": abs(loss - ref_loss),
            "weight_error": max_error(model.get_weights(), ref_weights),
            "moved": max_error(ref_weights, initial_weights),
            "sharded_variables": sum(any(a is not None for a in axes) for axes in expected.values()),
            "sharding_mismatches": sharding_mismatches(model, expected),
            "seconds": round(time.perf_counter() - start, 2),
        })
        keep[(name, strategy, tuple(mesh))] = (model, x, targets, (initial, initial_weights))
    keep[(name, "reference")] = (reference, x, targets, (initial, initial_weights))
    keras.distribution.set_distribution(None)
    return results


def checkpoints(tmp, keep):
    """Sharded -> one device and one device -> sharded, through .keras and .weights.h5 files (gpt-tiny, 2x4)."""
    sharded, x, _, _ = keep[("gpt-tiny", "model", (2, 4))]
    single, _, _, _ = keep[("gpt-tiny", "reference")]
    sharded_out, single_out = numpy_tree(sharded(x)), numpy_tree(single(x))
    for model, stem in ((sharded, "sharded"), (single, "single")):
        model.save(os.path.join(tmp, stem + ".keras"))
        model.save_weights(os.path.join(tmp, stem + ".weights.h5"))
    result = {}
    keras.distribution.set_distribution(None)  # sharded -> one device
    back = dlzoo.load(os.path.join(tmp, "sharded.keras"))
    result["sharded_to_one_keras_error"] = max_error(numpy_tree(back(x)), sharded_out)
    result["sharded_to_one_devices"] = max(len(v.value.sharding.device_set) for v in back.weights)
    back.load_weights(os.path.join(tmp, "sharded.weights.h5"))
    result["sharded_to_one_weights_h5_error"] = max_error(numpy_tree(back(x)), sharded_out)
    # one device -> sharded: loaded while the distribution is set, its variables are created sharded.
    keras.distribution.set_distribution(setup.make_distribution(sharded, (2, 4), "model"))
    loaded = dlzoo.load(os.path.join(tmp, "single.keras"))
    query = [v for v in loaded.weights if v.path.endswith("self_attention/query/kernel")][0]
    result["one_to_sharded_keras_error"] = max_error(numpy_tree(loaded(x)), single_out)
    result["one_to_sharded_query_spec"] = [None if a is None else str(a) for a in tuple(query.value.sharding.spec)]
    loaded.load_weights(os.path.join(tmp, "sharded.weights.h5"))
    result["one_to_sharded_weights_h5_error"] = max_error(numpy_tree(loaded(x)), sharded_out)
    keras.distribution.set_distribution(None)
    return result


class Killed(Exception):
    pass


class KillAfterEpoch(keras.callbacks.Callback):
    """Stands for a killed process: stops training with an exception once epoch `epoch` has been backed up."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Killed()


def resume(tmp, keep):
    """lcm-base-tiny, 2x4 model-parallel: 2 epochs killed after the first, restarted from scratch state, resumed.

    The compiled model of the equivalence case is reused (no recompilation): before each run every
    variable and optimizer slot is put back to its initial value, as a new process would start, so only
    `BackupAndRestore` and `SeedStateBackup` (what `dlzoo run` resumes with) can bring back the first epoch.
    """
    model, x, targets, (initial, initial_weights) = keep[("lcm-base-tiny", "model", (2, 4))]
    x = keras.tree.map_structure(lambda a: np.concatenate([a, a[::-1]]), x)
    targets = keras.tree.map_structure(lambda a: np.concatenate([a, -a]), targets)
    keras.distribution.set_distribution(setup.make_distribution(model, (2, 4), "model"))

    def fit(callbacks):
        restore(model, initial)
        try:
            model.fit(x, targets, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        except Killed:
            return None
        return model.get_weights()

    whole = fit([])
    backup = os.path.join(tmp, "backup")
    # The callbacks `dlzoo run` resumes with (dlzoo/experiments/runner.py: train_fold).
    killed = fit([CB.SeedStateBackup(backup), keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False),
                  KillAfterEpoch(0)])
    resumed = fit([CB.SeedStateBackup(backup, resume_epoch=1),
                   keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    keras.distribution.set_distribution(None)
    return {
        "killed": killed is None,
        "resume_error": max_error(resumed, whole),
        "moved": max_error(whole, initial_weights),
        "query_spec": [None if a is None else str(a) for a in tuple(
            [v for v in model.weights if v.path.endswith("query/kernel")][0].value.sharding.spec)],
    }


def main():
    start = time.perf_counter()
    report = {"devices": len(keras.distribution.list_devices()), "cases": []}
    keep = {}
    for name, overrides, runs in CASES:
        report["cases"] += run_case(name, overrides, runs, keep)
    with tempfile.TemporaryDirectory() as tmp:
        report["checkpoints"] = checkpoints(tmp, keep)
        report["resume"] = resume(tmp, keep)
    report["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
