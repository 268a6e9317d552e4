"""Structured pruning on scikit-learn's 8x8 digits: a small ViT trained, pruned to half its heads and a quarter of
its feed-forward channels (magnitude and Taylor scores), then fine-tuned for a few epochs.

    KERAS_BACKEND=jax python guides/examples/prune_digits.py

guides/pruning.md gives the numbers of one run.
"""

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import dlzoo

SEED, EPOCHS, FINE_TUNE_EPOCHS = 0, 20, 3
HEADS, CHANNELS = 2, 32  # of 4 heads and 128 channels per layer


def data():
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]  # (n, 8, 8, 1) in 0..1
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, stratify=digits.target,
                                                        random_state=SEED)
    return x_train, y_train.astype("int32"), x_test, y_test.astype("int32")


def compile_(model, learning_rate):
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def main():
    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_test, y_test = data()
    model = dlzoo.build("vit-test-tiny", image_shape=[8, 8, 1], patch_size=2, hidden_dim=64, num_layers=2,
                        attention={"num_heads": 4}, feedforward={"intermediate_dim": 128}, num_classes=10)
    compile_(model, 3e-3).fit(x_train, y_train, epochs=EPOCHS, batch_size=64, verbose=0)
    rows = [("trained ViT (4 heads, 128 channels)", model.count_params(), model.evaluate(x_test, y_test, verbose=0)[1], None)]
    calibration = (x_train[:256], y_train[:256])
    for score in ("magnitude", "taylor"):
        pruned = dlzoo.prune(model, heads=HEADS, feedforward=CHANNELS, score=score, calibration=calibration)
        assert pruned.count_params() == dlzoo.count_params(pruned.zoo_config)
        before = compile_(pruned, 1e-3).evaluate(x_test, y_test, verbose=0)[1]
        pruned.fit(x_train, y_train, epochs=FINE_TUNE_EPOCHS, batch_size=64, verbose=0)
        after = pruned.evaluate(x_test, y_test, verbose=0)[1]
        rows.append((f"pruned, {score} ({HEADS} heads, {CHANNELS} channels)", pruned.count_params(), before, after))
    print(f"| model | parameters | test accuracy | after {FINE_TUNE_EPOCHS} fine-tune epochs |")
    print("|---|---:|---:|---:|")
    for name, params, accuracy, tuned in rows:
        print(f"| {name} | {params:,} | {accuracy:.4f} | {'—' if tuned is None else f'{tuned:.4f}'} |")


if __name__ == "__main__":
    main()
