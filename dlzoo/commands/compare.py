"""`dlzoo compare RUN_A RUN_B ...`: config diff, metric diff and overlaid learning curves of runs."""

from dlzoo.cli import UsageError
from dlzoo.commands._common import print_json


def add_arguments(parser):
    parser.add_argument("runs", metavar="RUN_DIR", nargs="+", help="two or more run directories")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="also write compare.md and overlaid curve PNGs to DIR")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")


def run(args):
    from dlzoo.experiments.compare import compare_runs, render_markdown  # lazy: keeps the CLI fast (numpy)

    if len(args.runs) < 2:
        raise UsageError(f"compare needs at least two run directories. Received: {args.runs}.")
    result = compare_runs(args.runs, out=args.out)
    if args.json:
        print_json(result)
        return 0
    print(render_markdown(result), end="")
    if args.out:
        print(f"\nwritten: {result['markdown']}" + "".join(f"\n  {p}" for p in result.get("images", [])))
    return 0
