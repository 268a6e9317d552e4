"""`dlzoo sample MODEL.keras --classes 0 1 2 --per-class N --steps S --guidance G --out grid.png`: a DiT sample grid."""

import json
import os

from dlzoo.cli import UsageError


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL", help="a trained DiT: .keras file or preset directory")
    parser.add_argument("--classes", type=int, nargs="+", required=True, metavar="C", help="classes, one grid row each")
    parser.add_argument("--per-class", type=int, default=8, metavar="N", help="images per class (default 8)")
    parser.add_argument("--steps", type=int, default=50, metavar="S", help="DDIM steps (default 50)")
    parser.add_argument(
        "--guidance", type=float, default=4.0, metavar="G", help="classifier-free guidance scale; 1 = none (default 4)"
    )
    parser.add_argument("--eta", type=float, default=0.0, help="DDIM eta: 0 deterministic, 1 ancestral (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise (default 0)")
    parser.add_argument("--out", default="grid.png", metavar="PNG", help="output PNG (default grid.png)")
    parser.add_argument("--scale", type=int, default=4, help="pixel repetition in the PNG (default 4)")
    parser.add_argument(
        "--scheduler", metavar="JSON", default=None,
        help="the noise schedule the model was trained with (DDIMScheduler JSON); default: DiT's (linear, T=1000)",
    )
    parser.add_argument(
        "--clip-sample", action="store_true", help="clip each step's x0 estimate to [-1, 1] (pixel-space models)"
    )


def run(args):
    if not args.out.endswith(".png"):
        raise UsageError(f"--out needs a path ending in .png. Received: --out {args.out!r}.")
    for name in ("per_class", "steps", "scale"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1. Received: {getattr(args, name)}.")
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"No model at {args.model!r}.")
    scheduler_config = None
    if args.scheduler is not None:
        with open(args.scheduler) as f:  # FileNotFoundError: one line, exit code 2
            try:
                scheduler_config = json.load(f)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--scheduler {args.scheduler!r} is not JSON: {exc}.") from None
    import dlzoo  # lazy: keeps the CLI free of Keras
    from dlzoo.diffusion import DDIMScheduler  # lazy: keeps the CLI fast (numpy)
    from dlzoo.dit import dit_scheduler, sample_grid  # lazy: keeps the CLI free of Keras

    if scheduler_config is None:
        scheduler = dit_scheduler(clip_sample=args.clip_sample)
    else:
        if args.clip_sample:
            scheduler_config["clip_sample"] = True
        scheduler = DDIMScheduler.from_config(scheduler_config)

    model = dlzoo.load(args.model)
    try:
        model.get_layer("class_embedding")
    except ValueError:
        raise UsageError(f"{args.model!r} is not a class-conditional DiT (no 'class_embedding' layer).") from None
    images, grid = sample_grid(
        model,
        args.classes,
        per_class=args.per_class,
        out=args.out,
        scale=args.scale,
        scheduler=scheduler,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        eta=args.eta,
        seed=args.seed,
    )
    print(
        f"wrote {args.out}: {len(args.classes)} rows (classes {' '.join(map(str, args.classes))}) x "
        f"{args.per_class} images, {args.steps} DDIM steps (eta {args.eta:g}), guidance {args.guidance:g}, seed {args.seed}"
    )
    return 0
