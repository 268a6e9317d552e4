"""Profile one benchmark contender in this process: where does a training step spend its time?

    KERAS_BACKEND=torch python -m tools.bench.profile dlzoo w256            # torch.profiler op table
    KERAS_BACKEND=torch python -m tools.bench.profile hand w256 --steps 5
    KERAS_BACKEND=jax   python -m tools.bench.profile dlzoo w512 --py-spy jax.svg   # flame graph

The engine is the process's `KERAS_BACKEND` (one backend per process). With
`--py-spy FILE` the command re-runs itself under `py-spy record` (install it
with `pip install py-spy`) and writes a flame graph (SVG) or speedscope JSON
(`.json`); otherwise on torch it prints the `torch.profiler` table (self CPU
time per aten op, and the op count per step, the first thing to compare
between dlzoo and the hand-written model); on jax / tensorflow it prints the
step times (use `--py-spy`, or the engines' own profilers, for details).
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

from tools.bench.settings import SETTINGS
from tools.bench.tasks import LlamaTask, backend


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("impl", choices=("dlzoo", "keras_hub", "hand", "hand_compile", "hand_xla"))
    parser.add_argument("setting", choices=sorted(SETTINGS))
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (after 2 warm-up steps)")
    parser.add_argument("--infer-batch", type=int, default=None, help="profile a forward pass at this batch instead")
    parser.add_argument("--py-spy", default=None, metavar="FILE", help="record with py-spy into FILE (.svg or .json)")
    parser.add_argument("--rows", type=int, default=25, help="rows of the torch.profiler table")
    args = parser.parse_args(argv)

    if args.py_spy:
        exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        rest = [a for a in (argv if argv is not None else sys.argv[1:])]
        i = rest.index("--py-spy")
        rest = rest[:i] + rest[i + 2:]
        fmt = ["--format", "speedscope"] if args.py_spy.endswith(".json") else []
        cmd = [exe, "record", "-o", args.py_spy, *fmt, "--", sys.executable, "-m", "tools.bench.profile", *rest]
        raise SystemExit(subprocess.call(cmd))

    s = SETTINGS[args.setting]
    spec = {"task": "llama", "impl": args.impl, "engine": backend(), "train": [], "infer": []}
    if args.infer_batch:
        spec["infer"] = [[s.to_dict(), args.infer_batch]]
        variant = f"infer-{s.name}-b{args.infer_batch}"
    else:
        spec["train"] = [s.to_dict()]
        variant = f"train-{s.name}"
    task = LlamaTask(spec)
    print(f"{args.impl} on {backend()}, {variant}: {s.describe()}", file=sys.stderr)
    print(f"setup: {task.setup()}", file=sys.stderr)
    fn = task.calls()[variant]
    for i in range(2):
        t0 = time.perf_counter()
        fn()
        print(f"warm-up {i + 1}: {time.perf_counter() - t0:.3f} s", file=sys.stderr)
    if backend() == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                fn()
        events = prof.key_averages()
        print(f"aten/other ops per step: {sum(e.count for e in events) / args.steps:.0f}")
        print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    else:
        for i in range(args.steps):
            t0 = time.perf_counter()
            fn()
            print(f"step {i + 1}: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
