"""Batteries on clusters: one shell script per run, plus a script that submits them all.

`write_battery(file, emit="bash"|"slurm", out="scripts/")` writes, for each
run of the composition file, `<index>-<run_id>.sh`, which runs exactly that
run: `cd <working dir>; KERAS_BACKEND=<backend> python -m dlzoo run <file>
<overrides> --only <run_id> --out <runs dir>`. It also writes
`submit_all.sh`: for bash, it runs the scripts one after the other; for
SLURM, it `sbatch`es each one. SLURM scripts carry `#SBATCH` lines for the
job name, account, time limit, partition and resources.

On time-limited servers a job that hits its limit leaves an interrupted run;
submitting the same script again resumes it from its last finished epoch
(and skips it once finished), so `submit_all.sh` can simply be re-run.
"""

import os
import shlex
import stat
import sys
from typing import Any, Dict, List, Optional, Sequence

from dlzoo.experiments.schema import load_experiment

EMITS = ("bash", "slurm")


def _chmod_x(path: str) -> None:
    mode = os.stat(path).st_mode
    os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def run_command(file: str, run_id: str, output_dir: str, overrides: Sequence[str] = (),
                plugins: Sequence[str] = (), python: Optional[str] = None, trust_plugins: bool = False) -> List[str]:
    """The command line that runs one run (what each script executes)."""
    command = [python or sys.executable, "-m", "dlzoo", "run", file]
    command += list(overrides)
    command += ["--only", run_id, "--out", output_dir]
    for module in plugins:
        command += ["--plugins", module]
    if trust_plugins:
        command.append("--trust-plugins")
    return command


def write_battery(
    file: str,
    emit: str = "bash",
    out: str = "scripts",
    overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
    output_dir: Optional[str] = None,
    account: Optional[str] = None,
    time: Optional[str] = None,
    partition: Optional[str] = None,
    gpus: Optional[int] = None,
    cpus: Optional[int] = None,
    memory: Optional[str] = None,
    python: Optional[str] = None,
    extra_sbatch: Sequence[str] = (),
    trust_plugins: bool = False,
    allow_outside_workdir: bool = False,
) -> Dict[str, Any]:
    """Write the scripts; returns `{"scripts": [...], "submit": path, "runs": [...]}`.

    Args:
        file: composition file.
        emit: `"bash"` or `"slurm"`.
        out: directory for the scripts.
        overrides: `key=value` overrides (passed on to every script).
        plugins: plugin modules (passed on; not imported here: writing
            scripts runs nothing).
        output_dir: runs directory (default: the experiment's, made absolute).
        account, time, partition: SLURM `--account`, `--time` (e.g.
            `"02:00:00"`), `--partition`.
        gpus, cpus, memory: SLURM `--gpus`, `--cpus-per-task`, `--mem`.
        python: the Python executable in the scripts. Defaults to this one.
        extra_sbatch: more `#SBATCH` options, e.g. `["--qos=short"]`.
        trust_plugins: the scripts pass `--trust-plugins` (import every
            plugin the file names).
        allow_outside_workdir: accept a file `output_dir` outside the working
            directory (the scripts then get it as `--out`).
    """
    if emit not in EMITS:
        raise ValueError(f"`emit` must be one of {', '.join(EMITS)}. Received: emit={emit!r}.")
    experiment = load_experiment(file, overrides=overrides, plugins=plugins, output_dir=output_dir,
                                 import_plugins=False, check_data=False, allow_outside_workdir=allow_outside_workdir)
    file_abs = os.path.abspath(file)
    runs_dir = os.path.abspath(experiment.output_dir)
    workdir = os.getcwd()
    os.makedirs(out, exist_ok=True)
    logs = os.path.join(os.path.abspath(out), "logs")
    scripts = []
    for spec in experiment.runs:
        command = run_command(file_abs, spec.run_id, runs_dir, overrides, plugins, python, trust_plugins)
        name = f"{spec.index:03d}-{spec.run_id}"
        path = os.path.join(out, f"{name}.sh")
        lines = ["#!/usr/bin/env bash"]
        if emit == "slurm":
            lines.append(f"#SBATCH --job-name={experiment.name}-{spec.index:03d}")
            if account:
                lines.append(f"#SBATCH --account={account}")
            if time:
                lines.append(f"#SBATCH --time={time}")
            if partition:
                lines.append(f"#SBATCH --partition={partition}")
            if gpus:
                lines.append(f"#SBATCH --gpus={int(gpus)}")
            if cpus:
                lines.append(f"#SBATCH --cpus-per-task={int(cpus)}")
            if memory:
                lines.append(f"#SBATCH --mem={memory}")
            lines.append(f"#SBATCH --output={logs}/{name}-%j.out")
            lines += [f"#SBATCH {opt}" for opt in extra_sbatch]
        lines += [
            f"# Run {spec.index} of experiment {experiment.name}: {spec.run_id}",
            "# " + ", ".join(f"{k}={v}" for k, v in spec.choices.items()) if spec.choices else "# (single run)",
            "# Re-running this script resumes an interrupted run and skips a finished one.",
            "set -euo pipefail",
            f"cd {shlex.quote(workdir)}",
            f"export KERAS_BACKEND={shlex.quote(spec.backend)}",
            " ".join(shlex.quote(part) for part in command),
            "",
        ]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        _chmod_x(path)
        scripts.append(path)

    submit = os.path.join(out, "submit_all.sh")
    here = 'HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"'
    body = ["#!/usr/bin/env bash", f"# Submit the {len(scripts)} run(s) of experiment {experiment.name} ({emit}).",
            "set -euo pipefail", here]
    if emit == "slurm":
        body.append(f"mkdir -p {shlex.quote(logs)}")
        body += [f'sbatch "$HERE/{os.path.basename(s)}"' for s in scripts]
    else:
        body += [f'bash "$HERE/{os.path.basename(s)}"' for s in scripts]
    with open(submit, "w", encoding="utf-8") as f:
        f.write("\n".join(body) + "\n")
    _chmod_x(submit)
    return {"scripts": scripts, "submit": submit, "runs": [s.run_id for s in experiment.runs], "runs_dir": runs_dir}
