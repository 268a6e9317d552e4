"""`dlzoo count NAME [key=value ...]`: exact parameter count without allocating weights."""

import time

from dlzoo.commands._common import add_json_argument, add_model_arguments, human, parse_extensions, parse_overrides, print_json


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument(
        "--trainable", action="store_true",
        help="count only the weights training updates (PyTorch's and the papers' parameter count; no BatchNorm statistics)",
    )
    add_json_argument(parser)


def run(args):
    from dlzoo import inspection  # lazy: keeps the CLI free of Keras

    params = parse_overrides(args.overrides)
    extensions = parse_extensions(args.extensions)
    start = time.perf_counter()
    count = inspection.count_params(args.name, extensions=extensions, trainable_only=args.trainable, **params)
    seconds = time.perf_counter() - start
    if args.json:
        print_json({"name": args.name, "parameters": count, "trainable_only": args.trainable, "seconds": round(seconds, 4)})
    else:
        print(f"{count}  ({human(count)} parameters, counted in {seconds * 1000:.1f} ms)")
    return 0
