"""`dlzoo report RUNS_DIR`: a Markdown + HTML report of every run, with learning-curve plots.

Writes `RUNS_DIR/report/report.md`, `report.html` and PNG plots (or `--out`):
a table of the runs (config differences only, metrics with their CV spread,
parameter count, FLOPs, training time, backend), the best run per metric,
learning curves and the model analysis.
"""

from dlzoo.commands._common import print_json


def add_arguments(parser):
    parser.add_argument("runs_dir", metavar="RUNS_DIR", help="an experiment's runs directory (or one run)")
    parser.add_argument("--out", metavar="DIR", default=None, help="where to write the report (default: RUNS_DIR/report)")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args):
    from dlzoo.experiments.report import write_report  # lazy: keeps the CLI fast (numpy)

    result = write_report(args.runs_dir, out=args.out)
    if args.json:
        print_json(result)
        return 0
    print(f"report of {result['runs']} run(s) ({result['finished']} finished):")
    print(f"  {result['markdown']}")
    print(f"  {result['html']}")
    for image in result["images"]:
        print(f"  {image}")
    for best in result["best"]:
        print(f"best {best['metric']} ({best['goal']}): {best['run']} = {best['value']}")
    return 0
