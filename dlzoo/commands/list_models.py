"""`dlzoo list [PATTERN]`: the named models, with assembler, size and description."""

from dlzoo.commands._common import add_json_argument, human, print_json


def add_arguments(parser):
    parser.add_argument("pattern", nargs="?", default=None, help="wildcard (llama-*) or substring filter")
    parser.add_argument("--names", action="store_true", help="print only the names, one per line")
    add_json_argument(parser)


def run(args):
    import dlzoo
    from dlzoo import builder

    names = dlzoo.list_models(args.pattern)
    if args.names:
        for name in names:
            print(name)
        return 0
    rows = []
    for name in names:
        try:
            config = builder.resolve(name)
            count = builder.count_params(config)
            rows.append({"name": name, "model": config["model"], "parameters": count,
                         "description": config.get("description") or ""})
        except (ValueError, TypeError) as exc:
            rows.append({"name": name, "model": "?", "parameters": None, "description": f"(invalid: {exc})"})
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no models match" + (f" {args.pattern!r}" if args.pattern else ""))
        return 0
    width = max(len(r["name"]) for r in rows)
    mwidth = max(len(r["model"]) for r in rows)
    for r in rows:
        size = human(r["parameters"]) if r["parameters"] is not None else "?"
        print(f"{r['name']:<{width}}  {r['model']:<{mwidth}}  {size:>8}  {r['description']}")
    return 0
