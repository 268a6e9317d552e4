"""`dlzoo search FILE [key=value ...]`: an Optuna architecture search under a budget (see guides/search.md).

The file is a composition file describing one run plus a `search:` section
of type `optuna` (space, objectives, budgets, trials). Every problem of the
space is reported before any trial starts; a trial breaking a budget is
rejected before any weight is allocated. The study lives in
`<out>/study.db` (SQLite) unless `--storage` names another Optuna RDB URL:
re-running the command resumes it, and `--workers N` (or the same command
started twice) shares it.
"""

import sys


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="composition file with a `search: {type: optuna, ...}` section")
    parser.add_argument("overrides", metavar="KEY=VALUE", nargs="*", help="overrides of the composition, dotted keys")
    parser.add_argument("--out", metavar="DIR", default=None, help="search directory (default: runs/<name>-search)")
    parser.add_argument("--storage", metavar="URL", default=None,
                        help="Optuna storage URL (default: sqlite:///<out>/study.db); any RDB URL shares a study")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the study (1)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args):
    from dlzoo.experiments import ExperimentError  # lazy: keeps the CLI fast (numpy)
    from dlzoo.experiments import search  # lazy: keeps the CLI fast

    try:
        facts = search.search(args.file, overrides=args.overrides, output_dir=args.out, storage=args.storage,
                              workers=args.workers, quiet=args.quiet)
    except ExperimentError as exc:
        print(f"dlzoo search: {exc}", file=sys.stderr)
        return 2
    counts = facts["trials"]
    print(f"{counts['complete']} trained, {counts['pruned']} pruned, {counts['infeasible']} infeasible (rejected "
          f"before allocation), {counts['failed']} failed; report: {facts['markdown']}")
    if facts.get("best"):
        best = facts["best"]
        print(f"best trial {best['number']}: " + ", ".join(f"{k}={v:.4g}" for k, v in best["values"].items())
              + f", {best['parameters']:,} parameters -> {facts['best_yaml']}")
    return 0
