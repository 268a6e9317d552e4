"""`dlzoo diff A B`: what differs between two models (params, techniques, sizes)."""

import json

from dlzoo.commands._common import add_json_argument, print_json


def _show(value):
    return "(absent)" if value == "<absent>" else json.dumps(value)


def add_arguments(parser):
    parser.add_argument("a", metavar="A", help="model name, config file or preset directory")
    parser.add_argument("b", metavar="B", help="model name, config file or preset directory")
    add_json_argument(parser)


def run(args):
    from dlzoo import inspection  # lazy: keeps the CLI free of Keras

    result = inspection.diff(args.a, args.b)
    if args.json:
        print_json(result)
        return 0
    print(f"--- {result['a']}")
    print(f"+++ {result['b']}")
    if result["model"]:
        print(f"model: {result['model'][0]} -> {result['model'][1]}")
    for key, (va, vb) in result["params"].items():
        print(f"  {key}: {_show(va)} -> {_show(vb)}")
    for kind in ("blocks", "extensions"):
        only_a, only_b = result[kind]["only_in_a"], result[kind]["only_in_b"]
        parts = [f"-{x}" for x in only_a] + [f"+{x}" for x in only_b]
        if parts:
            print(f"{kind}: {', '.join(parts)}")
    pc = result["param_count"]
    print(f"parameters: {pc['a']:,} -> {pc['b']:,} ({pc['delta']:+,})")
    if not result["params"] and not result["model"]:
        print("params: identical")
    return 0
