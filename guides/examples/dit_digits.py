"""Class-conditional DiT on scikit-learn's digits: train -> save -> sample -> evaluate.

    python guides/examples/dit_digits.py --out runs/dit_digits            # the run in guides/diffusion.md
    python guides/examples/dit_digits.py --epochs 2 --per-class 4 --steps 5   # a smoke run

1. Data: the 1,797 8x8 digits of `sklearn.datasets.load_digits`, upscaled to 16x16 (each pixel repeated
   2x2), scaled from [0, 16] to [-1, 1]; a stratified 80/20 split (the DiT and the classifier learn from the
   same 80%; the classifier is scored on the other 20%).
2. Train `dit-tiny` (16x16x1, 4x4 patches, 10 classes, label dropout 0.1 to the null class) with the DDPM
   objective: epsilon prediction, MSE, batches noised by `dlzoo.dit.NoisedImages` from the shared
   `DDIMScheduler` (T = 1000, DiT's linear schedule; `--schedule squaredcos_cap_v2` for the cosine one); AdamW
   with warm-up and cosine decay; EMA weights for sampling, as DiT.
3. Save `model.keras` and `scheduler.json`, load the model back, and sample `--per-class` images of every
   class with the DDIM sampler (`--steps`, `--eta`; x0 clipped to [-1, 1]) and classifier-free guidance
   (`--guidance`); write `grid.png` (one row per class, 10 images each) and `grid_all.png` (every sample).
4. Evaluate: a logistic regression trained on the real 16x16 training digits (it must reach >= 0.95 on the
   real test digits) labels every generated image; the fraction labelled as the class asked for is the
   conditional accuracy, per class and overall. `summary.json` holds every number.
"""

import argparse
import json
import os
import time

import numpy as np

import keras

import dlzoo
import dlzoo.dit


def load_digits_16(seed=0):
    """`(x_train, x_test, y_train, y_test)`: 16x16x1 digits in [-1, 1], stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.repeat(np.repeat(digits.images, 2, axis=1), 2, axis=2)[..., None]
    images = (images / 16.0 * 2.0 - 1.0).astype("float32")
    return train_test_split(images, digits.target.astype("int32"), test_size=0.2, stratify=digits.target,
                            random_state=seed)


def train_classifier(x_train, y_train, x_test, y_test):
    """Logistic regression on the flattened real digits; returns `(classifier, test accuracy)`."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=5000, C=0.1)
    classifier.fit(x_train.reshape(len(x_train), -1), y_train)
    return classifier, float(classifier.score(x_test.reshape(len(x_test), -1), y_test))


def train_dit(x_train, y_train, scheduler, epochs, batch_size, learning_rate, seed, time_budget, ema_momentum,
              **model_params):
    keras.utils.set_random_seed(seed)
    model = dlzoo.build("dit-tiny", seed=seed, **model_params)
    data = dlzoo.dit.NoisedImages(x_train, y_train, scheduler=scheduler, batch_size=batch_size, seed=seed)
    steps = epochs * len(data)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(steps - steps // 20, 1), warmup_target=learning_rate, warmup_steps=steps // 20,
        alpha=0.1,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(
            schedule, weight_decay=0.0, use_ema=ema_momentum > 0, ema_momentum=ema_momentum or 0.99
        ),
        loss="mse",
    )
    callbacks = [TimeBudget(time_budget)] if time_budget else []
    start = time.perf_counter()
    history = model.fit(data, epochs=epochs, verbose=2, callbacks=callbacks)
    return model, history.history["loss"], time.perf_counter() - start


class TimeBudget(keras.callbacks.Callback):
    """Stop training after the epoch that passes `seconds`."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def evaluate(classifier, images, labels):
    """Per-class and overall fraction of generated images labelled as the class asked for."""
    predicted = classifier.predict(images.reshape(len(images), -1))
    per_class = {int(c): float(np.mean(predicted[labels == c] == c)) for c in np.unique(labels)}
    return per_class, float(np.mean(predicted == labels))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="dit_digits_run", help="output directory")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak of the warm-up + cosine decay")
    parser.add_argument("--ema", type=float, default=0.995, help="EMA momentum of the sampling weights (0: off)")
    parser.add_argument("--schedule", default="linear", choices=["linear", "squaredcos_cap_v2"],
                        help="noise schedule (T = 1000): DiT's linear one (default) or the cosine one")
    parser.add_argument("--time-budget", type=float, default=0.0, help="seconds; stop after the epoch past it (0: off)")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--eta", type=float, default=1.0, help="DDIM eta (0: deterministic, 1: ancestral)")
    parser.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N training digits only (0: all)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    began, began_cpu = time.perf_counter(), time.process_time()

    x_train, x_test, y_train, y_test = load_digits_16(args.seed)
    classifier, classifier_accuracy = train_classifier(x_train, y_train, x_test, y_test)
    print(f"classifier (logistic regression) accuracy on {len(x_test)} real test digits: {classifier_accuracy:.4f}")

    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    scheduler = dlzoo.dit.dit_scheduler(beta_schedule=args.schedule)
    train_cpu = time.process_time()
    model, losses, train_seconds = train_dit(
        x_train, y_train, scheduler, args.epochs, args.batch_size, args.learning_rate, args.seed, args.time_budget,
        args.ema,
    )
    train_cpu = time.process_time() - train_cpu
    path = os.path.join(args.out, "model.keras")
    model.save(path)
    with open(os.path.join(args.out, "scheduler.json"), "w") as f:
        f.write(scheduler.to_json())  # what `dlzoo sample --scheduler` reads
    model = dlzoo.load(path)

    start = time.perf_counter()
    sampler = dlzoo.dit.dit_scheduler(beta_schedule=args.schedule, clip_sample=True)  # pixels live in [-1, 1]
    images, _ = dlzoo.dit.sample_grid(
        model, range(10), per_class=args.per_class, out=os.path.join(args.out, "grid_all.png"), scale=2,
        scheduler=sampler, num_inference_steps=args.steps, eta=args.eta, guidance_scale=args.guidance, seed=args.seed,
    )
    sample_seconds = time.perf_counter() - start
    labels = np.repeat(np.arange(10, dtype="int32"), args.per_class)
    columns = min(args.per_class, 10)
    shown = images.reshape(10, args.per_class, *images.shape[1:])[:, :columns].reshape(-1, *images.shape[1:])
    dlzoo.dit.write_png(os.path.join(args.out, "grid.png"), dlzoo.dit.image_grid(shown, rows=10), scale=4)
    per_class, overall = evaluate(classifier, images, labels)

    summary = {
        "backend": keras.backend.backend(),
        "parameters": model.count_params(),
        "schedule": args.schedule,
        "epochs": len(losses),
        "optimizer_steps": len(losses) * -(-len(x_train) // args.batch_size),
        "final_loss": round(losses[-1], 5),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "sample_seconds": round(sample_seconds, 1),
        "total_seconds": round(time.perf_counter() - began, 1),
        "total_cpu_seconds": round(time.process_time() - began_cpu, 1),
        "steps": args.steps,
        "eta": args.eta,
        "guidance": args.guidance,
        "per_class_samples": args.per_class,
        "classifier_accuracy": round(classifier_accuracy, 4),
        "conditional_accuracy": round(overall, 4),
        "conditional_accuracy_per_class": {c: round(a, 2) for c, a in per_class.items()},
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"trained {len(losses)} epochs in {train_seconds:.0f} s ({train_cpu:.0f} CPU s; final loss {losses[-1]:.4f}); "
          f"sampled {len(images)} images in {sample_seconds:.0f} s")
    print("conditional accuracy per class: " + ", ".join(f"{c}: {a:.2f}" for c, a in per_class.items()))
    print(f"conditional accuracy overall: {overall:.4f}")
    return summary


if __name__ == "__main__":
    main()
