"""`dlzoo describe NAME [key=value ...]`: resolved config, blocks and papers, size, memory, layout map."""

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
    parser.add_argument("--batch-size", type=int, default=None,
                        help="global batch size for the memory estimate (1, or the mesh's data axis)")
    parser.add_argument("--sequence-length", type=int, default=None, help="sequence length (the model's maximum)")
    parser.add_argument("--mesh", default=None, metavar="DATAxMODEL",
                        help="device mesh for the layout map and a per-device memory estimate, e.g. 2x4")
    parser.add_argument("--strategy", default="model", help="distribution strategy: data, model or fsdp-like (model)")
    add_json_argument(parser)


def run(args):
    from dlzoo import configs  # lazy: keeps the CLI fast (yaml)
    from dlzoo import inspection  # lazy: keeps the CLI free of Keras

    params = parse_overrides(args.overrides)
    extensions = parse_extensions(args.extensions)
    info = inspection.describe(args.name, extensions=extensions, **params)
    from dlzoo.distribution import layout_table  # lazy: keras
    from dlzoo.distribution.setup import parse_mesh

    mesh = None if args.mesh is None else parse_mesh(args.mesh)
    info["memory"] = inspection.estimate_memory(
        info["config"],
        dtype=args.dtype,
        optimizer=None if args.optimizer.lower() == "none" else args.optimizer,
        batch_size=args.batch_size if args.batch_size is not None else (1 if mesh is None else mesh[0]),
        sequence_length=args.sequence_length,
        mesh=mesh,
        strategy=args.strategy,
    )
    info["layout"] = {"strategy": args.strategy, "mesh": None if mesh is None else list(mesh),
                      "sharded": layout_table(info["config"], mesh=mesh, strategy=args.strategy)}
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
    print_layout(info["layout"])
    mem = info["memory"]
    where = "" if mesh is None else f", per device on mesh {mesh[0]}x{mesh[1]} ({args.strategy})"
    print(
        f"memory ({mem['dtype']}, optimizer={mem['optimizer']}, batch={mem['batch_size']}, "
        f"seq={mem['sequence_length']}{where}):"
    )
    for key, value in mem["bytes"].items():
        print(f"  {key:<16} {human_bytes(value)}")
    return 0


def print_layout(layout):
    """The layout map: one line per sharded weight pattern (mesh axis of each dimension); the rest replicated."""
    mesh = "any mesh" if layout["mesh"] is None else "mesh {}x{}".format(*layout["mesh"])
    print(f"layout map (strategy={layout['strategy']}, {mesh}; weights not listed are replicated):")
    if not layout["sharded"]:
        print("  (every weight replicated)")
    for row in layout["sharded"]:
        axes = ", ".join("-" if a is None else (a if r is None else f"{a}:{r}") for a, r in zip(row["axes"], row["rule"]))
        print(f"  {row['pattern']}  [{axes}]  ({row['block']}, {row['weights']} weight{'s' if row['weights'] > 1 else ''})")
