"""Print the zoo: every registered block, named model and extension, with its paper.

Usage: python tools/list_zoo.py [--markdown] [--only blocks|models|extensions] [PATTERN]

Blocks are listed with their category (role) and paper; named models with
their assembler, exact parameter count (`dlzoo.count_params`, computed
without allocating any weight) and paper; extensions with their paper and
the extensions they conflict with. Built-in model families, extensions and
installed plugins are loaded first, so blocks they register are listed too.
`--markdown` prints GitHub tables (for the README and the guides). PATTERN
filters names (`fnmatch` wildcard, or a substring).

Exit code 0, or 1 when a model's parameter count fails (the row says why).
"""

import argparse
import fnmatch
import re
import sys

SECTIONS = ("blocks", "models", "extensions")
_ARXIV_URL = re.compile(r"^https?://arxiv\.org/(?:abs|pdf)/([0-9]{4}\.[0-9]{4,5})(?:v[0-9]+)?(?:\.pdf)?/?$")


def short_paper(paper):
    """`https://arxiv.org/abs/2307.09288` -> `arXiv:2307.09288`; other references unchanged; None -> `-`."""
    if not paper:
        return "-"
    match = _ARXIV_URL.match(str(paper).strip())
    return f"arXiv:{match.group(1)}" if match else str(paper).strip()


def _matches(name, pattern):
    if not pattern:
        return True
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    return fnmatch.fnmatchcase(name, pattern)


def block_rows(pattern=None):
    """`[name, category, paper, class]` for every registered block."""
    from dlzoo.registry import BLOCKS

    rows = []
    for entry in BLOCKS.entries():
        if _matches(entry.name, pattern):
            cls = entry.obj
            rows.append([entry.name, entry.category or "-", short_paper(entry.paper), f"{cls.__module__}.{cls.__name__}"])
    return rows


def model_rows(pattern=None):
    """`[name, assembler, parameters, paper]` for every named model, and whether all counts succeeded."""
    import dlzoo
    from dlzoo import configs
    from dlzoo.registry import MODELS

    rows, ok = [], True
    for name in dlzoo.list_models(pattern):
        assembler, paper = "-", None
        try:
            raw = configs.load_raw(name)  # the config with its `base:` chain merged
            assembler = raw.get("model") or "-"
            paper = raw.get("reference") or raw.get("paper")
            if paper is None and assembler in MODELS:
                paper = MODELS.get(assembler).paper
            count = f"{dlzoo.count_params(name):,}"
        except Exception as exc:  # report the broken model and go on
            ok = False
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            count = f"error: {type(exc).__name__}: {message}"
        rows.append([name, assembler, count, short_paper(paper)])
    return rows, ok


def extension_rows(pattern=None):
    """`[name, paper, conflicts_with]` for every registered extension."""
    import dlzoo
    from dlzoo.registry import EXTENSIONS

    rows = []
    for name in dlzoo.list_extensions(pattern):
        entry = EXTENSIONS.get(name)
        conflicts = ", ".join(entry.metadata.get("conflicts_with", ())) or "-"
        rows.append([name, short_paper(entry.paper), conflicts])
    return rows


def format_table(headers, rows, markdown=False, right=()):
    """Aligned plain text, or a GitHub markdown table; columns in `right` are right-aligned."""
    if markdown:
        align = ["---:" if i in right else "---" for i in range(len(headers))]
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
        for row in rows:
            cells = [f"`{c}`" if i == 0 else str(c).replace("|", "\\|") for i, c in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        out = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pattern", nargs="?", default=None, help="wildcard (llama-*) or substring filter on names")
    parser.add_argument("--markdown", action="store_true", help="print GitHub markdown tables")
    parser.add_argument("--only", choices=SECTIONS, help="print one section only")
    args = parser.parse_args(argv)

    import dlzoo

    dlzoo.list_models()  # loads the built-in families, extensions and plugins (they register blocks too)
    sections = [args.only] if args.only else list(SECTIONS)
    ok = True
    out = []
    for section in sections:
        if section == "blocks":
            rows = block_rows(args.pattern)
            table = format_table(["block", "category", "paper", "class"], rows, args.markdown)
        elif section == "models":
            rows, ok = model_rows(args.pattern)
            table = format_table(["model", "assembler", "parameters", "paper"], rows, args.markdown, right=(2,))
        else:
            rows = extension_rows(args.pattern)
            table = format_table(["extension", "paper", "conflicts with"], rows, args.markdown)
        title = f"{section.capitalize()} ({len(rows)})"
        out.append((f"## {title}" if args.markdown else title) + "\n\n" + table)
    print("\n\n".join(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
