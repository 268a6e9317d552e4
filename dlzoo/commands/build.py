"""`dlzoo build NAME [key=value ...] --save out.keras`: build a model and save it."""

from dlzoo.cli import UsageError
from dlzoo.commands._common import add_model_arguments, human, parse_extensions, parse_overrides


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument("--save", metavar="PATH", default=None, help="save the model as a .keras file")
    parser.add_argument("--preset", metavar="DIR", default=None, help="save as a preset directory (config.json + weights)")
    parser.add_argument("--summary", action="store_true", help="print the Keras model summary")
    parser.add_argument(
        "--no-memory-check", action="store_true",
        help="build even when the weights look too large for the available memory",
    )


def run(args):
    if args.save is not None and not args.save.endswith(".keras"):
        raise UsageError(f"--save needs a path ending in .keras. Received: --save {args.save!r}.")
    params = parse_overrides(args.overrides)
    extensions = parse_extensions(args.extensions)
    from dlzoo import builder  # lazy: keeps the CLI free of Keras

    model = builder.build(args.name, extensions=extensions, check_memory=not args.no_memory_check, **params)
    if args.summary:
        model.summary()
    count = model.count_params()
    print(f"built {model.zoo_name} ({model.zoo_config['model']}): {count:,} parameters ({human(count)})")
    if args.save:
        model.save(args.save)
        print(f"saved {args.save}")
    if args.preset:
        model.save_to_preset(args.preset)
        print(f"saved preset {args.preset}")
    return 0
