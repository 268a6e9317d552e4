"""Running experiments: run directories, training each run (in its own process), resuming.

`run_experiment` loads and checks the composition file, then for each run:

* a finished run (its `summary.json` says `"finished"`) is skipped;
* a run another live process is working on (it holds the run's lock, see
  `locking.py`) is skipped, naming that process, and reported at the end;
* an interrupted or failed run (its directory exists, no finished summary)
  is resumed: finished folds are kept, the interrupted fold restarts from
  its last finished epoch (`keras.callbacks.BackupAndRestore`);
* a new run gets `<output_dir>/<run_id>/` with `config.yaml` (the resolved
  run config, itself a composition file) and `run.json`.

`run.json`'s `status` is honest: `created`, `running` (its process holds
the lock), `finished`, `failed` (with the `error`), or `interrupted` (its
process was stopped, or died: found on the next `dlzoo run` / `report`).

Each run executes in a subprocess with `KERAS_BACKEND` set to the run's
backend (`python -m dlzoo.experiments.worker RUN_DIR`), unless it can run in
this process (`isolate="auto"`: a single run whose backend is the current
one; `"never"`: always here, which needs matching backends).

A run directory holds:

    config.yaml            resolved run config (re-runnable: dlzoo run config.yaml)
    run.json               run id, hash, choices, status (and why it failed or stopped), times, pid, host
    run.lock               held by the process working on the run (its pid, host, start)
    environment.json       versions, git commit + dirty flag, hardware, seed
    data_fingerprint.json  sha256 of the split indices, the data files and the arrays
    splits.npz             the split (and fold) indices
    model.json             the builder's resolved model config
    analysis.json          parameters per block, memory estimate, FLOPs per example
    summary.json           final metrics (mean and std over folds), times, params
    [fold_<k>/]            one per fold with cross-validation, else in the run directory:
        history.csv        one row per epoch
        tensorboard/       TensorBoard event files
        checkpoints/best.keras, checkpoints/last.keras
        predictions.npz    test-split (else validation) indices, targets and predictions
        transforms.json    fitted transform state (e.g. the concept normalizer)
        fold_summary.json
"""

import copy
import dataclasses
import fnmatch
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import yaml

from dlzoo import yaml_io
from dlzoo.experiments import analysis, environment, launchers, locking, runfiles, splitting
from dlzoo.experiments import components as C
from dlzoo.experiments.datasets import Data, file_hash
from dlzoo.experiments.schema import Experiment, RunSpec, load_experiment, load_plugins

FINISHED = "finished"
CONFIG_FILE = "config.yaml"
#: Exceptions that mean bad input (data, options), not a bug: one line and exit code 2 on the command line.
INPUT_ERRORS = (ValueError, TypeError, FileNotFoundError, KeyError)
#: Exit codes of the worker (`python -m dlzoo.experiments.worker`): an input error; another process holds the lock.
EXIT_INPUT_ERROR = 2
EXIT_LOCKED = 75
#: The first words of the one line a failed worker writes; the runner shows that line once, itself.
ERROR_MARK = "dlzoo-run-error: "


class RunFailed(RuntimeError):
    """A run's worker process failed; `input_error` says whether its input was at fault (exit code 2)."""

    def __init__(self, message: str, input_error: bool = False):
        super().__init__(message)
        self.input_error = input_error


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _log(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, flush=True)


def dump_yaml(data: Dict[str, Any], path: str, header: Optional[str] = None) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if header:
            f.write("".join(f"# {line}\n" for line in header.splitlines()))
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None, width=120)
    os.replace(tmp, path)


# ------------------------------------------------------------- directories
def run_status(run_dir: str) -> Optional[str]:
    """`finished`, `running`, `failed`, `interrupted`, `created`, or None (no run there); marks a dead run interrupted."""
    summary = runfiles.read_json(os.path.join(run_dir, "summary.json"))
    if summary is not None:
        return summary.get("status")
    return locking.refresh_status(run_dir)


def _same_run(run_dir: str, spec: RunSpec) -> bool:
    info = runfiles.read_json(os.path.join(run_dir, "run.json"))
    return info is not None and info.get("digest") == spec.digest


def prepare_run_dir(output_dir: str, spec: RunSpec, rerun: bool = False, plugins: Sequence[str] = ()) -> str:
    """The run's directory: the existing one (to skip or resume) or a new one (never overwriting)."""
    base = os.path.join(output_dir, spec.run_id)
    n = 1
    while True:
        candidate = base if n == 1 else f"{base}-{n}"
        if not os.path.exists(candidate):
            break
        if _same_run(candidate, spec) and not rerun and run_status(candidate) is not None:
            # The same run: skip it if finished, resume it otherwise. With several
            # copies (reruns), the newest one counts.
            newer = f"{base}-{n + 1}"
            if not (os.path.exists(newer) and _same_run(newer, spec)):
                return candidate
        n += 1
    os.makedirs(candidate, exist_ok=True)
    dump_yaml(
        spec.config,
        os.path.join(candidate, CONFIG_FILE),
        header=f"Resolved config of run {os.path.basename(candidate)} (a composition file: dlzoo run {CONFIG_FILE}).",
    )
    runfiles.write_json(
        os.path.join(candidate, "run.json"),
        {
            "run_id": os.path.basename(candidate),
            "experiment": spec.config["name"],
            "digest": spec.digest,
            "index": spec.index,
            "choices": spec.choices,
            "backend": spec.backend,
            "plugins": list(plugins),
            "status": "created",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    return candidate


def _update_run_json(run_dir: str, **fields) -> None:
    path = os.path.join(run_dir, "run.json")
    info = runfiles.read_json(path) or {}
    info.update(fields)
    runfiles.write_json(path, info)


def write_experiment_index(experiment: Experiment, output_dir: str) -> None:
    """`experiment.yaml` (the composition after overrides) and `experiment.json` (every run)."""
    os.makedirs(output_dir, exist_ok=True)
    index_path = os.path.join(output_dir, "experiment.json")
    index = runfiles.read_json(index_path) or {"name": experiment.name, "runs": {}}
    index["name"] = experiment.name
    index["file"] = os.path.abspath(experiment.file) if experiment.file != "<config>" else None
    index["dimensions"] = experiment.dimensions
    for spec in experiment.runs:
        index["runs"][spec.run_id] = {"index": spec.index, "digest": spec.digest, "choices": spec.choices}
    runfiles.write_json(index_path, index)
    dump_yaml(experiment.raw, os.path.join(output_dir, "experiment.yaml"), header="The composition file as run (overrides applied).")


# ------------------------------------------------------------------ driver
def run_experiment(
    source: Any,
    overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
    output_dir: Optional[str] = None,
    only: Optional[Sequence[str]] = None,
    quiet: bool = False,
    isolate: str = "auto",
    rerun: bool = False,
    trust_plugins: bool = False,
    allow_outside_workdir: bool = False,
    launcher: Optional[Dict[str, Any]] = None,
) -> List[Dict[str, Any]]:
    """Run (or resume) every selected run of a composition file; returns their summaries.

    Args:
        source: composition file path or mapping.
        overrides: `key=value` strings.
        plugins: plugin modules to import (installed module names or `.py`
            paths); naming a module of the file's `plugins:` trusts it.
        output_dir: root of the run directories (default: the file's
            `output_dir`, else `runs/<name>`).
        only: run ids, hash prefixes or indices to run (default: all).
        quiet: no progress output.
        isolate: `"auto"`, `"always"` (a subprocess per run) or `"never"`.
        rerun: run finished runs again, in new directories.
        trust_plugins: import every plugin the file names.
        allow_outside_workdir: accept a file `output_dir` outside the
            working directory.
        launcher: `{"name": ..., options}` chosen on the command line: it
            replaces the file's `launcher:` section (a different name) or
            overrides its options (the same name). See `launchers.py`.

    Raises:
        ExperimentError: the file has problems (nothing ran).
        RunFailed: a run's subprocess failed (its `run.json` says why).
        locking.RunLocked: a run is being run by another live process
            (raised after the other runs were done).
    """
    experiment = load_experiment(source, overrides=overrides, plugins=plugins, output_dir=output_dir,
                                 trust_plugins=trust_plugins, allow_outside_workdir=allow_outside_workdir,
                                 launcher=launcher)
    selected = experiment.select(only)
    out = experiment.output_dir
    chosen = {spec.run_id: launchers.check(spec.config["launcher"], spec.backend) for spec in selected}
    run_plugins = [os.path.abspath(p) if p.endswith(".py") or os.sep in p else p for p in experiment.plugins]
    write_experiment_index(experiment, out)
    import keras  # lazy: keras

    here = keras.backend.backend()
    summaries, busy, jobs = [], [], []
    total = len(selected)
    _log(f"experiment {experiment.name}: {total} run(s) -> {out}", quiet)
    for position, spec in enumerate(selected, 1):
        run_dir = prepare_run_dir(out, spec, rerun=rerun, plugins=run_plugins)
        status = run_status(run_dir)
        label = f"[{position}/{total}] {os.path.basename(run_dir)}"
        if status == FINISHED:
            summary = runfiles.read_json(os.path.join(run_dir, "summary.json"))
            _log(f"{label}: finished before, skipped ({format_metrics(summary)})", quiet)
            summaries.append(summary)
            continue
        how = chosen[spec.run_id]
        # On several machines, each runs this command; global rank 0 (maybe on another machine) holds the lock.
        holder = None if launchers.several_machines(how) else locking.holder(run_dir)
        if holder is not None:
            print(f"{label}: skipped: being run by {locking.describe(holder)}", file=sys.stderr, flush=True)
            busy.append((run_dir, holder))
            continue
        if status not in (None, "created"):
            reason = (runfiles.read_json(os.path.join(run_dir, "run.json")) or {}).get("error")
            _log(f"{label}: resuming ({status}{': ' + reason if reason else ''})", quiet)
        else:
            _log(f"{label}: {spec.backend}" + (f" ({how.name})" if how.name != "local" else ""), quiet)
        if how.name == "submitit":
            jobs.append((label, run_dir, submit_run(run_dir, spec, how, out, quiet, run_plugins)))
            continue
        in_process = how.name == "local" and (
            isolate == "never" or (isolate == "auto" and total == 1 and spec.backend == here))
        if in_process and spec.backend != here:
            raise ValueError(
                f"Run {spec.run_id} needs backend {spec.backend!r} but this process runs {here!r}; "
                "use isolate='always' (the default 'auto' starts a subprocess)."
            )
        start = time.perf_counter()
        try:
            if in_process:
                summary = execute_run(run_dir, quiet=quiet, plugins=run_plugins)
            else:
                summary = execute_in_subprocess(run_dir, spec.backend, quiet=quiet, plugins=run_plugins, launcher=how)
        except locking.RunLocked as exc:  # another runner took it between the check and the start
            print(f"{label}: skipped: being run by {locking.describe(exc.holder)}", file=sys.stderr, flush=True)
            busy.append((run_dir, exc.holder))
            continue
        _log(f"{label}: done in {time.perf_counter() - start:.1f} s: {format_metrics(summary)}", quiet)
        summaries.append(summary)
    summaries += wait_for_jobs(jobs, quiet)
    if busy:
        if len(busy) == 1:
            raise locking.RunLocked(*busy[0])
        raise locking.RunLocked(busy[0][0], busy[0][1], others=len(busy) - 1)
    return summaries


def submit_run(run_dir: str, spec: RunSpec, launcher: launchers.Launcher, output_dir: str, quiet: bool,
               plugins: Sequence[str]):
    """Submit one run as a submitit job (the worker, as `dlzoo run` starts it); `None` when not waiting for it."""
    folder = os.path.join(os.path.abspath(output_dir), "submitit")
    executor = launchers.submitit_executor(launcher, folder, f"{spec.config['name']}-{spec.index:03d}")
    job = executor.submit(launchers.run_job, os.path.abspath(run_dir), spec.backend, quiet, list(plugins))
    _update_run_json(run_dir, launcher={"name": "submitit", "job_id": str(job.job_id),
                                        "folder": str(launcher["folder"] or folder)})
    _log(f"  submitted as job {job.job_id} (logs: {launcher['folder'] or folder})", quiet)
    return job if launcher["wait"] else None


def wait_for_jobs(jobs, quiet: bool = False) -> List[Dict[str, Any]]:
    """The summaries of the submitted runs we wait for; raises `RunFailed` for the first failed one, after all ended."""
    summaries, failures = [], []
    for label, run_dir, job in jobs:
        if job is None:
            continue
        try:
            summary = job.result()
        except Exception as exc:  # the job failed: its run.json says why
            info = runfiles.read_json(os.path.join(run_dir, "run.json")) or {}
            reason = info.get("error") or info.get("reason") or first_line(exc)
            failures.append(f"Run {os.path.basename(run_dir)} failed in job {job.job_id}: {reason}; "
                            f"see {os.path.join(run_dir, 'output.log')} and the job's logs ({job.paths.stdout}).")
            continue
        _log(f"{label}: done (job {job.job_id}): {format_metrics(summary)}", quiet)
        summaries.append(summary)
    if failures:
        more = f" ({len(failures) - 1} more run(s) failed too)" if len(failures) > 1 else ""
        raise RunFailed(failures[0] + more)
    return summaries


def format_metrics(summary: Optional[Dict[str, Any]], limit: int = 4) -> str:
    if not summary:
        return "no summary"
    metrics = summary.get("metrics") or {}
    names = [n for n in metrics if n.startswith(("test_", "val_"))][:limit]
    parts = []
    for name in names:
        m = metrics[name]
        parts.append(f"{name}={m['mean']:.4g}" + (f"±{m['std']:.2g}" if m.get("n", 1) > 1 else ""))
    return ", ".join(parts) or "no metrics"


def execute_in_subprocess(run_dir: str, backend: str, quiet: bool = False, plugins: Sequence[str] = (),
                          launcher: Optional[launchers.Launcher] = None) -> Dict[str, Any]:
    """Run one run in a fresh Python with `KERAS_BACKEND=backend`; its output is shown and kept in `output.log`.

    With the torchrun launcher the worker runs in `nproc_per_node` processes
    (`python -m torch.distributed.run ... -m dlzoo.experiments.worker`).

    Raises:
        RunFailed: the worker failed; the message is its one-line reason
            (`input_error` when the worker says its input was at fault).
        locking.RunLocked: another process holds the run's lock.
    """
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The parent's source tree first, so a checkout runs its own dlzoo.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    command = [sys.executable, "-m", "dlzoo.experiments.worker", run_dir]
    torchrun = launcher is not None and launcher.name == "torchrun"
    if torchrun:
        env[launchers.PROCESS_GROUP_ENV] = launcher["process_group"]
        command = launchers.torchrun_prefix(launcher, os.path.basename(run_dir)) + command[2:]
    if quiet:
        command.append("--quiet")
    for module in plugins:
        command += ["--plugins", module]
    log_path = os.path.join(run_dir, "output.log")
    reported = []
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for line in iter(process.stdout.readline, b""):
                log.write(line)
                log.flush()
                if line.startswith(ERROR_MARK.encode()):  # shown once, by the caller
                    reported.append(line[len(ERROR_MARK):].decode(errors="replace").strip())
                elif not quiet:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
            code = process.wait()
        except BaseException:
            process.terminate()
            process.wait()
            raise
    name = os.path.basename(run_dir)
    if code == EXIT_LOCKED:
        raise locking.RunLocked(run_dir, locking.holder(run_dir) or {})
    if code != 0:
        status = locking.refresh_status(run_dir)  # a killed worker's run becomes "interrupted"
        info = runfiles.read_json(os.path.join(run_dir, "run.json")) or {}
        reason = reported[-1] if reported else info.get("error") or info.get("reason") or "no reason recorded"
        # torchrun exits 1 whatever its workers' codes: a worker's error line means bad input (or a lock).
        raise RunFailed(f"Run {name} {status or 'failed'} (exit code {code}): {reason}; see {log_path}.",
                        input_error=code == EXIT_INPUT_ERROR or (torchrun and bool(reported)))
    summary = runfiles.read_json(os.path.join(run_dir, "summary.json"))
    if summary is None:
        raise RunFailed(f"Run {name} wrote no summary.json; see {log_path}.")
    return summary


# ----------------------------------------------------------- one run, here
def load_run_config(run_dir: str) -> Dict[str, Any]:
    with open(os.path.join(run_dir, CONFIG_FILE), "r", encoding="utf-8") as f:
        return yaml_io.safe_load(f)


@dataclasses.dataclass
class Prepared:
    """Data of one run after loading and splitting (before the transforms)."""

    data: Any
    splits: Dict[str, np.ndarray]
    folds: List[Dict[str, np.ndarray]]


def prepare_data(config: Dict[str, Any]) -> Prepared:
    data = C.make("dataset", config["data"]["dataset"])
    if not isinstance(data, Data):
        raise TypeError(
            f"The dataset {config['data']['dataset']!r} must return a dlzoo.experiments.Data. "
            f"Received: {type(data).__name__}."
        )
    split = config["data"]["split"]
    labels = data.stratify_labels if split["stratify"] else None
    if split["stratify"] and labels is None and data.groups is None:
        raise ValueError("data.split.stratify=true needs class labels (1-D integer y, or the dataset's `labels`).")
    if data.splits:
        splits = {name: np.asarray(data.splits.get(name, []), dtype="int64") for name in ("train", "validation", "test")}
        if len(splits["validation"]) == 0 and config["data"]["cv"] is None and split["validation"] > 0:
            inner = splitting.split_indices(
                len(splits["train"]), validation=split["validation"] / (1 - split["test"]) if split["test"] < 1 else 0.0,
                test=0.0, seed=split["seed"],
                labels=None if labels is None else labels[splits["train"]],
                groups=None if data.groups is None else data.groups[splits["train"]], shuffle=split["shuffle"],
            )
            splits["validation"] = splits["train"][inner["validation"]]
            splits["train"] = splits["train"][inner["train"]]
    else:
        splits = splitting.split_indices(
            len(data),
            validation=0.0 if config["data"]["cv"] else split["validation"],
            test=split["test"],
            seed=split["seed"],
            labels=labels,
            groups=data.groups,
            shuffle=split["shuffle"],
        )
    cv = config["data"]["cv"]
    if cv:
        pool = np.sort(np.concatenate([splits["train"], splits["validation"]]))
        folds = [
            {"train": train, "validation": val, "test": splits["test"]}
            for train, val in splitting.kfold_indices(pool, cv, seed=split["seed"], labels=labels, groups=data.groups)
        ]
    else:
        folds = [dict(splits)]
    return Prepared(data=data, splits=splits, folds=folds)


def fingerprint(prepared: Prepared) -> Dict[str, Any]:
    files = {}
    for path in prepared.data.files:
        if os.path.isfile(path):
            files[path] = file_hash(path)
    split_hashes = {name: splitting.indices_hash({name: idx}) for name, idx in prepared.splits.items()}
    fold_hashes = [splitting.indices_hash(f) for f in prepared.folds]
    everything = {**prepared.splits, **{f"fold_{k}_{n}": v for k, f in enumerate(prepared.folds) for n, v in f.items()}}
    return {
        "indices_sha256": splitting.indices_hash(everything),
        "splits": {name: {"count": int(len(idx)), "sha256": split_hashes[name]} for name, idx in prepared.splits.items()},
        "folds": [{"train": int(len(f["train"])), "validation": int(len(f["validation"])), "sha256": h}
                  for f, h in zip(prepared.folds, fold_hashes)],
        "files": files,
        "content_sha256": prepared.data.content_hash(),
        "data": prepared.data.describe(),
    }


def _save_splits(path: str, prepared: Prepared) -> None:
    arrays = {f"{name}": idx for name, idx in prepared.splits.items()}
    if len(prepared.folds) > 1:
        for k, fold in enumerate(prepared.folds):
            arrays[f"fold_{k}_train"] = fold["train"]
            arrays[f"fold_{k}_validation"] = fold["validation"]
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def apply_transforms(config: Dict[str, Any], train, others: Dict[str, Any]):
    """Fit the transforms on `train`, apply them to `train` and every split in `others`."""
    states = []
    for spec in config["data"]["transforms"]:
        transform = C.make("transform", spec)
        transform.fit(train)
        train = transform.apply(train)
        others = {k: (transform.apply(v) if v is not None else None) for k, v in others.items()}
        name = spec if isinstance(spec, str) else spec["name"]
        states.append({"name": name, "state": transform.state() if hasattr(transform, "state") else {}})
    train = train.finalize()
    others = {k: (v.finalize() if v is not None else None) for k, v in others.items()}
    return train, others, states


def execute_run(run_dir: str, quiet: bool = False, plugins: Sequence[str] = ()) -> Dict[str, Any]:
    """Train, evaluate and record one run in this process (its backend must be the current one).

    Holds the run's lock throughout (`locking.RunLock`: raises `RunLocked`
    naming the holder if another process has it). A failure leaves
    `run.json` with `"status": "failed"` and the `error`; Ctrl-C or a
    SystemExit leaves `"interrupted"`.

    In a process group started by torchrun (`data_parallel.group()`), rank 0
    does all that; the other ranks train with it and write nothing (they
    return None).
    """
    from dlzoo.experiments import data_parallel  # lazy: keras

    if not data_parallel.group().primary:
        return _execute_locked(run_dir, True, plugins)
    with locking.RunLock(run_dir):
        _update_run_json(run_dir, status=locking.RUNNING, started=time.strftime("%Y-%m-%dT%H:%M:%S"),
                         pid=os.getpid(), host=socket.gethostname(), error=None, reason=None)
        try:
            return _execute_locked(run_dir, quiet, plugins)
        except Exception as exc:
            _update_run_json(run_dir, status=locking.FAILED, error=first_line(exc),
                             failed=time.strftime("%Y-%m-%dT%H:%M:%S"))
            raise
        except BaseException as exc:  # KeyboardInterrupt, SystemExit
            _update_run_json(run_dir, status=locking.INTERRUPTED, reason=f"stopped by {type(exc).__name__}",
                             interrupted=time.strftime("%Y-%m-%dT%H:%M:%S"))
            raise


def _execute_locked(run_dir: str, quiet: bool, plugins: Sequence[str]) -> Dict[str, Any]:
    import keras  # lazy: keras

    from dlzoo import builder  # lazy: keras
    from dlzoo.experiments import data_parallel  # lazy: keras

    config = load_run_config(run_dir)
    run_info = runfiles.read_json(os.path.join(run_dir, "run.json")) or {}
    load_plugins(list(dict.fromkeys(list(plugins) + list(run_info.get("plugins") or []))))
    C.ensure_builtins()
    backend = keras.backend.backend()
    if config["backend"] != backend:
        raise ValueError(
            f"Run {os.path.basename(run_dir)} is configured for backend {config['backend']!r} but this process "
            f"runs {backend!r}. Start it with KERAS_BACKEND={config['backend']}."
        )
    seed = int(config["seed"])
    started = time.perf_counter()
    writer = data_parallel.group().primary  # with torchrun, only rank 0 writes the run's files
    if writer:
        runfiles.write_json(os.path.join(run_dir, "environment.json"), environment.capture(seed))

    keras.utils.set_random_seed(seed)
    prepared = prepare_data(config)
    if writer:
        runfiles.write_json(os.path.join(run_dir, "data_fingerprint.json"), fingerprint(prepared))
        _save_splits(os.path.join(run_dir, "splits.npz"), prepared)

    model_config = builder.resolve(
        config["model"]["name"], extensions=config["model"]["extensions"] or None, **(config["model"]["params"] or {})
    )
    if writer:
        runfiles.write_json(os.path.join(run_dir, "model.json"), model_config)

    fold_results = []
    k = len(prepared.folds)
    for fold in range(k):
        fold_dir = run_dir if k == 1 else os.path.join(run_dir, f"fold_{fold}")
        if writer:
            os.makedirs(fold_dir, exist_ok=True)
        done = runfiles.read_json(os.path.join(fold_dir, "fold_summary.json"))
        if done is not None and done.get("status") == FINISHED:
            _log(f"  fold {fold + 1}/{k}: finished before", quiet or k == 1)
            fold_results.append(done)
            continue
        if k > 1:
            _log(f"  fold {fold + 1}/{k}", quiet)
        result = train_fold(config, model_config, prepared, fold, fold_dir, seed + fold, quiet=quiet,
                            analyze=(fold == 0 and config["training"]["analysis"]), run_dir=run_dir)
        fold_results.append(result)

    if not writer:
        return None
    summary = summarize(config, run_dir, fold_results, model_config, time.perf_counter() - started)
    runfiles.write_json(os.path.join(run_dir, "summary.json"), summary)
    _update_run_json(run_dir, status=FINISHED, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    return summary


def _as_inputs(model, x):
    """Map data `x` onto the model's inputs (a single array -> the single named input)."""
    structure = model.input
    if isinstance(structure, dict):
        names = list(structure)
        if isinstance(x, dict):
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"The data has no input(s) {missing} for the model. Data inputs: {sorted(x)}; model inputs: {names}.")
            return {n: x[n] for n in names}
        if len(names) == 1:
            return {names[0]: x}
        raise ValueError(f"The model takes several inputs {names}; the dataset must give x as a dict with those keys.")
    return x


def _output_names(model) -> Optional[List[str]]:
    return list(model.output) if isinstance(model.output, dict) else None


def build_losses(config: Dict[str, Any], model):
    """`(loss, extra_metrics)` for `model.compile` from the composition's losses."""
    from dlzoo.experiments.builtins import LossComponent, WeightedSumLoss, as_loss_object  # lazy: keras

    specs = config["losses"] if isinstance(config["losses"], list) else [config["losses"]]
    grouped: Dict[Optional[str], List[Any]] = {}
    for spec in specs:
        name, options, reserved = C.split_spec("loss", spec)
        loss = C.make("loss", spec)
        grouped.setdefault(reserved.get("output"), []).append((name, loss, float(reserved.get("weight", 1.0))))
    outputs = _output_names(model)
    if outputs is None and any(o is not None for o in grouped):
        raise ValueError("The model has a single output: set `output: null` on every loss.")

    def combine(items):
        if len(items) == 1 and items[0][2] == 1.0:
            return items[0][1], []
        combined = WeightedSumLoss([l for _, l, _ in items], [w for _, _, w in items])
        names = [n for n, _, _ in items]
        unique = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
        extra = [LossComponent(as_loss_object(l), name=u) for u, (_, l, _) in zip(unique, items)] if len(items) > 1 else []
        return combined, extra

    if outputs is None:
        loss, extra = combine(grouped[None])
        return loss, extra
    losses, extras = {}, {}
    for output, items in grouped.items():
        key = output if output is not None else outputs[0]
        losses[key], extras[key] = combine(items)
    return losses, extras


def build_metrics(config: Dict[str, Any], model, extra):
    outputs = _output_names(model)
    per_output: Dict[Optional[str], List[Any]] = {}
    for spec in config["metrics"] if isinstance(config["metrics"], list) else [config["metrics"]]:
        name, options, reserved = C.split_spec("metric", spec)
        source, _ = C.lookup("metric", name, has_options=bool(options))
        metric = name if (source != "dlzoo" and not options) else C.make("metric", spec)
        per_output.setdefault(reserved.get("output"), []).append(metric)
    if outputs is None:
        return (per_output.get(None, []) + list(extra)) or None
    metrics = {}
    for output, items in per_output.items():
        metrics.setdefault(output or outputs[0], []).extend(items)
    for output, items in (extra or {}).items():
        metrics.setdefault(output, []).extend(items)
    return metrics or None


class ScaledRegularizer:
    """`weight * base(variable)`: a regularizer with a weight (set on variables after build)."""

    def __init__(self, base, weight):
        self.base = base
        self.weight = float(weight)

    def __call__(self, x):
        return self.weight * self.base(x)


def apply_regularizer(config: Dict[str, Any], model) -> List[str]:
    """Attach the composition's regularizer to the chosen trainable variables; returns their paths."""
    spec = config.get("regularizer")
    if spec is None:
        return []
    name, options, reserved = C.split_spec("regularizer", spec)
    source, obj = C.lookup("regularizer", name, has_options=True)
    if source == "keras" and not options:
        # Keras' L1/L2/L1L2 take their factor as an option; the weight is the factor.
        accepted, _ = C.accepted_options(obj)
        options = {k: 1.0 for k in ("l1", "l2") if k in (accepted or [])}
    base = C.make("regularizer", dict({"name": name}, **options))
    weight = float(reserved.get("weight", 1.0))
    pattern = reserved.get("variables")
    chosen = []
    for variable in model.trainable_variables:
        if pattern is not None:
            if not fnmatch.fnmatchcase(variable.path, pattern):
                continue
        elif len(variable.shape) < 2:
            continue
        variable.regularizer = ScaledRegularizer(base, weight)
        chosen.append(variable.path)
    return chosen


def build_optimizer(config: Dict[str, Any], total_steps: int):
    spec = copy.deepcopy(config["optimizer"])
    spec = {"name": spec} if isinstance(spec, str) else spec
    schedule_spec = config.get("schedule")
    if schedule_spec is not None:
        name, options, _ = C.split_spec("schedule", schedule_spec)
        _, obj = C.lookup("schedule", name, has_options=True)
        accepted, _ = C.accepted_options(obj)
        accepted = accepted or []
        extra = {}
        if "initial_learning_rate" in accepted and "initial_learning_rate" not in options:
            extra["initial_learning_rate"] = float(spec.get("learning_rate", 1e-3))
        for key in ("decay_steps", "first_decay_steps"):
            if key in accepted and key not in options:
                extra[key] = max(1, int(total_steps))
        spec["learning_rate"] = C.make("schedule", schedule_spec, **extra)
    return C.make("optimizer", spec)


def _tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("tensorboard") is not None


def _backup_epoch(backup_dir: str) -> int:
    meta = runfiles.read_json(os.path.join(backup_dir, "training_metadata.json"))
    if meta is None or not os.path.exists(os.path.join(backup_dir, "latest.weights.h5")):
        return 0
    return int(meta.get("epoch", 0))


def _evaluate(model, x, y, sw, batch_size) -> Dict[str, float]:
    if x is None:
        return {}
    result = model.evaluate(x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True)
    return {k: float(v) for k, v in result.items()}


def train_fold(config, model_config, prepared: Prepared, fold: int, fold_dir: str, seed: int,
               quiet: bool = False, analyze: bool = False, run_dir: Optional[str] = None) -> Dict[str, Any]:
    """Train and evaluate one fold (or the single split) in `fold_dir`; resumable."""
    import keras  # lazy: keras

    from dlzoo import builder  # lazy: keras
    from dlzoo.experiments import callbacks as CB  # lazy: keras
    from dlzoo.experiments import data_parallel  # lazy: keras

    processes = data_parallel.group()
    indices = prepared.folds[fold]
    data = prepared.data
    train = data.take(indices["train"])
    others = {
        "validation": data.take(indices["validation"]) if len(indices["validation"]) else None,
        "test": data.take(indices["test"]) if len(indices["test"]) else None,
    }
    train, others, states = apply_transforms(config, train, others)
    if processes.primary:
        runfiles.write_json(os.path.join(fold_dir, "transforms.json"), {"transforms": states})
    val, test = others["validation"], others["test"]

    training = config["training"]
    keras.utils.set_random_seed(seed)
    if config.get("distribution") is not None:  # a mesh: set before the variables are created, so they are sharded
        from dlzoo.distribution import setup as distribution_setup  # lazy: keras

        distribution_setup.distribution_from_config(config["distribution"], model_config)
    model = builder.build_resolved(model_config)
    regularized = apply_regularizer(config, model)
    loss, extra = build_losses(config, model)
    metrics = build_metrics(config, model, extra)
    batch_size = int(training["batch_size"])
    steps = max(1, -(-len(train) // batch_size))
    optimizer = build_optimizer(config, steps * int(training["epochs"]))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=training["jit_compile"])

    train_x = _as_inputs(model, train.x)
    augmentations = [C.make("augmentation", spec) for spec in config["data"].get("augment") or []]  # none in older runs
    feed = CB.SeededBatches(train_x, train.y, train.sample_weight, batch_size=batch_size,
                            shuffle=training["shuffle"], seed=seed, augmentations=augmentations)
    if processes.size > 1:  # this rank's share of each global batch
        feed = data_parallel.ShardedBatches(feed, processes.rank, processes.size)
    val_batch = int(training["validation_batch_size"] or batch_size)
    if config.get("distribution") is not None:
        distribution_setup.check_batches(
            keras.distribution.distribution().device_mesh.shape[0],
            {"train": batch_size, "validation": val_batch, "test": val_batch},
            {name: len(part) for name, part in (("train", train), ("validation", val), ("test", test)) if part is not None})
    val_feed = None
    if val is not None:
        val_feed = CB.SeededBatches(_as_inputs(model, val.x), val.y, val.sample_weight, batch_size=val_batch)

    backup_dir = os.path.join(fold_dir, "backup")
    initial_epoch = _backup_epoch(backup_dir)
    history_path = os.path.join(fold_dir, "history.csv")
    history_rows = [r for r in runfiles.read_history(history_path) if r.get("epoch", 0) < initial_epoch]
    checkpoints = os.path.join(fold_dir, "checkpoints")
    best_path = os.path.join(checkpoints, "best.keras")
    last_path = os.path.join(checkpoints, "last.keras")
    monitor = training["monitor"] if val is not None else training["monitor"].replace("val_", "")

    user_callbacks = [C.make("callback", spec) for spec in (config["callbacks"] or [])]
    seed_backup = CB.SeedStateBackup(backup_dir, resume_epoch=initial_epoch or None)
    best = CB.BestCheckpoint(best_path, monitor, training["mode"], history_rows)
    callbacks: List[Any] = [CB.EpochSetter(feed)] + user_callbacks + [CB.ReplayMonitors(user_callbacks, history_rows)]
    if processes.primary:
        callbacks.append(CB.HistoryLogger(history_path, initial_epoch=initial_epoch))
        if training["tensorboard"] and _tensorboard_available():
            callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(fold_dir, "tensorboard")))
        if training["save_checkpoints"]:
            callbacks += [best, CB.LastCheckpoint(last_path)]
        callbacks += [seed_backup, keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False)]
    else:  # the other ranks resume from rank 0's backup and write nothing
        callbacks += [data_parallel.ReadOnlySeedStateBackup(backup_dir, resume_epoch=initial_epoch or None),
                      data_parallel.ReadOnlyBackupAndRestore(backup_dir)]
    if processes.size > 1:
        callbacks.append(data_parallel.GradientAllReduce(feed))  # last: after the backup was restored

    if initial_epoch:
        _log(f"  resuming from epoch {initial_epoch}", quiet)
    verbose = 0 if quiet or not processes.primary else (1 if sys.stdout.isatty() else 2)
    fit_start = time.perf_counter()
    epochs = int(training["epochs"])
    # fit runs even when the backup says every epoch is done (killed before the fold summary was
    # written): `BackupAndRestore` then restores the weights and no epoch runs.
    # shuffle=False: the order comes from SeededBatches (Keras would reshuffle the batches with the
    # global Python RNG, which a resumed process cannot reproduce).
    model.fit(feed, validation_data=val_feed, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False)
    fit_seconds = time.perf_counter() - fit_start
    if not processes.primary:
        return None  # rank 0 evaluates and writes the results
    previous = runfiles.read_json(os.path.join(fold_dir, "fold_progress.json")) or {}
    train_seconds = float(previous.get("train_seconds", 0.0)) + fit_seconds
    runfiles.write_json(os.path.join(fold_dir, "fold_progress.json"), {"train_seconds": train_seconds})

    history = runfiles.read_history(history_path)
    best_epoch = None
    if training["save_checkpoints"] and os.path.exists(best_path):
        model.load_weights(best_path)
        best_epoch = best.best_epoch
    evaluation = {}
    eval_batch = val_batch
    if val is not None:
        evaluation.update({f"val_{k}": v for k, v in _evaluate(model, _as_inputs(model, val.x), val.y, val.sample_weight, eval_batch).items()})
    if test is not None:
        evaluation.update({f"test_{k}": v for k, v in _evaluate(model, _as_inputs(model, test.x), test.y, test.sample_weight, eval_batch).items()})
    if data.extra_metrics is not None:  # metrics that need facts of the data (a forecast's MASE scale)
        for prefix, part in (("val", val), ("test", test)):
            if part is not None:
                predictions = keras_numpy(model.predict(_as_inputs(model, part.x), batch_size=eval_batch, verbose=0))
                evaluation.update({f"{prefix}_{k}": float(v) for k, v in data.extra_metrics(part, predictions).items()})

    if training["save_predictions"]:
        target, which, split_name = (test, indices["test"], "test") if test is not None else (val, indices["validation"], "validation")
        if target is not None:
            save_predictions(os.path.join(fold_dir, "predictions.npz"), model, target, which, split_name, eval_batch)

    if analyze and run_dir is not None:
        sample = _as_inputs(model, train.x)
        try:
            info = analysis.analyze(model, model_config, sample, batch_size=batch_size, optimizer=config["optimizer"])
        except Exception as exc:  # analysis must never fail a run
            info = {"error": repr(exc)}
        info["regularized_variables"] = len(regularized)
        runfiles.write_json(os.path.join(run_dir, "analysis.json"), info)

    result = {
        "status": FINISHED,
        "fold": fold,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(fit_seconds / (epochs - initial_epoch), 4) if initial_epoch < epochs else None,
        "examples": {"train": len(train), "validation": 0 if val is None else len(val), "test": 0 if test is None else len(test)},
        "metrics": evaluation,
        "last_epoch": {k: v for k, v in (history[-1] if history else {}).items() if k != "epoch"},
        "parameters": int(model.count_params()),
    }
    runfiles.write_json(os.path.join(fold_dir, "fold_summary.json"), result)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return result


def save_predictions(path: str, model, data, indices, split_name: str, batch_size: int) -> None:
    predictions = model.predict(_as_inputs(model, data.x), batch_size=batch_size, verbose=0)
    arrays = {"indices": np.asarray(indices, dtype="int64"), "split": np.asarray(split_name)}

    def add(prefix, value):
        if value is None:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                arrays[f"{prefix}_{k}"] = np.asarray(keras_numpy(v))
        else:
            arrays[prefix] = np.asarray(keras_numpy(value))

    add("y_pred", predictions)
    add("y_true", data.y)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def keras_numpy(value):
    import keras  # lazy: keras

    return keras.ops.convert_to_numpy(value) if not isinstance(value, np.ndarray) else value


def summarize(config, run_dir, folds: List[Dict[str, Any]], model_config, seconds: float) -> Dict[str, Any]:
    """The run's `summary.json`: metrics as mean / std / values over folds, times, sizes."""
    names = []
    for fold in folds:
        for name in fold["metrics"]:
            if name not in names:
                names.append(name)
    metrics = {}
    for name in names:
        values = [f["metrics"][name] for f in folds if name in f["metrics"]]
        arr = np.asarray(values, dtype="float64")
        metrics[name] = {
            "mean": float(arr.mean()),
            "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "n": int(len(arr)),
            "values": [float(v) for v in arr],
        }
    info = runfiles.read_json(os.path.join(run_dir, "run.json")) or {}
    analysis_info = runfiles.read_json(os.path.join(run_dir, "analysis.json")) or {}
    return {
        "status": FINISHED,
        "run_id": os.path.basename(os.path.normpath(run_dir)),
        "experiment": config["name"],
        "digest": info.get("digest"),
        "choices": info.get("choices", {}),
        "backend": config["backend"],
        "model": config["model"]["name"],
        "parameters": folds[0].get("parameters") if folds else None,
        "folds": len(folds),
        "cv": config["data"]["cv"],
        "metrics": metrics,
        "train_seconds": round(sum(f.get("train_seconds", 0.0) for f in folds), 3),
        "wall_seconds": round(seconds, 3),
        "epochs_run": [f.get("epochs_run") for f in folds],
        "best_epoch": [f.get("best_epoch") for f in folds],
        "flops_per_example": analysis_info.get("flops_per_example"),
        "memory_bytes": (analysis_info.get("memory") or {}).get("bytes", {}).get("total"),
    }
