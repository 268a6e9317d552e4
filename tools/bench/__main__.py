"""`python -m tools.bench all` — run the benchmark suite and write BENCHMARKS.md / BENCHMARKS.json.

Sub-commands run one part and merge it into the existing JSON (then the
Markdown is regenerated from the whole JSON):

    python -m tools.bench all                  # everything (~25 min on a quiet 2-core CPU)
    python -m tools.bench peak                 # float32 matmul peak (numpy + each backend)
    python -m tools.bench train                # training steps (section 1)
    python -m tools.bench infer                # forward latency + onnxruntime (section 2)
    python -m tools.bench generate             # greedy generation tokens/s: dlzoo per backend vs transformers
    python -m tools.bench int8                 # int8 weight memory and forward latency vs float32
    python -m tools.bench lcm-generate         # dlzoo.lcm.generate, compiled=False vs compiled=True
    python -m tools.bench llama                # train + infer with the same workers
    python -m tools.bench imports              # import keras vs import dlzoo, per backend
    python -m tools.bench cli                  # dlzoo --help / list / count response times, per backend
    python -m tools.bench overhead             # dlzoo.build / dlzoo.count_params times
    python -m tools.bench lcm                  # LCM concepts/s and SentenceEncoder sentences/s
    python -m tools.bench report               # re-render the Markdown from the JSON

Common options: `--backends torch,jax`, `--rounds N`, `--quick` (tiny sizes,
one round: a smoke run), `--skip hand_compile,keras_hub`, `--extra hand_xla`,
`--device gpu --precision bf16` (on a GPU machine; writes BENCHMARKS_GPU.*),
`--out-dir DIR`.
"""

import argparse
import json
import os
import signal
import sys
import time

from tools.bench import report, suites
from tools.bench.harness import ROOT, new_log_dir

COMMANDS = {
    "all": suites.SECTIONS,
    "peak": ("peak",),
    "train": ("peak", "train"),
    "infer": ("infer",),
    "generate": ("generate",),
    "int8": ("int8",),
    "lcm-generate": ("lcm_generate",),
    "llama": ("peak", "train", "infer"),
    "imports": ("imports",),
    "cli": ("cli",),
    "overhead": ("overhead",),
    "lcm": ("lcm",),
    "report": (),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to run")
    parser.add_argument("--backends", default=",".join(suites.BACKENDS),
                        help="comma-separated Keras backends (default: torch,jax,tensorflow)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per comparison (default: per section)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one round: a smoke run, not a benchmark")
    parser.add_argument("--skip", default="", help="comma-separated contenders to leave out "
                        "(dlzoo, dlzoo_fast, keras_hub, hand, hand_compile, onnxruntime)")
    parser.add_argument("--extra", default="", help="comma-separated optional contenders (hand_xla)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu hides accelerators from the workers (default); gpu lets each engine use them")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 = Keras mixed_bfloat16 / torch autocast / JAX bf16 compute (GPU runs)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per engine (torch, TF, XLA, BLAS, onnxruntime); default: the engines' own "
                        "(all cores). 1 makes a shared, loaded machine's numbers much steadier")
    parser.add_argument("--out-dir", default=ROOT, help="where BENCHMARKS.md / .json go (default: repo root)")
    return parser.parse_args(argv)


def _log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def output_paths(args):
    stem = "BENCHMARKS_GPU" if args.device == "gpu" else "BENCHMARKS"
    return os.path.join(args.out_dir, stem + ".json"), os.path.join(args.out_dir, stem + ".md")


def _terminate(signum, frame):
    raise SystemExit(f"terminated by signal {signum}")  # unwinds the harness, which closes its workers


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    json_path, md_path = output_paths(args)
    previous = {}
    if os.path.exists(json_path) and args.command != "all":
        with open(json_path) as f:
            previous = json.load(f)
    sections = COMMANDS[args.command]
    if args.command == "report":
        results = previous
        if not results:
            raise SystemExit(f"No {json_path} to render.")
    else:
        opts = suites.Options(
            backends=tuple(b for b in args.backends.split(",") if b),
            quick=args.quick,
            rounds=args.rounds,
            device=args.device,
            precision=args.precision,
            skip=tuple(s for s in args.skip.split(",") if s),
            extra=tuple(s for s in args.extra.split(",") if s),
            threads=args.threads,
            log=_log,
            log_dir=new_log_dir(),
        )
        _log(f"worker logs: {opts.log_dir}")
        start = time.perf_counter()
        meta = report.machine_meta()
        meta.update(threads=args.threads or "engine default (all cores)", command=" ".join(["python -m tools.bench"] + (argv if argv is not None else sys.argv[1:])),
                    device=args.device, precision=args.precision, quick=args.quick,
                    device_note="CPU only" if args.device == "cpu" else "accelerator visible to the workers")
        fresh = suites.run_sections(sections, opts)
        meta["total_s"] = time.perf_counter() - start
        meta["load_average_end"] = report._loadavg()
        meta["log_dir"] = opts.log_dir
        results = dict(previous)
        results.update({k: v for k, v in fresh.items() if k != "durations_s"})
        durations = dict(previous.get("meta", {}).get("durations_s", {}))
        durations.update(fresh["durations_s"])
        if previous.get("meta") and args.command != "all":
            meta = dict(previous["meta"], last_partial=meta)
            meta["last_partial"]["sections"] = list(sections)
        meta["durations_s"] = durations
        results["meta"] = meta
    report.derive(results)
    results["targets"] = report.targets(results)
    results["targets_issue16"] = report.targets_issue16(results)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1, default=str)
    with open(md_path, "w") as f:
        f.write(report.markdown(results))
    _log(f"wrote {md_path} and {json_path}")
    for t in results["targets_issue16"] + results["targets"]:
        _log(f"  {t['target']}: {'; '.join(t['values']) or '-'} -> {t['met']}")
    return results


if __name__ == "__main__":
    main()
