"""The checkpoint parity table: architecture x backend x max abs difference against `transformers`.

Uses the checkpoints and comparisons of `tests/checkpoints/test_converters.py`
(tiny random models saved with `save_pretrained`, every weight perturbed):
for each backend, in a fresh process, each checkpoint is loaded with
`dlzoo.build(path)` and its hidden states and logits (or pooled output) are
compared with the `transformers` model's on the same inputs, with and without
padding; the larger difference is reported.

    python tools/checkpoint_parity.py [--backends jax torch tensorflow]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests", "checkpoints", "test_converters.py")


def measure() -> dict:
    """`{case: max abs difference}` on this process's backend."""
    spec = importlib.util.spec_from_file_location("checkpoint_cases", TESTS)
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    import dlzoo  # lazy: after the backend is set

    with tempfile.TemporaryDirectory() as root:
        checkpoints = cases.make_checkpoints(lambda name: tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        return {case: max(cases.max_difference(dlzoo.build(directory), hf, pad) for pad in (False, True))
                for case, (directory, hf) in checkpoints.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--measure", action="store_true", help="measure on this process's backend, print JSON")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps({k: float(v) for k, v in measure().items()}))
        return 0
    results = {}
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend)
        out = subprocess.run([sys.executable, __file__, "--measure"], env=env, check=True, capture_output=True,
                             text=True, cwd=ROOT).stdout
        results[backend] = json.loads(out.strip().splitlines()[-1])
    cases = list(results[args.backends[0]])
    print("| checkpoint | " + " | ".join(args.backends) + " |")
    print("|---|" + "---|" * len(args.backends))
    for case in cases:
        print(f"| `{case}` | " + " | ".join(f"{results[b][case]:.1e}" for b in args.backends) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
