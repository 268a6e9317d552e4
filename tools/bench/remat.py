"""Activation memory and step time of one training step with and without `remat` (gradient checkpointing).

Run `python -m tools.bench.remat` from the repository root. Each (backend,
remat) pair runs in its own process (`KERAS_BACKEND` is read once):

* saved bytes (what the backward pass keeps, weights excluded): on jax the
  residuals `jax.ad_checkpoint` reports for `value_and_grad(loss)`
  (`saved_residuals`); on torch the distinct storages packed by an outer
  `torch.autograd.graph.saved_tensors_hooks` during the forward pass, plus,
  under remat, the layer inputs that `torch.utils.checkpoint` holds itself
  (the hook does not see them; `num_layers * batch * seq * width * 4` bytes).
* jax: `temp_size_in_bytes` of `jax.jit(value_and_grad(loss)).lower(...).compile().memory_analysis()`:
  the XLA buffers of one forward + backward beyond the arguments and outputs
  (saved activations and temporaries, after XLA's own scheduling).
* torch (CPU; no `torch.cuda` peak counters): the growth of the process'
  peak resident set (`resource.getrusage(...).ru_maxrss`) over the steps,
  above the resident set just before them (model, inputs and one
  `no_grad` forward already done). It counts saved activations,
  temporaries, gradients and allocator slack.

Step time: the median of `--steps` forward + backward passes (no optimizer
update), after one warm-up step.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

MODEL = dict(hidden_dim=512, num_layers=8, vocabulary_size=512, max_sequence_length=512)
SECTIONS = dict(attention={"num_heads": 8, "num_key_value_heads": 8}, feedforward={"intermediate_dim": 1376})


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _worker(remat, batch, seq, steps):
    import keras

    import dlzoo

    backend = keras.backend.backend()
    model = dlzoo.build("llama-tiny", remat=remat, **MODEL, **SECTIONS)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, MODEL["vocabulary_size"], size=(batch, seq)).astype("int32")
    feed = {"token_ids": tokens, "padding_mask": np.ones((batch, seq), dtype=bool)}
    estimate = dlzoo.estimate_memory("llama-tiny", optimizer=None, batch_size=batch, sequence_length=seq, remat=remat, **MODEL, **SECTIONS)
    result = {"backend": backend, "remat": remat, "estimate_activation_bytes": int(estimate["bytes"]["activations"])}
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    times = []
    if backend == "jax":
        import jax

        def loss(trainable, non_trainable, feed):
            logits, _ = model.stateless_call(trainable, non_trainable, feed, training=True)
            return loss_fn(feed["token_ids"], logits)

        step = jax.jit(jax.value_and_grad(loss))
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        compiled = step.lower(trainable, non_trainable, feed).compile()
        result["xla_temp_bytes"] = int(compiled.memory_analysis().temp_size_in_bytes)
        from jax._src.ad_checkpoint import saved_residuals

        residuals = saved_residuals(loss, trainable, non_trainable, feed)
        result["saved_bytes"] = int(
            sum(aval.size * aval.dtype.itemsize for aval, where in residuals if "argument" not in where)
        )
        for i in range(steps + 1):
            start = time.perf_counter()
            jax.block_until_ready(compiled(trainable, non_trainable, feed))
            times.append(time.perf_counter() - start)
    else:
        import torch

        weights = [v.value for v in model.trainable_variables]
        parameters = {w.data_ptr() for w in weights}
        saved = {}

        def pack(tensor):
            if tensor.data_ptr() not in parameters:
                storage = tensor.untyped_storage()
                saved[storage.data_ptr()] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            logits = model(feed, training=True)
        held_by_checkpoint = MODEL["num_layers"] * batch * seq * MODEL["hidden_dim"] * 4 if remat else 0
        result["saved_bytes"] = int(sum(saved.values()) + held_by_checkpoint)
        del logits
        with torch.no_grad():
            model(feed, training=False)
        before = _resident_bytes()
        for i in range(steps + 1):
            start = time.perf_counter()
            logits = model(feed, training=True)
            value = loss_fn(torch.as_tensor(tokens), logits)
            torch.autograd.grad(value, weights)
            times.append(time.perf_counter() - start)
            del logits, value
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result["peak_rss_growth_bytes"] = int(peak - before)
    result["step_ms"] = 1000 * statistics.median(times[1:])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,torch")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--remat", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(bool(args.remat), args.batch, args.seq, args.steps)))
        return
    rows = []
    for backend in args.backends.split(","):
        for remat in (0, 1):
            command = [sys.executable, "-m", "tools.bench.remat", "--worker", f"--remat={remat}"]
            command += [f"--batch={args.batch}", f"--seq={args.seq}", f"--steps={args.steps}"]
            env = dict(os.environ, KERAS_BACKEND=backend)
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    mib = 2**20
    print(f"\nllama-style, width 512, 8 layers, batch {args.batch}, sequence {args.seq}, float32")
    print("| backend | remat | saved for backward (MiB) | XLA temp / peak RSS growth (MiB) | estimate_memory activations (MiB) | step (ms) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        peak = row.get("xla_temp_bytes", row.get("peak_rss_growth_bytes"))
        print(
            f"| {row['backend']} | {'on' if row['remat'] else 'off'} | {row['saved_bytes'] / mib:.0f} | {peak / mib:.0f} | "
            f"{row['estimate_activation_bytes'] / mib:.0f} | {row['step_ms']:.0f} |"
        )


if __name__ == "__main__":
    main()
