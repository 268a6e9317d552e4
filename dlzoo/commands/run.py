"""`dlzoo run experiment.yaml [key=value ...]`: train every combination of a composition file.

The file is checked completely before anything runs (every problem is
listed: file, key, value, what is allowed). Each run executes in its own
process with `KERAS_BACKEND` set to the run's backend and writes its own
directory under `--out` (default: the file's `output_dir`, else
`runs/<name>`). Re-running the same command skips finished runs and resumes
an interrupted one from its last finished epoch. See `guides/experiments.md`.
"""

import sys


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="composition file (.yaml/.json); a run's config.yaml works too")
    parser.add_argument("overrides", metavar="KEY=VALUE", nargs="*",
                        help="overrides with dotted keys; a list is a dimension (optimizer.learning_rate=[1e-3,1e-2])")
    parser.add_argument("--out", metavar="DIR", default=None, help="root directory of the runs (default: runs/<name>)")
    parser.add_argument("--only", metavar="RUN_ID", action="append", default=None,
                        help="run only this run (id, hash prefix or index; repeatable)")
    parser.add_argument("--plugins", metavar="MODULE", action="append", default=[],
                        help="import a module that registers components (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress output (verbose by default)")
    parser.add_argument("--rerun", action="store_true", help="run finished runs again, in new directories")
    parser.add_argument("--isolate", choices=("auto", "always", "never"), default="auto",
                        help="a subprocess per run (always), none (never), or when needed (auto, the default)")
    parser.add_argument("--list", dest="list_runs", action="store_true",
                        help="check the file and list its runs without running anything")
    parser.add_argument("--components", action="store_true",
                        help="list the component names usable in composition files and exit")


def run(args):
    from dlzoo.experiments import ExperimentError

    if args.components:
        from dlzoo.experiments.components import list_components

        for kind, names in list_components().items():
            print(f"{kind}: {', '.join(names)}")
        return 0
    try:
        if args.list_runs:
            return _list(args)
        from dlzoo.experiments import runner

        runner.run_experiment(
            args.file,
            overrides=args.overrides,
            plugins=args.plugins,
            output_dir=args.out,
            only=args.only,
            quiet=args.quiet,
            isolate=args.isolate,
            rerun=args.rerun,
        )
    except ExperimentError as exc:
        print(f"dlzoo run: {exc}", file=sys.stderr)
        return 2
    return 0


def _list(args):
    import os

    from dlzoo.experiments import load_experiment
    from dlzoo.experiments.runner import run_status

    experiment = load_experiment(args.file, overrides=args.overrides, plugins=args.plugins, output_dir=args.out)
    runs = experiment.select(args.only)
    print(f"experiment {experiment.name}: {len(runs)} run(s) -> {experiment.output_dir}")
    if experiment.dimensions:
        print(f"dimensions: {', '.join(experiment.dimensions)}")
    for spec in runs:
        status = run_status(os.path.join(experiment.output_dir, spec.run_id)) or "new"
        print(f"  {spec.index:3d}  {spec.run_id}  [{spec.backend}, {status}]")
    return 0
