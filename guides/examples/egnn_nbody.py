"""EGNN against a non-equivariant MLP on a small charged-particle simulation (run by hand; numbers in guides/graphs.md).

The task, a simplified version of the paper's n-body experiment (Satorras et al., 2021, section 5.1): five
particles with charges +-1 start at rest at random positions and move under softened Coulomb forces
(`F_i = sum_j q_i q_j (x_i - x_j) / (|x_i - x_j|^2 + 0.1)^1.5`, leapfrog, 1000 steps of 0.001); predict every
particle's position at the end from the start positions and the charges. Starting at rest keeps the input to
positions and charges (the paper also feeds the initial velocities, which needs its velocity variant of the
layer). The whole physics is E(3)-equivariant, so an equivariant model should need less data.

* EGNN: `dlzoo.build("egnn", task="node", ...)`; node features = the charge, every ordered pair of particles is an
  edge, the prediction is the `coordinates` output.
* MLP: the 5 x (3 + 1) positions and charges flattened, two hidden layers of 256 (SiLU), the 15 displacements
  out (added to the start positions).
* The same MLP trained on simulations rotated (with or without a reflection) and translated anew every epoch:
  the usual way to teach a non-equivariant model the symmetry.
* Trivial baseline: nobody moves.

Both models are trained with Adam and MSE on the same 1000 simulations, and tested on 1000 others and on the
same 1000 each rotated (with a reflection) and translated at random.

    KERAS_BACKEND=jax .venv/bin/python guides/examples/egnn_nbody.py [--train 1000] [--epochs 200]
"""

import argparse
import time

import keras
import numpy as np

import dlzoo
from dlzoo.graphs import GraphBatches
from dlzoo.testing.geometry import random_orthogonal_matrix

PARTICLES = 5
EDGES = np.array([[j, i] for i in range(PARTICLES) for j in range(PARTICLES) if i != j], "int32")
MODEL_INPUTS = ("node_features", "coordinates", "edge_index")


def simulate(count, rng, steps=1000, dt=0.001, softening=0.1):
    """Start and end positions `(count, PARTICLES, 3)` and charges `(count, PARTICLES)` of `count` simulations."""
    start = rng.standard_normal((count, PARTICLES, 3))
    charges = rng.choice([-1.0, 1.0], size=(count, PARTICLES))
    pair_charges = charges[:, :, None] * charges[:, None, :]

    def accelerations(x):
        diff = x[:, :, None, :] - x[:, None, :, :]  # x_i - x_j: (count, i, j, 3)
        inverse = (np.sum(diff**2, -1) + softening) ** -1.5
        return np.sum((pair_charges * inverse)[..., None] * diff, axis=2)

    x, v = start.copy(), np.zeros_like(start)
    a = accelerations(x)
    for _ in range(steps):  # leapfrog (velocity Verlet)
        v += 0.5 * dt * a
        x += dt * v
        a = accelerations(x)
        v += 0.5 * dt * a
    return start, x, charges


def graphs(start, end, charges):
    return [
        {"node_features": q[:, None], "coordinates": s, "edge_index": EDGES, "node_labels": e}
        for s, e, q in zip(start, end, charges)
    ]


class NodeBatches(keras.utils.PyDataset):
    """`dlzoo.graphs.GraphBatches` with only the node-task inputs (no graph ids)."""

    def __init__(self, items, batch_size, shuffle):
        super().__init__()
        self.batches = GraphBatches(items, batch_size=batch_size, shuffle=shuffle, seed=0)

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        inputs, labels = self.batches[index]
        return {k: inputs[k] for k in MODEL_INPUTS}, labels

    def on_epoch_end(self):
        self.batches.on_epoch_end()


def egnn_model(hidden_dim, num_layers):
    model = dlzoo.build(
        "egnn", task="node", node_feature_dim=1, hidden_dim=hidden_dim, num_layers=num_layers,
        egnn={"update_coordinates": True, "coordinate_aggregation": "mean"},
    )
    inputs = {name: model.input[name] for name in MODEL_INPUTS}
    return keras.Model(inputs, model(inputs)["coordinates"], name="egnn_positions")


def mlp_model(width=256):
    flat = keras.Input((PARTICLES * 4,), name="positions_and_charges")
    h = keras.layers.Dense(width, activation="silu")(flat)
    h = keras.layers.Dense(width, activation="silu")(h)
    displacement = keras.layers.Dense(PARTICLES * 3)(h)
    start = keras.layers.Lambda(lambda t: t[:, : PARTICLES * 3])(flat)
    return keras.Model(flat, keras.layers.Add()([start, displacement]), name="mlp")


class RotatedMLPBatches(keras.utils.PyDataset):
    """MLP training batches, each simulation rotated (with or without a reflection) and translated anew every epoch."""

    def __init__(self, start, end, charges, batch_size):
        super().__init__()
        self.start, self.end, self.charges, self.batch_size = start, end, charges, batch_size
        self.epoch = 0

    def __len__(self):
        return int(np.ceil(len(self.start) / self.batch_size))

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        rng = np.random.default_rng([self.epoch, index])
        start, end = self.start[rows], self.end[rows]
        qs = np.stack([random_orthogonal_matrix(3, rng, reflection=bool(rng.integers(2))) for _ in range(len(start))])
        ts = rng.standard_normal((len(start), 1, 3))
        start, end = np.einsum("bnc,bcd->bnd", start, qs) + ts, np.einsum("bnc,bcd->bnd", end, qs) + ts
        return mlp_inputs(start, self.charges[rows]), end.reshape(len(end), -1).astype("float32")

    def on_epoch_end(self):
        self.epoch += 1


def mlp_inputs(start, charges):
    return np.concatenate([start.reshape(len(start), -1), charges], axis=1).astype("float32")


def mse(prediction, target):
    return float(np.mean((np.asarray(prediction, "float64") - target) ** 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train = simulate(args.train, rng)
    test = simulate(args.test, rng)
    # The test set again, each simulation rotated (with a reflection) and translated: same physics, new frame.
    qs = np.stack([random_orthogonal_matrix(3, rng, reflection=bool(i % 2)) for i in range(args.test)])
    ts = rng.standard_normal((args.test, 1, 3))
    moved = (np.einsum("bnc,bcd->bnd", test[0], qs) + ts, np.einsum("bnc,bcd->bnd", test[1], qs) + ts, test[2])

    results = {"trivial (nobody moves)": {"test": mse(test[0], test[1]), "moved": mse(moved[0], moved[1])}}
    print(f"train {args.train}, test {args.test} simulations; mean displacement "
          f"{np.mean(np.linalg.norm(train[1] - train[0], axis=-1)):.3f}")

    egnn = egnn_model(args.hidden_dim, args.num_layers)
    egnn.compile(optimizer=keras.optimizers.Adam(5e-4), loss="mse")
    begin = time.perf_counter()
    egnn.fit(NodeBatches(graphs(*train), args.batch_size, shuffle=True), epochs=args.epochs, verbose=0)
    egnn_seconds = time.perf_counter() - begin
    results["EGNN"] = {
        split: mse(egnn.predict(NodeBatches(graphs(*data), args.batch_size, shuffle=False), verbose=0),
                   data[1].reshape(-1, 3))
        for split, data in (("test", test), ("moved", moved))
    }
    results["EGNN"]["parameters"] = egnn.count_params()
    results["EGNN"]["seconds"] = egnn_seconds

    mlp = mlp_model()
    mlp.compile(optimizer=keras.optimizers.Adam(5e-4), loss="mse")
    begin = time.perf_counter()
    mlp.fit(mlp_inputs(train[0], train[2]), train[1].reshape(len(train[1]), -1).astype("float32"),
            batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    mlp_seconds = time.perf_counter() - begin
    results["MLP"] = {
        split: mse(mlp.predict(mlp_inputs(data[0], data[2]), verbose=0), data[1].reshape(len(data[1]), -1))
        for split, data in (("test", test), ("moved", moved))
    }
    results["MLP"]["parameters"] = mlp.count_params()
    results["MLP"]["seconds"] = mlp_seconds

    mlp = mlp_model()
    mlp.compile(optimizer=keras.optimizers.Adam(5e-4), loss="mse")
    begin = time.perf_counter()
    mlp.fit(RotatedMLPBatches(*train, args.batch_size), epochs=args.epochs, verbose=0)
    mlp_seconds = time.perf_counter() - begin
    results["MLP + rotation augmentation"] = {
        split: mse(mlp.predict(mlp_inputs(data[0], data[2]), verbose=0), data[1].reshape(len(data[1]), -1))
        for split, data in (("test", test), ("moved", moved))
    }
    results["MLP + rotation augmentation"]["parameters"] = mlp.count_params()
    results["MLP + rotation augmentation"]["seconds"] = mlp_seconds

    print(f"backend {keras.backend.backend()}, {args.epochs} epochs")
    print("| model | parameters | test MSE | rotated + translated test MSE | training seconds |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        params = f"{row['parameters']:,}" if "parameters" in row else "-"
        seconds = f"{row['seconds']:.0f}" if "seconds" in row else "-"
        print(f"| {name} | {params} | {row['test']:.4f} | {row['moved']:.4f} | {seconds} |")


if __name__ == "__main__":
    main()
