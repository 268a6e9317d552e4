"""`dlzoo convert SRC DST`: a Hugging Face checkpoint to a dlzoo model file, or a dlzoo model to a checkpoint.

The direction follows SRC: a Hugging Face checkpoint directory (config.json +
safetensors) becomes a `.keras` file (DST ending in `.keras`) or a dlzoo
preset directory; anything else `dlzoo.build` takes (a `.keras` file, a preset
directory, a zoo name) becomes a Hugging Face checkpoint directory. `--to`
chooses explicitly (`--to hf` also re-writes a checkpoint: re-sharded, or in
bfloat16 with `--dtype bfloat16`).
"""

from dlzoo.cli import UsageError
from dlzoo.commands._common import human, parse_overrides

TARGETS = ("hf", "keras", "preset")


def add_arguments(parser):
    parser.add_argument("source", metavar="SRC", help="a Hugging Face checkpoint directory, a .keras file, a preset "
                                                      "directory or a zoo model name")
    parser.add_argument("destination", metavar="DST", help="the file or directory to write")
    parser.add_argument("overrides", metavar="KEY=VALUE", nargs="*",
                        help="parameter overrides that keep the weights' shapes (dropout=0.0, use_position_ids=true)")
    parser.add_argument("--to", choices=TARGETS, default=None,
                        help="what to write (default: keras/preset from a checkpoint, hf from anything else)")
    parser.add_argument("--dtype", default=None, help="Keras dtype policy of the weights (e.g. bfloat16)")
    parser.add_argument("--model-type", default=None, help="Hugging Face model_type to write (llama, mistral, qwen2, "
                                                           "qwen3 for the llama family)")
    parser.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard (default 5GB)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty destination directory")


def _target(args, from_checkpoint):
    if args.to is not None:
        return args.to
    if not from_checkpoint:
        return "hf"
    return "keras" if args.destination.endswith(".keras") else "preset"


def run(args):
    from dlzoo import builder, checkpoints  # lazy: keeps the CLI free of Keras

    params = parse_overrides(args.overrides)
    target = _target(args, checkpoints.is_checkpoint_dir(args.source))
    if target == "keras" and not args.destination.endswith(".keras"):
        raise UsageError(f"--to keras needs a DST ending in .keras. Received: {args.destination!r}.")
    if args.source.endswith(".keras"):
        if params or args.dtype:
            raise UsageError("A .keras file is loaded as saved: overrides and --dtype do not apply to it.")
        model = builder.load(args.source)
    else:
        model = builder.from_pretrained(args.source, dtype=args.dtype, **params)
    count = model.count_params()
    if target == "hf":
        written = model.save_pretrained(args.destination, max_shard_size=args.max_shard_size,
                                        model_type=args.model_type, overwrite=args.overwrite)
        kind = "Hugging Face checkpoint"
    elif target == "keras":
        model.save(args.destination)
        written, kind = args.destination, ".keras file"
    else:
        written, kind = model.save_to_preset(args.destination), "preset directory"
    print(f"converted {args.source} ({model.zoo_config['model']}, {count:,} parameters, {human(count)}) "
          f"-> {kind} {written}")
    return 0
