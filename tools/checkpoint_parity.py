"""The checkpoint parity table: architecture x backend x max abs difference against `transformers`.

Uses the checkpoints and comparisons of `tests/checkpoints/test_converters.py`
and `test_vision_converters.py` (tiny random models saved with
`save_pretrained`, every weight perturbed): for each backend, in a fresh
process, each checkpoint is loaded with `dlzoo.build(path)` and its outputs are
compared with the `transformers` model's on the same inputs (text: hidden
states and logits or pooled output, with and without padding, the larger
difference; images: logits or pooled features).

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
TEXT = os.path.join(ROOT, "tests", "checkpoints", "test_converters.py")
VISION = os.path.join(ROOT, "tests", "checkpoints", "test_vision_converters.py")


def _module(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure() -> dict:
    """`{case: max abs difference}` on this process's backend."""
    text, vision = _module(TEXT), _module(VISION)
    import dlzoo  # lazy: after the backend is set

    found = {}
    with tempfile.TemporaryDirectory() as root:
        mktemp = lambda name: tempfile.mkdtemp(prefix=f"{name.replace('/', '-')}-", dir=root)  # noqa: E731
        for case, (directory, hf) in text.make_checkpoints(mktemp).items():
            found[case] = max(text.max_difference(dlzoo.build(directory), hf, pad) for pad in (False, True))
        for case, (directory, hf) in vision.make_checkpoints(mktemp).items():
            found[case] = vision.max_difference(directory, hf)
    return found


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
