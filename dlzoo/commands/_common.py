"""Helpers shared by the model sub-commands: overrides, extensions, output."""

import json

from dlzoo.cli import UsageError


def add_model_arguments(parser, overrides=True):
    """NAME, key=value overrides and -e/--extension options."""
    parser.add_argument("name", metavar="NAME", help="zoo model name, config file (.yaml/.json) or preset directory")
    if overrides:
        parser.add_argument(
            "overrides",
            metavar="KEY=VALUE",
            nargs="*",
            help="parameter overrides; dotted keys reach nested params (attention.num_key_value_heads=2)",
        )
    parser.add_argument(
        "-e",
        "--extension",
        dest="extensions",
        action="append",
        default=[],
        metavar="EXT[:k=v,...]",
        help="apply an extension (repeatable), e.g. -e lora:rank=8,alpha=16",
    )


def add_json_argument(parser):
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def parse_overrides(items):
    from dlzoo import configs  # lazy: keeps the CLI fast (yaml)

    try:
        return configs.parse_overrides(items or [])
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_extensions(items):
    """`["lora:rank=8,alpha=16", "freeze"]` -> `[{"name": "lora", "rank": 8, "alpha": 16}, "freeze"]`."""
    from dlzoo import configs  # lazy: keeps the CLI fast (yaml)

    result = []
    for item in items or []:
        name, _, rest = item.partition(":")
        name = name.strip()
        if not name:
            raise UsageError(f"An extension needs a name: -e NAME[:k=v,...]. Received: {item!r}.")
        kwargs = configs.parse_overrides([p for p in rest.split(",") if p.strip()]) if rest else {}
        result.append(dict({"name": name}, **kwargs) if kwargs else name)
    return result


def print_json(data):
    print(json.dumps(data, indent=2, default=str))


def human(n):
    """1234567 -> '1.23M'."""
    n = float(n)
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{int(n)}"


def human_bytes(n):
    if n is None:
        return "n/a"
    n = float(n)
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"
