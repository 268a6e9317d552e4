"""Offline RL on Gymnasium's CartPole-v1 with a Decision Transformer: collect -> train offline -> evaluate online.

    python guides/examples/decision_transformer_cartpole.py --out runs/dt_cartpole    # the run in guides/decisions.md
    python guides/examples/decision_transformer_cartpole.py --episodes 4 --segments 64 --epochs 1 \\
        --eval-episodes 2 --max-steps 5 --model decision-transformer-tiny                    # a smoke run

1. Data: `--episodes` episodes of each behaviour policy (`dlzoo.decisions`): `random_policy` (a fair coin)
   and `NoisyBalancer(epsilon)` (push towards where the pole is falling, a random push with probability
   `epsilon`); episode `i` of a policy is reset with seed `seed + i` (the balancer's episodes with
   `seed + 10_000 + i`). The mean return of each policy and of the whole data set is reported.
2. Train `--model` (default `decision-transformer-cartpole`: 2 layers, width 64, one head,
   context K=10, discrete actions) offline on `--segments` random K-step windows (`sample_segments`):
   cross-entropy of the action predicted at each state token against the action taken, padded steps
   weighted 0; returns-to-go divided by `--return-scale`; AdamW, a linear warm-up then a constant
   learning rate as in the paper (1e-3: 10x the paper's, for a run of under 1,000 steps).
3. Evaluate online: `--eval-episodes` episodes (reset seeds 100_000 + i, never seen in the data) for each
   target return (`--targets`; `best` = the data set's best return), the model acting greedily on its
   action logits; report mean +- std against the data set's mean return and the random policy's.
   `summary.json` in `--out` holds every number.
"""

import argparse
import json
import os
import time

import numpy as np

import keras

import dlzoo
from dlzoo.decisions import (
    ActionSpace,
    NoisyBalancer,
    collect_episodes,
    evaluate_conditioned,
    random_policy,
    returns_summary,
    sample_segments,
)

EVALUATION_SEED = 100_000


def make_cartpole():
    import gymnasium

    return gymnasium.make("CartPole-v1")


def collect_data(episodes, epsilon, seed, max_steps=None):
    """The offline data set: `episodes` random episodes and `episodes` noisy-balancer episodes."""
    random_episodes = collect_episodes(make_cartpole, random_policy, episodes, seed=seed, max_steps=max_steps)
    balancer_episodes = collect_episodes(make_cartpole, NoisyBalancer(epsilon), episodes, seed=seed + 10_000,
                                         max_steps=max_steps)
    return random_episodes, balancer_episodes


def train(model, inputs, targets, epochs, batch_size, learning_rate, warmup_steps):
    steps = epochs * int(np.ceil(len(targets) / batch_size))
    # alpha=1: no decay after the warm-up (the paper's schedule).
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(steps - warmup_steps, 1), alpha=1.0, warmup_target=learning_rate,
        warmup_steps=min(warmup_steps, steps),
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4, clipnorm=0.25),
        loss={"action_preds": keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
    )
    weights = {"action_preds": inputs["padding_mask"].astype("float32")}  # padded steps do not count
    history = model.fit(inputs, {"action_preds": targets}, sample_weight=weights, epochs=epochs,
                        batch_size=batch_size, shuffle=True, verbose=2)
    return [float(v) for v in history.history["loss"]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/dt_cartpole")
    parser.add_argument("--model", default="decision-transformer-cartpole")
    parser.add_argument("--episodes", type=int, default=100, help="episodes of each behaviour policy")
    parser.add_argument("--epsilon", type=float, default=0.5, help="random-push probability of the balancer")
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--return-scale", type=float, default=100.0)
    parser.add_argument("--targets", nargs="+", default=["500", "400", "300", "200", "100", "50"],
                        help="target returns; `best` = the data set's best return")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=None, help="cut every episode (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    started = time.time()

    random_episodes, balancer_episodes = collect_data(args.episodes, args.epsilon, args.seed, args.max_steps)
    episodes = random_episodes + balancer_episodes
    data = {"random_policy": returns_summary(random_episodes),
            f"noisy_balancer(epsilon={args.epsilon})": returns_summary(balancer_episodes),
            "data_set": returns_summary(episodes)}
    print(json.dumps(data, indent=1))

    keras.utils.set_random_seed(args.seed)
    model = dlzoo.build(args.model, state_dim=4, action_dim=2, action_space="discrete", use_state_head=False,
                        use_return_head=False)
    space = ActionSpace.of_model(model)
    inputs, targets = sample_segments(episodes, space, args.segments, seed=args.seed, return_scale=args.return_scale)
    losses = train(model, inputs, targets, args.epochs, args.batch_size, args.learning_rate, args.warmup_steps)
    model.save(os.path.join(args.out, "model.keras"))

    seeds = [EVALUATION_SEED + i for i in range(args.eval_episodes)]
    evaluations = {}
    for target in args.targets:
        value = data["data_set"]["max"] if target == "best" else float(target)
        result = evaluate_conditioned(model, make_cartpole, value, seeds, return_scale=args.return_scale,
                                      max_steps=args.max_steps)
        evaluations[target] = {"target_return": value, **result}
        print(f"target {value:g}: return {result['mean']:.1f} +- {result['std']:.1f} over {len(seeds)} episodes")
    summary = {"args": vars(args), "backend": keras.backend.backend(), "data": data, "train_loss": losses,
               "evaluation": evaluations, "parameters": model.count_params(),
               "seconds": round(time.time() - started, 1)}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
