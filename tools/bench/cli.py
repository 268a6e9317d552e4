"""CLI response times: each everyday `dlzoo` command in a fresh interpreter, per backend (issue 17).

`dlzoo --help`, a subcommand's `--help`, an argument error and `dlzoo list`
must answer from the zoo configs alone (target: under 1 s wall); `dlzoo
count` may import Keras (target: `import keras` + 0.3 s). Each command is
timed as a whole process, the way a user waits for it, with the rounds
interleaved across commands so that a noisy moment hits them all.
"""

import os
import subprocess
import sys
import time
from typing import Any, Dict, List

from tools.bench import harness
from tools.bench.harness import ROOT

# (label, argv after `python -m dlzoo`, expected exit status, target in seconds or "keras+0.3")
COMMANDS = (
    ("dlzoo --help", ["--help"], 0, 1.0),
    ("dlzoo run --help", ["run", "--help"], 0, 1.0),
    ("dlzoo build --bad-flag (argument error)", ["build", "--bad-flag"], 2, 1.0),
    ("dlzoo list", ["list"], 0, 1.0),
    ("dlzoo count gpt-tiny", ["count", "gpt-tiny"], 0, "keras+0.3"),
)
KERAS_IMPORT = ("python -c 'import keras'", None, 0, None)


def _time_once(argv, backend: str, expected: int) -> Dict[str, Any]:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-c", "import keras"] if argv is None else [sys.executable, "-m", "dlzoo", *argv]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    if done.returncode != expected:
        return {"error": f"exit {done.returncode} (expected {expected}): {done.stderr[-300:]}"}
    return {"s": seconds, "stderr_lines": len(done.stderr.strip().splitlines())}


def run_cli(opts) -> Dict[str, Any]:
    """Median wall time of each command per backend, with `import keras` as the reference."""
    rows = (KERAS_IMPORT,) + COMMANDS
    samples: Dict[tuple, List[dict]] = {(b, r[0]): [] for b in opts.backends for r in rows}
    reps = opts.n_rounds(5)
    for round_index in range(reps):
        for backend in opts.backends:
            for label, argv, expected, _ in rows:
                samples[(backend, label)].append(_time_once(argv, backend, expected))
        opts.log(f"  cli round {round_index + 1}/{reps}")
    results = []
    for backend in opts.backends:
        keras_s = harness.summarize([s["s"] for s in samples[(backend, KERAS_IMPORT[0])] if "s" in s])["median_s"]
        for label, _, _, target in rows:
            got = samples[(backend, label)]
            summary = harness.summarize([s["s"] for s in got if "s" in s])
            limit = (keras_s + 0.3 if keras_s is not None else None) if target == "keras+0.3" else target
            results.append({
                "backend": backend, "command": label, **summary, "target": target, "limit_s": limit,
                "met": None if limit is None or summary["median_s"] is None else summary["median_s"] <= limit,
                "stderr_lines": max((s.get("stderr_lines", 0) for s in got), default=0),
                "errors": [s["error"] for s in got if "error" in s],
            })
    return {"results": results}


def cli_markdown(results) -> List[str]:
    section = results.get("cli")
    if not section:
        return []
    lines = ["## 4c. CLI response time (fresh process per call, interleaved)", "",
             "| Backend | Command | median (s) | min-max | Target | Met | stderr lines |", "|---|---|---|---|---|---|---|"]
    for r in section["results"]:
        if r["median_s"] is None:
            lines.append(f"| {r['backend']} | `{r['command']}` | failed: {(r['errors'] or ['?'])[0][:100]} | | | | |")
            continue
        target = "-" if r["target"] is None else (
            f"import keras + 0.3 s = {r['limit_s']:.2f}" if r["target"] == "keras+0.3" else f"< {r['target']:.1f}")
        met = "-" if r["met"] is None else ("met" if r["met"] else "NOT met")
        lines.append(f"| {r['backend']} | `{r['command']}` | {r['median_s']:.2f} | {r['min_s']:.2f}-{r['max_s']:.2f} | "
                     f"{target} | {met} | {r['stderr_lines']} |")
    return lines + [""]
