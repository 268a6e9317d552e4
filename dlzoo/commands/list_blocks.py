"""`dlzoo blocks [PATTERN]`: the registered blocks with their role and paper."""

from dlzoo import registry
from dlzoo.commands._common import add_json_argument, print_json


def add_arguments(parser):
    parser.add_argument("pattern", nargs="?", default=None, help="wildcard (*attention*) or substring filter")
    add_json_argument(parser)


def run(args):
    from dlzoo import catalog  # lazy: keeps the CLI free of Keras (it registers the built-in and plugin blocks)

    entries = [registry.BLOCKS.get(n) for n in catalog.list_blocks(args.pattern)]
    rows = [{"name": e.name, "category": e.category, "paper": e.paper,
             "class": f"{e.obj.__module__}.{e.obj.__name__}"} for e in entries]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no blocks match" + (f" {args.pattern!r}" if args.pattern else ""))
        return 0
    width = max(len(r["name"]) for r in rows)
    cwidth = max(len(r["category"] or "") for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['category'] or '':<{cwidth}}  {r['paper'] or ''}")
    return 0
