"""`dlzoo list [PATTERN]`: the named models with their family, paper and description (from the zoo configs alone)."""

from dlzoo.commands._common import add_json_argument, human, print_json


def add_arguments(parser):
    parser.add_argument("pattern", nargs="?", default=None, help="wildcard (llama-*) or substring filter")
    parser.add_argument("--names", action="store_true", help="print only the names, one per line")
    parser.add_argument(
        "--count", action="store_true", help="add each model's exact parameter count (imports Keras: slower)"
    )
    add_json_argument(parser)


def _row(name):
    from dlzoo import configs  # lazy: keeps the CLI fast (yaml)

    try:
        raw = configs.load_raw(name)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        return {"name": name, "model": "?", "paper": "", "description": f"(invalid: {exc})"}
    paper = raw.get("reference") or raw.get("paper") or ""
    return {"name": name, "model": raw.get("model") or "?", "paper": paper, "description": raw.get("description") or ""}


def run(args):
    from dlzoo import configs, plugins  # lazy: keeps the CLI fast (yaml, importlib.metadata)

    plugins.load_plugins()
    names = configs.list_models(args.pattern)
    if args.names:
        for name in names:
            print(name)
        return 0
    rows = [_row(name) for name in names]
    if args.count:
        from dlzoo import inspection  # lazy: keeps the CLI free of Keras (it imports Keras and the blocks)

        for row in rows:
            try:
                row["parameters"] = inspection.count_params(row["name"])
            except (ValueError, TypeError):
                row["parameters"] = None
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no models match" + (f" {args.pattern!r}" if args.pattern else ""))
        return 0
    width = max(len(r["name"]) for r in rows)
    mwidth = max(len(r["model"]) for r in rows)
    for r in rows:
        size = f"  {human(r['parameters']) if r.get('parameters') is not None else '?':>8}" if args.count else ""
        print(f"{r['name']:<{width}}  {r['model']:<{mwidth}}{size}  {r['description']}  [{r['paper']}]")
    return 0
