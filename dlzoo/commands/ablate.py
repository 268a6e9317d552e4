"""`dlzoo ablate FILE --switch KEY=VALUE ... [--seeds N]`: which switches help (see guides/ablation.md).

The file is a composition file describing one run (the base); each switch
changes one model parameter (dotted: `norm.type=rms_norm`) or composition key
(`optimizer.learning_rate=1e-3`). The base and every one-switch variant are
trained with the same seeds by the experiments runner; the report gives, per
switch, the metric (mean ± std), its paired change, parameters and FLOPs, as
a Markdown table and a PNG plot. The file may carry the switches itself in an
`ablation:` section. A switch naming an unknown parameter or a refused value
is reported before anything trains.
"""

import sys


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="composition file of the base run (optionally with `ablation:`)")
    parser.add_argument("overrides", metavar="KEY=VALUE", nargs="*", help="overrides of the base composition, dotted keys")
    parser.add_argument("--switch", dest="switches", metavar="KEY=VALUE", action="append", default=[],
                        help="one switch (repeatable), e.g. --switch norm.type=rms_norm")
    parser.add_argument("--seeds", metavar="N_OR_LIST", default=None,
                        help="number of seeds (3: seeds 0,1,2) or a list (0,5,7); default: the file's, else 3")
    parser.add_argument("--metric", default=None, help="compared metric (default: test_/val_ of the first metric)")
    parser.add_argument("--out", metavar="DIR", default=None, help="output directory (default: runs/<name>-ablation)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _seeds(text):
    if text is None:
        return None
    parts = [p for p in text.replace("[", "").replace("]", "").split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return text  # refused, with the value named, by the ablation's own check
    return numbers[0] if len(numbers) == 1 and "," not in text else numbers


def run(args):
    from dlzoo.experiments import ExperimentError  # lazy: keeps the CLI fast (numpy)
    from dlzoo.experiments import ablation  # lazy: keeps the CLI fast

    try:
        facts = ablation.ablate(args.file, switches=args.switches, seeds=_seeds(args.seeds), metric=args.metric,
                                overrides=args.overrides, output_dir=args.out, quiet=args.quiet)
    except ExperimentError as exc:
        print(f"dlzoo ablate: {exc}", file=sys.stderr)
        return 2
    print(facts["table"])
    print(f"report: {facts['markdown']}" + (f", plot: {facts['png']}" if facts.get("png") else ""))
    return 0
