"""The `dlzoo` command line: a thin dispatcher over sub-command modules.

Each sub-command lives in its own module, which defines
`add_arguments(parser)` and `run(args) -> int`. Bad input exits with code 2
and a one-line message (the full traceback only with `--debug`).
"""

import argparse
import importlib
import importlib.util
import sys

from dlzoo import __version__

# sub-command -> (module, one-line help)
COMMANDS = {
    "list": ("dlzoo.commands.list_models", "list named models (optionally matching a pattern)"),
    "blocks": ("dlzoo.commands.list_blocks", "list registered blocks"),
    "describe": ("dlzoo.commands.describe", "describe a model: resolved config, blocks, papers, size"),
    "count": ("dlzoo.commands.count", "exact parameter count without allocating weights"),
    "analyze": ("dlzoo.commands.analyze", "per-block parameters, FLOPs and activation memory (table, Markdown, HTML)"),
    "diff": ("dlzoo.commands.diff", "what differs between two models"),
    "build": ("dlzoo.commands.build", "build a model and save it"),
    "quickstart": ("dlzoo.commands.quickstart", "the end-to-end LCM quickstart on a shipped text corpus"),
    "export": ("dlzoo.commands.export", "export a model to SavedModel / ONNX"),
    "convert": ("dlzoo.commands.convert", "convert a Hugging Face checkpoint to a dlzoo model file, or back"),
    "serve": ("dlzoo.commands.serve", "serve a model or an export over HTTP"),
    "run": ("dlzoo.commands.run", "run the experiments of a composition file"),
    "search": ("dlzoo.commands.search", "architecture search under a budget (Optuna; resumable, shared by workers)"),
    "ablate": ("dlzoo.commands.ablate", "train a base and each one-switch variant over seeds: the effect of each switch"),
    "report": ("dlzoo.commands.report", "write a report of a runs directory"),
    "compare": ("dlzoo.commands.compare", "compare runs"),
    "battery": ("dlzoo.commands.battery", "emit bash/SLURM scripts for a battery of runs"),
    "sample": ("dlzoo.commands.sample", "sample a class-conditional grid from a trained DiT"),
    "concepts": ("dlzoo.commands.concepts", "encode a text corpus into sentence embeddings (Parquet), in-process or on Spark"),
}


class UsageError(Exception):
    """Raised by sub-commands for bad input: printed as one line, exit code 2."""


def _available_commands():
    available = {}
    for name, (module, help_text) in COMMANDS.items():
        spec = importlib.util.find_spec(module) if _parent_exists(module) else None
        if spec is not None:
            available[name] = (module, help_text)
    return available


def _parent_exists(module):
    parent = module.rsplit(".", 1)[0]
    try:
        return importlib.util.find_spec(parent) is not None
    except ModuleNotFoundError:
        return False


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def make_parser():
    parser = _Parser(prog="dlzoo", description="dlzoo: a Keras 3 model zoo and composition toolkit.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="store_true", help="print the dlzoo version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in _available_commands().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if args.version:
        print(__version__)
        return 0
    if not args.command:
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except (UsageError, ValueError, TypeError, FileNotFoundError, KeyError, MemoryError) as exc:
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"dlzoo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dlzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
