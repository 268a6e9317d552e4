"""`dlzoo build NAME [key=value ...] --save out.keras`: build a model and save it."""

from dlzoo.commands._common import add_model_arguments, human, parse_extensions, parse_overrides


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument("--save", metavar="PATH", default=None, help="save the model as a .keras file")
    parser.add_argument("--preset", metavar="DIR", default=None, help="save as a preset directory (config.json + weights)")
    parser.add_argument("--summary", action="store_true", help="print the Keras model summary")


def run(args):
    from dlzoo.cli import UsageError

    if args.save is not None and not args.save.endswith(".keras"):
        raise UsageError(f"--save needs a path ending in .keras. Received: --save {args.save!r}.")
    params = parse_overrides(args.overrides)
    extensions = parse_extensions(args.extensions)
    from dlzoo import builder

    model = builder.build(args.name, extensions=extensions, **params)
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
