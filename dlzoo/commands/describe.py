"""`dlzoo describe NAME [key=value ...]`: resolved config, blocks and papers, size, memory."""

import json

from dlzoo.commands._common import (
    add_json_argument,
    add_model_arguments,
    human,
    human_bytes,
    parse_extensions,
    parse_overrides,
    print_json,
)


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument("--dtype", default="float32", help="dtype policy for the memory estimate (float32)")
    parser.add_argument("--optimizer", default="adamw", help="optimizer for the memory estimate (adamw; 'none' = inference)")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size for the memory estimate (1)")
    parser.add_argument("--sequence-length", type=int, default=None, help="sequence length (the model's maximum)")
    add_json_argument(parser)


def run(args):
    from dlzoo import configs  # lazy: keeps the CLI fast (yaml)
    from dlzoo import inspection  # lazy: keeps the CLI free of Keras

    params = parse_overrides(args.overrides)
    extensions = parse_extensions(args.extensions)
    info = inspection.describe(args.name, extensions=extensions, **params)
    info["memory"] = inspection.estimate_memory(
        info["config"],
        dtype=args.dtype,
        optimizer=None if args.optimizer.lower() == "none" else args.optimizer,
        batch_size=args.batch_size,
        sequence_length=args.sequence_length,
    )
    if args.json:
        print_json(info)
        return 0
    print(f"{info['name']}  (family: {info['model']}; {info['model_paper'] or 'no paper'})")
    if info.get("description"):
        print(f"  {info['description']}")
    if info.get("reference"):
        print(f"  reference: {info['reference']}")
    print(f"parameters: {info['param_count']:,} ({human(info['param_count'])})")
    print("params:")
    for key, value in configs.flatten(info["params"]).items():
        print(f"  {key} = {json.dumps(value)}")
    print("extensions: " + (", ".join(e["name"] for e in info["extensions"]) or "none"))
    if info.get("block_params"):
        print("plan (block: parameters):")
        for name, count in info["block_params"].items():
            print(f"  {name:<28} {count:,}")
    print("blocks used:")
    for block in info["blocks"]:
        print(f"  {block['name']:<28} {block['paper'] or ''}")
    mem = info["memory"]
    print(
        f"memory ({mem['dtype']}, optimizer={mem['optimizer']}, batch={mem['batch_size']}, "
        f"seq={mem['sequence_length']}):"
    )
    for key, value in mem["bytes"].items():
        print(f"  {key:<16} {human_bytes(value)}")
    return 0
