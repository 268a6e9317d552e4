"""How each run's worker process is started: here, under torchrun (several processes), or as a submitit job.

A composition file's `launcher:` section (or `dlzoo run --launcher NAME`)
picks one; the run itself (`python -m dlzoo.experiments.worker RUN_DIR`) is
the same whatever starts it, so the launcher is not part of a run's identity
(its hash and name): a run started directly can be resumed under torchrun,
and the reverse.

```yaml
launcher: {name: local}                                # the default: one process per run
launcher: {name: torchrun, nproc_per_node: 2}          # data-parallel training (torch backend)
launcher: {name: submitit, partition: gpu, time: "02:00:00", gpus: 1, cpus: 8, memory: 32G}
```

* `local`: the run's worker in a subprocess (or in this process, see
  `runner.run_experiment`'s `isolate`).
* `torchrun`: `python -m torch.distributed.run ... -m dlzoo.experiments.worker
  RUN_DIR`; the worker's processes train one model data-parallel
  (`dlzoo.experiments.data_parallel`). Options: `nproc_per_node`, `nnodes`,
  `node_rank`, `rdzv_endpoint`, `rdzv_backend`, `rdzv_id`, `max_restarts`,
  `process_group` (`auto`: NCCL with CUDA, else gloo; `gloo`; `nccl`).
* `submitit`: each run is one job of `submitit.AutoExecutor` (SLURM on a
  cluster, local processes elsewhere, or `cluster: local`); the job starts
  the same worker. Options: `cluster`, `folder`, `partition`, `account`,
  `time`, `gpus`, `cpus`, `memory`, `sbatch` (more `#SBATCH` options),
  `setup` (shell lines run first), `wait`.
"""

import dataclasses
import importlib.util
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

from dlzoo.registry import did_you_mean

LAUNCHERS = ("local", "torchrun", "submitit")
PROCESS_GROUPS = ("auto", "gloo", "nccl")
SUBMITIT_CLUSTERS = ("local", "slurm", "debug")
#: The options of each launcher and their defaults.
OPTIONS: Dict[str, Dict[str, Any]] = {
    "local": {},
    "torchrun": {
        "nproc_per_node": 1,
        "nnodes": 1,
        "node_rank": None,
        "rdzv_endpoint": None,
        "rdzv_backend": "c10d",
        "rdzv_id": None,
        "max_restarts": 0,
        "process_group": "auto",
    },
    "submitit": {
        "cluster": None,
        "folder": None,
        "partition": None,
        "account": None,
        "time": "1-00:00:00",
        "gpus": None,
        "cpus": None,
        "memory": None,
        "sbatch": {},
        "setup": [],
        "wait": True,
    },
}
#: The worker's environment variable naming the torch process-group backend (set by the torchrun launcher).
PROCESS_GROUP_ENV = "DLZOO_PROCESS_GROUP"


@dataclasses.dataclass(frozen=True)
class Launcher:
    """A checked launcher: its `name` and every option (defaults filled in)."""

    name: str
    options: Dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.options[key]


def _fail(option: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"`launcher.{option}` must be {allowed}. Received: launcher.{option}={value!r}.")


def _int(options: Dict[str, Any], key: str, minimum: int, allow_none: bool = False) -> None:
    value = options[key]
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, value, f"an integer >= {minimum}" + (" or null" if allow_none else ""))


def _str(options: Dict[str, Any], key: str, pattern: Optional[str] = None, example: str = "") -> None:
    value = options[key]
    if value is None:
        return
    if not isinstance(value, str) or not value or (pattern and not re.fullmatch(pattern, value)):
        raise _fail(key, value, f"a string{' like ' + example if example else ''} or null")


def timeout_minutes(value: Any) -> int:
    """`90` (minutes), `"02:00:00"`, `"1-00:00:00"` (days-hours:minutes:seconds) or `"45:00"` -> minutes (rounded up)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", value) if isinstance(value, str) else None
    if match is None:
        raise _fail("time", value, 'minutes (a positive integer) or "HH:MM:SS" / "D-HH:MM:SS"')
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if match.group(2) is None:  # "MM:SS"
        hours, minutes, seconds = 0, int(match.group(3)), int(match.group(4))
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    if total <= 0:
        raise _fail("time", value, "a positive duration")
    return total


def memory_gb(value: Any) -> float:
    """`"16G"`, `"500M"`, `"1T"` or a number of GB -> GB."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MGT])B?", value.strip(), re.IGNORECASE) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise _fail("memory", value, 'a size like "16G", "500M" or a number of GB')
    return float(match.group(1)) * {"M": 1 / 1024, "G": 1.0, "T": 1024.0}[match.group(2).upper()]


def check(section: Any, backend: Optional[str] = None) -> Launcher:
    """The checked launcher of a `launcher:` section (`None`, a name, or a mapping with `name` and options).

    Args:
        section: the composition file's `launcher:` value.
        backend: the run's backend (`torchrun` needs `"torch"`), or None
            not to check it.

    Raises:
        ValueError: an unknown launcher or option, or a bad value (naming the
            option and the value).
        ModuleNotFoundError: the `submitit` package is not installed.
    """
    if section is None:
        section = {"name": "local"}
    elif isinstance(section, str):
        section = {"name": section}
    if not isinstance(section, Mapping):
        raise ValueError(f"`launcher` must be a name ({', '.join(LAUNCHERS)}) or a mapping with a `name`. "
                         f"Received: launcher={section!r}.")
    name = section.get("name", "local")
    if name not in LAUNCHERS:
        raise ValueError(f"Unknown launcher {name!r}.{did_you_mean(name, LAUNCHERS)} "
                         f"Allowed: {', '.join(LAUNCHERS)}. Received: launcher.name={name!r}.")
    options = dict(OPTIONS[name])
    for key, value in section.items():
        if key == "name":
            continue
        if key not in options:
            allowed = ", ".join(OPTIONS[name]) or "none"
            raise ValueError(f"`launcher.{key}` is not an option of the {name} launcher.{did_you_mean(key, OPTIONS[name])} "
                             f"Options: {allowed}. Received: launcher.{key}={value!r}.")
        options[key] = value
    if name == "torchrun":
        _check_torchrun(options, backend)
    elif name == "submitit":
        _check_submitit(options)
    return Launcher(name, options)


def _check_torchrun(options: Dict[str, Any], backend: Optional[str]) -> None:
    _int(options, "nproc_per_node", 1)
    nnodes = options["nnodes"]
    if not (isinstance(nnodes, int) and not isinstance(nnodes, bool) and nnodes >= 1) and not (
            isinstance(nnodes, str) and re.fullmatch(r"\d+(:\d+)?", nnodes)):
        raise _fail("nnodes", nnodes, 'an integer >= 1 or "MIN:MAX"')
    _int(options, "node_rank", 0, allow_none=True)
    _int(options, "max_restarts", 0)
    _str(options, "rdzv_endpoint", r"[^\s:]+(:\d+)?", '"host:29500"')
    _str(options, "rdzv_backend")
    _str(options, "rdzv_id")
    if options["process_group"] not in PROCESS_GROUPS:
        raise _fail("process_group", options["process_group"], f"one of {', '.join(PROCESS_GROUPS)}")
    if nnodes != 1 and options["rdzv_endpoint"] is None:
        raise _fail("rdzv_endpoint", None, f'"host:port" of node 0 when nnodes={nnodes!r} (several machines)')
    if backend is not None and backend != "torch":
        raise ValueError(
            "The torchrun launcher trains one model across PyTorch processes: it needs `backend: torch`. "
            f"Received: backend={backend!r}. (For JAX on several devices use Keras' distribution API.)")
    if importlib.util.find_spec("torch") is None:
        raise ModuleNotFoundError("The torchrun launcher needs PyTorch (`pip install torch`); it is not installed here.")


def _check_submitit(options: Dict[str, Any]) -> None:
    if options["cluster"] is not None and options["cluster"] not in SUBMITIT_CLUSTERS:
        raise _fail("cluster", options["cluster"], f"one of {', '.join(SUBMITIT_CLUSTERS)} or null (automatic)")
    for key in ("folder", "partition", "account"):
        _str(options, key)
    timeout_minutes(options["time"])
    _int(options, "gpus", 0, allow_none=True)
    _int(options, "cpus", 1, allow_none=True)
    if options["memory"] is not None:
        memory_gb(options["memory"])
    if not isinstance(options["sbatch"], Mapping):
        raise _fail("sbatch", options["sbatch"], "a mapping of #SBATCH options (e.g. {qos: short})")
    if not isinstance(options["setup"], list) or not all(isinstance(line, str) for line in options["setup"]):
        raise _fail("setup", options["setup"], 'a list of shell lines (e.g. ["module load cuda"])')
    if not isinstance(options["wait"], bool):
        raise _fail("wait", options["wait"], "true or false")
    if importlib.util.find_spec("submitit") is None:
        raise ModuleNotFoundError("The submitit launcher needs the `submitit` package (`pip install submitit`); "
                                  "it is not installed here.")


def merge(file_section: Any, command_line: Optional[Mapping[str, Any]]) -> Any:
    """The launcher section after the command line's choice.

    A name other than the one the file's section names replaces that section;
    otherwise (the same name, or a section without a name, e.g. made by
    `launcher.partition=gpu` overrides) the command line sets its options.
    """
    if not command_line:
        return file_section
    base = {"name": file_section} if isinstance(file_section, str) else dict(file_section or {})
    if base.get("name") is not None and command_line.get("name") not in (None, base["name"]):
        base = {}
    base.update({k: v for k, v in command_line.items() if v is not None})
    return base


# ------------------------------------------------------------------ torchrun
def torchrun_prefix(launcher: Launcher, run_id: str) -> List[str]:
    """`python -m torch.distributed.run <options>`: the worker command follows (with `-m`)."""
    o = launcher.options
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={o['nproc_per_node']}"]
    if o["nnodes"] == 1 and o["rdzv_endpoint"] is None:
        command.append("--standalone")  # one machine: a free local port, no rendezvous server
    else:
        command += [f"--nnodes={o['nnodes']}", f"--rdzv-backend={o['rdzv_backend']}",
                    f"--rdzv-endpoint={o['rdzv_endpoint']}", f"--rdzv-id={o['rdzv_id'] or run_id}"]
        if o["node_rank"] is not None:
            command.append(f"--node-rank={o['node_rank']}")
    if o["max_restarts"]:
        command.append(f"--max-restarts={o['max_restarts']}")
    return command + ["-m"]


def several_machines(launcher: Launcher) -> bool:
    """Whether the torchrun launcher spans several machines (each runs `dlzoo run`; rank 0 holds the lock)."""
    return launcher.name == "torchrun" and launcher["nnodes"] != 1


# ------------------------------------------------------------------ submitit
def submitit_executor(launcher: Launcher, folder: str, job_name: str):
    """A `submitit.AutoExecutor` with the launcher's resources (SLURM names prefixed `slurm_`)."""
    import submitit  # lazy: optional dependency (checked by `check`)

    o = launcher.options
    executor = submitit.AutoExecutor(folder=o["folder"] or folder, cluster=o["cluster"])
    parameters: Dict[str, Any] = {"name": job_name, "timeout_min": timeout_minutes(o["time"])}
    if o["gpus"] is not None:
        parameters["gpus_per_node"] = o["gpus"]
    if o["cpus"] is not None:
        parameters["cpus_per_task"] = o["cpus"]
    if o["memory"] is not None:
        parameters["mem_gb"] = memory_gb(o["memory"])
    if o["partition"]:
        parameters["slurm_partition"] = o["partition"]
    if o["account"]:
        parameters["slurm_account"] = o["account"]
    if o["sbatch"]:
        parameters["slurm_additional_parameters"] = dict(o["sbatch"])
    if o["setup"]:
        parameters["slurm_setup"] = list(o["setup"])
    executor.update_parameters(**parameters)
    return executor


def run_job(run_dir: str, backend: str, quiet: bool = False, plugins: Sequence[str] = ()) -> Dict[str, Any]:
    """The body of a submitit job: the run's worker in a subprocess with its backend (as `dlzoo run` starts it)."""
    from dlzoo.experiments import runner  # lazy: the job unpickles this function before anything else

    return runner.execute_in_subprocess(run_dir, backend, quiet=quiet, plugins=plugins)
