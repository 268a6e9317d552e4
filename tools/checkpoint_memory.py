"""Peak memory of loading a large Hugging Face checkpoint with `dlzoo.build(path)`, against its size on disk.

Writes a random Llama-shaped checkpoint of about 500M parameters with
`transformers` (float32, sharded), then loads it with dlzoo in a fresh process
per backend and reports the process's peak resident memory (`ru_maxrss`)
against the weights' size: the loader reads one tensor at a time (each shard
opened per tensor, so the memory-mapped file never stays resident), so the
peak should be the model's weights plus the framework's own memory.

    python tools/checkpoint_memory.py                      # write to a temp dir, load on jax torch tensorflow, remove
    python tools/checkpoint_memory.py --backends jax --keep /tmp/llama-500m
    python tools/checkpoint_memory.py --load /tmp/llama-500m   # one load in this process (used by the above)

Not part of the test suite: it needs about 2 GB of disk and 4 GB of memory, and minutes.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# About 502M parameters: 26 layers of width 1024 (16 heads), SwiGLU 4096, a 32000-token vocabulary, untied head.
CONFIG = dict(vocab_size=32000, hidden_size=1024, num_hidden_layers=26, num_attention_heads=16, num_key_value_heads=16,
              intermediate_size=4096, max_position_embeddings=2048)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def write_checkpoint(directory: str, max_shard_size: str) -> None:
    import torch  # lazy: only the writer needs PyTorch
    import transformers  # lazy: only the writer needs transformers

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**CONFIG))
    model.save_pretrained(directory, max_shard_size=max_shard_size)


def load(directory: str) -> dict:
    """`dlzoo.build(directory)` in its two steps, with the peak resident memory after each."""
    start = time.perf_counter()
    import keras  # lazy: the backend is chosen by the parent process
    import dlzoo  # lazy: after the backend is set
    from dlzoo import checkpoints  # lazy: after the backend is set
    from dlzoo.checkpoints import placeholder_weights  # lazy: after the backend is set
    from dlzoo.resolution import resolve  # lazy: after the backend is set
    from dlzoo.zoo_model import build_resolved  # lazy: after the backend is set

    dlzoo.count_params(directory)  # imports everything dlzoo needs, reads config.json and the headers
    baseline = peak_rss_bytes()
    initializers = {}
    with placeholder_weights.zero_initialized_variables(initializers):  # what dlzoo.build does first: the model,
        model = build_resolved(resolve(directory))  # its weights zeros (no random initialization)
    after_build = peak_rss_bytes()
    report = checkpoints.load_weights(model, directory)  # then: the checkpoint's tensors
    return {
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
        "size_on_disk": int(report["size_on_disk"]),
        "weights_bytes": sum(_nbytes(v) for v in model.weights),
        "rss_before_build": baseline,
        "peak_rss_after_build": after_build,
        "peak_rss": peak_rss_bytes(),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _nbytes(variable) -> int:
    import numpy as np  # lazy: keeps --help fast

    count = 1
    for d in variable.shape:
        count *= int(d)
    return count * np.dtype(variable.dtype).itemsize


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--keep", default=None, help="write the checkpoint here and keep it")
    parser.add_argument("--max-shard-size", default="1GB")
    parser.add_argument("--load", default=None, help="load this checkpoint in this process and print JSON")
    args = parser.parse_args(argv)
    if args.load:
        print(json.dumps(load(args.load)))
        return 0
    directory = args.keep or tempfile.mkdtemp(prefix="dlzoo-llama-500m-")
    try:
        if not os.path.isfile(os.path.join(directory, "config.json")):
            subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
                            f"import checkpoint_memory as m; m.write_checkpoint({directory!r}, {args.max_shard_size!r})"],
                           check=True)
        rows = []
        for backend in args.backends:
            env = dict(os.environ, KERAS_BACKEND=backend, DLZOO_SKIP_MEMORY_CHECK="0")
            out = subprocess.run([sys.executable, __file__, "--load", directory], env=env, check=True,
                                 capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
        mib = 2**20
        print("| backend | parameters | on disk (MiB) | weights in the model's dtype (MiB) | RSS before the build "
              "(runtime, MiB) | peak RSS after the zero-weights build (MiB) | peak RSS after loading (MiB) | "
              "peak / weights | (peak - runtime) / weights | loading's own peak (MiB) | seconds |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            w = r["weights_bytes"]
            print(f"| {r['backend']} | {r['parameters']:,} | {r['size_on_disk'] / mib:,.0f} | {w / mib:,.0f} "
                  f"| {r['rss_before_build'] / mib:,.0f} | {r['peak_rss_after_build'] / mib:,.0f} "
                  f"| {r['peak_rss'] / mib:,.0f} | {r['peak_rss'] / w:.2f} | {(r['peak_rss'] - r['rss_before_build']) / w:.2f} "
                  f"| {(r['peak_rss'] - r['peak_rss_after_build']) / mib:,.0f} | {r['seconds']} |")
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
