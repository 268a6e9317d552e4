"""`dlzoo battery experiment.yaml --emit bash|slurm --out scripts/`: one script per run, plus submit_all.sh.

Each script runs exactly one run (`dlzoo run FILE --only RUN_ID`); running a
script again resumes an interrupted run or skips a finished one, which suits
time-limited cluster jobs.
"""

import sys


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="composition file")
    parser.add_argument("overrides", metavar="KEY=VALUE", nargs="*", help="overrides passed on to every script")
    parser.add_argument("--emit", choices=("bash", "slurm"), default="bash", help="script flavour (default: bash)")
    parser.add_argument("--out", metavar="DIR", default="scripts", help="where to write the scripts (default: scripts/)")
    parser.add_argument("--runs-dir", metavar="DIR", default=None, help="root of the run directories (default: runs/<name>)")
    parser.add_argument("--plugins", metavar="MODULE_OR_PATH", action="append", default=[],
                        help="plugin modules or .py files, passed on to the scripts (repeatable)")
    parser.add_argument("--trust-plugins", action="store_true",
                        help="the scripts import every plugin the composition file names")
    parser.add_argument("--allow-outside-workdir", action="store_true",
                        help="accept a file output_dir outside the working directory")
    parser.add_argument("--account", default=None, help="SLURM --account")
    parser.add_argument("--time", default=None, help="SLURM --time, e.g. 02:00:00")
    parser.add_argument("--partition", default=None, help="SLURM --partition")
    parser.add_argument("--gpus", type=int, default=None, help="SLURM --gpus")
    parser.add_argument("--cpus", type=int, default=None, help="SLURM --cpus-per-task")
    parser.add_argument("--mem", default=None, help="SLURM --mem, e.g. 16G")
    parser.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                        help="another #SBATCH option, e.g. --sbatch=--qos=short (repeatable)")
    parser.add_argument("--python", default=None, help="Python executable in the scripts (default: this one)")


def run(args):
    from dlzoo.experiments import ExperimentError  # lazy: keeps the CLI fast (numpy)
    from dlzoo.experiments.battery import write_battery  # lazy: keeps the CLI fast (numpy)

    try:
        result = write_battery(
            args.file, emit=args.emit, out=args.out, overrides=args.overrides, plugins=args.plugins,
            output_dir=args.runs_dir, account=args.account, time=args.time, partition=args.partition,
            gpus=args.gpus, cpus=args.cpus, memory=args.mem, python=args.python, extra_sbatch=args.sbatch,
            trust_plugins=args.trust_plugins, allow_outside_workdir=args.allow_outside_workdir,
        )
    except ExperimentError as exc:
        print(f"dlzoo battery: {exc}", file=sys.stderr)
        return 2
    print(f"{len(result['scripts'])} {args.emit} script(s) in {args.out} (runs go to {result['runs_dir']}):")
    for path in result["scripts"]:
        print(f"  {path}")
    print(f"submit them all: {result['submit']}")
    return 0
