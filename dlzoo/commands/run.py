"""`dlzoo run experiment.yaml [key=value ...]`: train every combination of a composition file.

The file is checked completely before anything runs (every problem is
listed: file, key, value, what is allowed). Each run executes in its own
process with `KERAS_BACKEND` set to the run's backend and writes its own
directory under `--out` (default: the file's `output_dir`, else
`runs/<name>`). Re-running the same command skips finished runs and resumes
an interrupted or failed one from its last finished epoch, and skips (naming
it) a run that another live process is working on. Plugins the file names
are imported only with `--plugins NAME` or `--trust-plugins`, and never for
`--list`. `--launcher torchrun --nproc-per-node 2` trains each run in two
PyTorch processes (data parallel); `--launcher submitit` submits each run as
a job (SLURM); both replace the file's `launcher:` section (or set its options,
when it names the same launcher). See `guides/experiments.md` and
`guides/scaling.md`.
"""

import os
import sys


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="composition file (.yaml/.json); a run's config.yaml works too")
    parser.add_argument("overrides", metavar="KEY=VALUE", nargs="*",
                        help="overrides with dotted keys; a list is a dimension (optimizer.learning_rate=[1e-3,1e-2])")
    parser.add_argument("--out", metavar="DIR", default=None, help="root directory of the runs (default: runs/<name>)")
    parser.add_argument("--only", metavar="RUN_ID", action="append", default=None,
                        help="run only this run (id, hash prefix or index; repeatable)")
    parser.add_argument("--plugins", metavar="MODULE_OR_PATH", action="append", default=[],
                        help="import a plugin that registers components: an installed module or a .py file "
                             "(repeatable); naming a plugin of the file trusts it")
    parser.add_argument("--trust-plugins", action="store_true",
                        help="import every plugin the composition file names (it runs their code)")
    parser.add_argument("--allow-outside-workdir", action="store_true",
                        help="accept a file output_dir outside the working directory")
    parser.add_argument("--quiet", action="store_true", help="no progress output (verbose by default)")
    parser.add_argument("--rerun", action="store_true", help="run finished runs again, in new directories")
    parser.add_argument("--isolate", choices=("auto", "always", "never"), default="auto",
                        help="a subprocess per run (always), none (never), or when needed (auto, the default)")
    parser.add_argument("--launcher", metavar="NAME", default=None,
                        help="how each run starts: local (default), torchrun (several PyTorch processes), "
                             "submitit (a job each, SLURM); other options: launcher.KEY=VALUE overrides")
    parser.add_argument("--nproc-per-node", metavar="N", type=int, default=None,
                        help="torchrun: processes per machine (sets launcher.nproc_per_node)")
    parser.add_argument("--list", dest="list_runs", action="store_true",
                        help="check the file and list its runs without running anything (imports no plugin)")
    parser.add_argument("--components", action="store_true",
                        help="list the component names usable in composition files and exit")


def run(args):
    from dlzoo.experiments import ExperimentError  # lazy: keeps the CLI fast (numpy)
    from dlzoo.experiments.locking import RunLocked  # lazy: keeps the CLI fast (numpy)
    from dlzoo.experiments.runner import RunFailed  # lazy: keeps the CLI fast (numpy)

    if args.components:
        from dlzoo.experiments.components import list_components  # lazy: keeps the CLI fast (numpy)

        for kind, names in list_components().items():
            print(f"{kind}: {', '.join(names)}")
        return 0
    try:
        if args.list_runs:
            return _list(args)
        from dlzoo.experiments import runner  # lazy: keeps the CLI fast (numpy)

        runner.run_experiment(
            args.file,
            overrides=args.overrides,
            plugins=args.plugins,
            output_dir=args.out,
            only=args.only,
            quiet=args.quiet,
            isolate=args.isolate,
            rerun=args.rerun,
            trust_plugins=args.trust_plugins,
            allow_outside_workdir=args.allow_outside_workdir,
            launcher=_launcher(args),
        )
    except ExperimentError as exc:
        print(f"dlzoo run: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"dlzoo run: error: {exc}", file=sys.stderr)
        return 2 if exc.input_error else 1
    except RunLocked as exc:
        print(f"dlzoo run: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:  # a launcher's package is missing
        print(f"dlzoo run: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _launcher(args):
    """The command line's launcher choice (`None`: the file's)."""
    if args.launcher is None and args.nproc_per_node is None:
        return None
    if args.launcher is None:
        return {"name": "torchrun", "nproc_per_node": args.nproc_per_node}
    return {"name": args.launcher, "nproc_per_node": args.nproc_per_node}


def _list(args):
    from dlzoo.experiments import load_experiment  # lazy: keeps the CLI fast (numpy)
    from dlzoo.experiments.runner import run_status  # lazy: keeps the CLI fast (numpy)

    experiment = load_experiment(args.file, overrides=args.overrides, plugins=args.plugins, output_dir=args.out,
                                 import_plugins=False, check_data=False,
                                 allow_outside_workdir=args.allow_outside_workdir)
    runs = experiment.select(args.only)
    print(f"experiment {experiment.name}: {len(runs)} run(s) -> {experiment.output_dir}")
    if experiment.unchecked:
        print(f"plugins not imported for --list: {', '.join(experiment.unchecked)} "
              "(names only they register were not checked)")
    if experiment.dimensions:
        print(f"dimensions: {', '.join(experiment.dimensions)}")
    for spec in runs:
        status = run_status(os.path.join(experiment.output_dir, spec.run_id)) or "new"
        print(f"  {spec.index:3d}  {spec.run_id}  [{spec.backend}, {status}]")
    return 0
