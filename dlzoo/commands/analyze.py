"""`dlzoo analyze NAME [key=value ...]`: per-block parameters, FLOPs, activation memory and shares."""

import os

from dlzoo.cli import UsageError
from dlzoo.commands._common import add_model_arguments, parse_extensions, parse_overrides

FORMATS = ("table", "markdown", "html")


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=1, help="batch size (1)")
    parser.add_argument("--sequence-length", type=int, default=None, help="sequence length (the model's maximum)")
    parser.add_argument(
        "--image-size", default=None, help="image size of an image model: N or HxW (the model's own)"
    )
    parser.add_argument("--dtype", default="float32", help="dtype policy for the activation bytes (float32)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="table (terminal), markdown or html; defaults to the --out suffix, else table")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="write the report there (a Markdown report writes its chart next to it as FILE_STEM.png)")


def _image_size(text):
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"--image-size must be N or HxW. Received: --image-size={text!r}.")
    sizes = [int(p) for p in parts]
    return sizes[0] if len(sizes) == 1 else tuple(sizes)


def _format_of(args):
    if args.format:
        return args.format
    suffix = os.path.splitext(args.out or "")[1].lower()
    return {".md": "markdown", ".html": "html", ".htm": "html"}.get(suffix, "table")


def run(args):
    from dlzoo import analysis  # lazy: keeps the CLI free of Keras

    report = analysis.analyze(
        args.name,
        extensions=parse_extensions(args.extensions),
        batch_size=args.batch_size,
        sequence_length=args.sequence_length,
        image_size=_image_size(args.image_size),
        dtype=args.dtype,
        **parse_overrides(args.overrides),
    )
    kind = _format_of(args)
    if kind == "table":
        text = analysis.format_table(report) + "\n"
    elif kind == "html":
        text = analysis.to_html(report)
    else:
        chart = None
        if args.out:
            chart = os.path.splitext(args.out)[0] + ".png"
            with open(chart, "wb") as f:
                f.write(analysis.bar_chart_png(report))
        text = analysis.to_markdown(report, chart_file=None if chart is None else os.path.basename(chart))
    if args.out is None:
        print(text, end="")
        return 0
    directory = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(directory, exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(analysis.format_table(report))
    print(f"\nwrote {args.out}" + (f" and {chart}" if kind == "markdown" and chart else ""))
    return 0
