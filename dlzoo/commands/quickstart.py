"""`dlzoo quickstart`: the end-to-end Large Concept Model run on a corpus that ships with Python.

    standard-library docstrings --split--> sentences --MiniLM (cached)--> concepts
    --fit EmbeddingNormalizer--> build lcm-base / lcm-two-tower resized for a CPU
    --model.fit (TensorBoard, ModelCheckpoint, EarlyStopping, CSVLogger)-->
    evaluate on held-out documents against "repeat the last concept"
    --generate a continuation--> print it as retrieved sentences --> save model + normalizer
    --export SavedModel + ONNX, each verified in a clean process

Everything lands in `--out` (default `quickstart_out/<model>-<backend>`):
`model.keras`, `normalizer.json`, `bank.json` + `bank.npy` (the sentence bank
for decoding), `best.weights.h5`, `history.csv`, `tensorboard/`, `export/`
(`saved_model/`, `model.onnx`, `manifest.json`), `summary.json`. The directory
is servable: `dlzoo serve DIR/export` (tensors) or `dlzoo serve DIR/model.keras
--text-pipeline dlzoo.lcm.pipeline:LCMPipeline.from_directory` (text).
"""

import argparse
import importlib.util
import json
import os
import sys
import time

import dlzoo

BACKENDS = ("tensorflow", "torch", "jax")
MODELS = ("lcm-base", "lcm-two-tower")
REEXEC_FLAG = "DLZOO_QUICKSTART_REEXEC"

# CPU-sized overrides of the reference 1.6B configurations (same structure: RoPE,
# RMSNorm, SwiGLU, biases; two-tower: DDIM T=100, CF-guidance dropout 0.15).
CPU_SIZES = {
    "lcm-base": {
        "hidden_dim": 256,
        "num_layers": 2,
        "attention.num_heads": 4,
        "feedforward.intermediate_dim": 768,
        "dropout": 0.2,
    },
    "lcm-two-tower": {
        "hidden_dim": 256,
        "num_encoder_layers": 2,
        "num_denoiser_layers": 3,
        "attention.num_heads": 4,
        "feedforward.intermediate_dim": 768,
        "dropout": 0.2,
        "noise_seed": 0,
    },
}


def add_arguments(parser):
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="Keras backend (re-executes the command with KERAS_BACKEND set). Default: the current one.")
    parser.add_argument("--model", choices=MODELS, default="lcm-base", help="LCM family to train (default: lcm-base)")
    parser.add_argument("--out", default=None, help="output directory (default: quickstart_out/<model>-<backend>)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum epochs; EarlyStopping may stop sooner (default: 12 base, 30 two-tower)")
    parser.add_argument("--max-documents", type=int, default=None,
                        help="use at most this many docstring documents (default: all, about 700)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per batch (default: 32)")
    parser.add_argument("--max-length", type=int, default=32,
                        help="documents are cut into chunks of at most this many concepts (default: 32)")
    parser.add_argument("--learning-rate", type=float, default=None, help="AdamW learning rate (default: 1e-3)")
    parser.add_argument("--cache-dir", default=None,
                        help="sentence-embedding cache (default: $DLZOO_CACHE_DIR or ~/.cache/dlzoo/embeddings)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the sampling")
    parser.add_argument("--inference-steps", type=int, default=40,
                        help="two-tower DDIM steps requested (T=100, 40 -> 50 by the reference's grid)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model parameter (dotted names), e.g. --set num_layers=2")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: 1 when the machine is busy, else torch's own)")
    parser.add_argument("--time-budget", type=float, default=180.0,
                        help="stop training after the epoch that passes this many seconds (default: 180, so the "
                        "whole run stays under 5 minutes on a 2-core CPU; 0 = no limit)")
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help="skip the verified SavedModel + ONNX export of the trained model")
    parser.add_argument("--quiet", action="store_true", help="less output during training")


# --------------------------------------------------------------- re-exec
def _argv_from(args):
    argv = ["quickstart"]
    for name in ("backend", "model", "out", "epochs", "max_documents", "batch_size", "max_length", "learning_rate",
                 "cache_dir", "seed", "inference_steps", "threads", "time_budget"):
        value = getattr(args, name)
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    for item in args.overrides:
        argv += ["--set", item]
    if not args.export:
        argv.append("--no-export")
    if args.quiet:
        argv.append("--quiet")
    if getattr(args, "debug", False):
        argv.append("--debug")
    return argv


def _current_backend():
    if "keras" in sys.modules:
        import keras  # lazy: keeps the CLI free of Keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _maybe_reexec(args):
    """Re-execute with KERAS_BACKEND set: the backend is fixed when Keras is first imported."""
    if args.backend is None or args.backend == _current_backend():
        return
    if os.environ.get(REEXEC_FLAG) == args.backend:
        raise RuntimeError(
            f"Re-executed with KERAS_BACKEND={args.backend} but Keras still runs {_current_backend()!r}."
        )
    env = dict(os.environ, KERAS_BACKEND=args.backend, **{REEXEC_FLAG: args.backend})
    argv = [sys.executable, "-m", "dlzoo"] + _argv_from(args)
    print(f"[quickstart] re-executing with KERAS_BACKEND={args.backend}", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


# ------------------------------------------------------------------- run
class _Log:
    def __init__(self):
        self.start = time.time()
        self.stages = {}
        self._t = self.start

    def __call__(self, message):
        print(f"[quickstart {time.time() - self.start:6.1f}s] {message}", flush=True)

    def stage(self, name):
        now = time.time()
        self.stages[name] = round(now - self._t, 2)
        self._t = now


# Lower bounds of the numeric options (None = option left at its default).
MINIMA = {"epochs": 1, "max_documents": 10, "batch_size": 1, "max_length": 2, "inference_steps": 1, "threads": 1,
          "learning_rate": 0.0, "time_budget": 0.0}


def validate_arguments(args):
    """Refuse out-of-range numeric options before anything is loaded (or re-executed)."""
    for name, minimum in MINIMA.items():
        value = getattr(args, name)
        if value is None:
            continue
        strict = name == "learning_rate"
        if value < minimum or (strict and value <= minimum):
            flag = "--" + name.replace("_", "-")
            relation = ">" if strict else ">="
            raise ValueError(f"`{flag}` must be {relation} {minimum}. Received: {flag}={value}.")


def run(args):
    validate_arguments(args)
    _maybe_reexec(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    log = _Log()
    import numpy as np  # lazy: keeps the CLI fast (numpy)

    import keras  # lazy: keeps the CLI free of Keras (the backend is chosen first)

    from dlzoo import concepts  # lazy: keeps the CLI free of Keras
    from dlzoo import lcm  # lazy: keeps the CLI free of Keras
    from dlzoo.configs import parse_overrides  # lazy: keeps the CLI fast (yaml)

    backend = keras.backend.backend()
    if backend == "torch":
        _torch_threads(args.threads, log)
    out = os.path.abspath(args.out or os.path.join("quickstart_out", f"{args.model}-{backend}"))
    os.makedirs(out, exist_ok=True)
    cache_dir = args.cache_dir or os.environ.get("DLZOO_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "dlzoo", "embeddings")
    two_tower = args.model == "lcm-two-tower"
    epochs = args.epochs or (30 if two_tower else 12)
    keras.utils.set_random_seed(args.seed)
    log(f"backend={backend} model={args.model} out={out}")

    # 1. corpus -> sentences
    documents = concepts.stdlib_docstrings_corpus(min_sentences=4, max_documents=args.max_documents,
                                                  shuffle_seed=args.seed)
    if len(documents) < 10:
        raise ValueError(f"The corpus is too small for a split. Received: --max-documents={args.max_documents}.")
    stats = concepts.corpus_stats(documents)
    log(f"corpus: {stats['documents']} standard-library docstrings, {stats['sentences']} sentences")
    log.stage("corpus")

    # 2. encode with MiniLM (cached on disk, in chunks so an interrupted run keeps its progress)
    encoder = concepts.SentenceEncoder()
    sentences = [s for d in documents for s in d.sentences]
    unique = list(dict.fromkeys(sentences))
    table = {}
    chunk = 512
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        table.update(zip(part, concepts.encode_sentences(part, encoder, cache_dir=cache_dir, progress=False)))
        if len(unique) > chunk:
            log(f"encoded {min(start + chunk, len(unique))}/{len(unique)} unique sentences")
    doc_vectors = [np.stack([table[s] for s in d.sentences]).astype("float32") for d in documents]
    eot_text = concepts.END_OF_TEXT
    eot = np.asarray(encoder.encode([eot_text], progress=False), "float32")[0]
    log(f"encoded with {encoder!r} (cache: {cache_dir})")
    log.stage("encode")

    # 3. split documents: train / validation / test (held out)
    n = len(documents)
    n_test = max(2, n // 10)
    n_val = max(2, n // 10)
    test_idx = list(range(n - n_test, n))
    val_idx = list(range(n - n_test - n_val, n - n_test))
    train_idx = list(range(0, n - n_test - n_val))

    # 4. normalizer fitted on the training concepts (robust centre and scale per dimension)
    normalizer = concepts.EmbeddingNormalizer().fit(np.concatenate([doc_vectors[i] for i in train_idx]))
    log.stage("normalizer")

    def sequences(indices):
        docs = concepts.add_affixes([doc_vectors[i] for i in indices], suffix=eot[None])
        return concepts.wrap_sequences(docs, args.max_length)

    train_ds = concepts.ConceptSequenceDataset(sequences(train_idx), batch_size=args.batch_size,
                                               targets=lcm.lcm_targets, normalizer=normalizer,
                                               max_length=args.max_length, shuffle=True, seed=args.seed)
    val_ds = concepts.ConceptSequenceDataset(sequences(val_idx), batch_size=args.batch_size, targets=lcm.lcm_targets,
                                             normalizer=normalizer, max_length=args.max_length)

    # 5. build the LCM resized for a CPU
    overrides = dict(CPU_SIZES[args.model])
    overrides.update(embedding_dim=int(eot.shape[0]), max_sequence_length=max(64, args.max_length))
    overrides.update(parse_overrides(args.overrides))
    model = dlzoo.build(args.model, **overrides)
    params = int(model.count_params())
    log(f"built {args.model} resized for CPU: {params:,} parameters "
        f"(the full {args.model} has {dlzoo.count_params(args.model):,})")
    lr = args.learning_rate or 1e-3
    steps = max(1, len(train_ds)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr * 0.1, steps, alpha=0.05, warmup_target=lr,
                                                      warmup_steps=min(100, steps // 10))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.1, beta_2=0.98, clipnorm=1.0),
                  loss=lcm.loss_for(model))
    log.stage("build")

    # 6. fit with Keras callbacks
    callbacks = [
        keras.callbacks.ModelCheckpoint(os.path.join(out, "best.weights.h5"), monitor="val_loss",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=6 if two_tower else 3,
                                      restore_best_weights=True),
        keras.callbacks.CSVLogger(os.path.join(out, "history.csv")),
    ]
    if args.time_budget:
        callbacks.append(time_budget_callback(args.time_budget, log))
    if importlib.util.find_spec("tensorflow") is not None:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "tensorboard")))
        tensorboard = os.path.join(out, "tensorboard")
        log(f"TensorBoard logs: {tensorboard}  (view with: tensorboard --logdir {tensorboard})")
    else:
        tensorboard = None
        log("TensorBoard skipped: it needs the `tensorflow` package, which is not installed; "
            "the history is in history.csv")
    log(f"training on {len(train_ds.sequences)} sequences ({len(train_ds)} batches/epoch), "
        f"validating on {len(val_ds.sequences)}, up to {epochs} epochs")
    t0 = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
                        verbose=0 if args.quiet else 2)
    train_time = time.time() - t0
    epochs_run = len(history.history["loss"])
    best_val = float(min(history.history["val_loss"]))
    log(f"trained {epochs_run} epochs in {train_time:.1f}s, best val_loss {best_val:.3f}")
    log.stage("fit")

    # 7. evaluate on held-out documents against "repeat the last concept"
    evaluation = evaluate(model, [doc_vectors[i] for i in test_idx], [documents[i].sentences for i in test_idx],
                          normalizer, args.max_length, args.seed, args.inference_steps)
    log.stage("evaluate")

    # 8. generate a continuation of a held-out document
    bank_sentences = list(dict.fromkeys(sentences))
    # Nearest neighbours in the normalized space (see `evaluate`), over every corpus sentence.
    decoder = concepts.RetrievalDecoder(bank_sentences, normalizer.normalize(np.stack([table[s] for s in bank_sentences])))
    prompt_doc = next((i for i in test_idx if len(documents[i].sentences) >= 6), test_idx[0])
    prompt_len = min(3, len(documents[prompt_doc].sentences) - 1)
    result = lcm.generate(model, doc_vectors[prompt_doc][:prompt_len], normalizer=normalizer, eot_embedding=eot,
                          max_new_concepts=6, seed=args.seed, num_inference_steps=args.inference_steps)
    generated = decoder.decode(result.normalized[0]) if len(result.normalized[0]) else []
    if result.stop_reasons[0] == "end_of_text" and generated:
        generated[-1] = f"{generated[-1]}  [end of text: cosine to '{eot_text}' >= 0.9]"
    generation = {
        "document": documents[prompt_doc].name,
        "prompt": documents[prompt_doc].sentences[:prompt_len],
        "generated": generated,
        "reference_continuation": documents[prompt_doc].sentences[prompt_len:prompt_len + 6],
        "stop_reason": result.stop_reasons[0],
    }
    log.stage("generate")

    # 9. save the model, the normalizer and the sentence bank (what `LCMPipeline.from_directory` serves)
    model_path = os.path.join(out, "model.keras")
    model.save(model_path)
    normalizer_path = normalizer.save(os.path.join(out, "normalizer.json"))
    with open(os.path.join(out, "bank.json"), "w", encoding="utf-8") as f:
        json.dump(bank_sentences, f)
    np.save(os.path.join(out, "bank.npy"), np.stack([table[s] for s in bank_sentences]).astype("float32"))
    log.stage("save")

    # 10. export: SavedModel + ONNX, each verified in a clean process (onnxruntime / tf.saved_model)
    export_summary = None
    if args.export:
        export_dir = os.path.join(out, "export")
        graph = "denoiser" if two_tower else None  # the Two-Tower forward pass is its training graph
        exported = dlzoo.export(model, export_dir, formats=["saved_model", "onnx"], graph=graph, overwrite=True)
        verification = exported.manifest.get("verification") or {}
        export_summary = {
            "directory": export_dir,
            "graph": graph or "forward",
            "formats": {fmt: {"route": f"{art['route']['exporter']} ({art['route']['backend']}, "
                                       f"{art['route']['process']})",
                              "max_abs_diff": (verification.get(fmt) or {}).get("max_abs_diff")}
                        for fmt, art in exported.manifest["artifacts"].items()},
        }
        log(exported.summary())
        log.stage("export")

    wall = time.time() - log.start
    summary = {
        "model": args.model,
        "backend": backend,
        "parameters": params,
        "config_overrides": overrides,
        "corpus": stats,
        "splits": {"train_documents": len(train_idx), "validation_documents": len(val_idx),
                   "test_documents": len(test_idx)},
        "epochs_run": epochs_run,
        "best_val_loss": best_val,
        "train_seconds": round(train_time, 1),
        "time_budget_seconds": args.time_budget or None,
        "wall_seconds": round(wall, 1),
        "stage_seconds": log.stages,
        "evaluation": evaluation,
        "beats_baseline": bool(
            evaluation["model"]["cosine"] > evaluation["baseline"]["cosine"]
            and evaluation["model"]["top1_accuracy"] > evaluation["baseline"]["top1_accuracy"]
        ),
        "generation": generation,
        "export": export_summary,
        "files": {"model": model_path, "normalizer": normalizer_path,
                  "bank": os.path.join(out, "bank.json"),
                  "checkpoint": os.path.join(out, "best.weights.h5"),
                  "history": os.path.join(out, "history.csv"), "tensorboard": tensorboard},
    }
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print_summary(summary)
    return 0


def time_budget_callback(seconds, log):
    """A Keras callback that stops `fit` after the epoch during which `seconds` have passed.

    (Built here, not at import: this module must not import Keras before the backend is chosen.)
    """
    import keras  # lazy: keeps the CLI free of Keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.time()

        def on_epoch_end(self, epoch, logs=None):
            if time.time() - self.start > seconds:
                log(f"time budget of {seconds:.0f}s reached after epoch {epoch + 1}: training stops "
                    "(EarlyStopping restores the best weights)")
                self.model.stop_training = True

    return TimeBudget()


def _torch_threads(threads, log):
    """Torch's OpenMP threads spin while they wait: on a busy small machine one thread is far faster."""
    import torch  # lazy: backend (torch)

    if threads is None:
        cores = os.cpu_count() or 1
        busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > cores - 0.5
        threads = 1 if (busy or cores <= 1) else None
        if threads is None:
            log(f"torch uses {torch.get_num_threads()} intra-op threads")
            return
        log(f"the machine is busy (load {os.getloadavg()[0]:.1f} on {cores} cores): torch uses 1 intra-op "
            "thread (set --threads to override)")
    torch.set_num_threads(int(threads))


def evaluate(model, vectors, texts, normalizer, max_length, seed, inference_steps):
    """Next-concept cosine and retrieval top-1 accuracy of the model and the repeat-last baseline.

    Every held-out document (cut into chunks of `max_length`) is fed with
    teacher forcing; at each position `t >= 1` of a chunk the model predicts
    concept `t` from concepts `< t` (the Two-Tower model samples all positions
    at once with its causal cross-attention mask) and the baseline predicts
    concept `t - 1`.

    * `cosine`: between prediction and target in raw encoder (MiniLM) space,
      after de-normalization (the reference's `cos_sim`);
    * `cosine_normalized`: the same in the model's normalized space;
    * `top1_accuracy`: the prediction decoded by retrieval (the nearest of all
      held-out sentences) is the target sentence. Decoded, the baseline repeats
      the previous sentence, so it scores only where a document repeats a
      sentence;
    * `top1_accuracy_context_excluded`: a stricter baseline: the sentences of
      the context (positions `< t` of the same chunk) are left out of the
      search, which turns "repeat the last concept" into "the held-out
      sentence most similar to the last one".

    Neighbours are searched in the normalized space (a per-dimension
    standardized cosine: the direction shared by all sentences would otherwise
    pull every averaged prediction toward the same few "hub" sentences).
    """
    import numpy as np  # lazy: keeps the CLI fast (numpy)

    from dlzoo import concepts  # lazy: keeps the CLI free of Keras
    from dlzoo import lcm  # lazy: keeps the CLI free of Keras

    chunks, chunk_texts = [], []
    for v, t in zip(vectors, texts):
        for start in range(0, len(v), max_length):
            if len(v[start:start + max_length]) >= 2:
                chunks.append(v[start:start + max_length])
                chunk_texts.append(t[start:start + max_length])
    normalized = [np.asarray(normalizer.normalize(c), "float32") for c in chunks]
    embeddings, mask = concepts.pad_concept_sequences(normalized, max_length=max_length)
    predicted = lcm.predict_next_concepts(model, embeddings, mask, seed=seed, num_inference_steps=inference_steps)
    vector_of = {}
    for v, t in zip(vectors, texts):
        for vec, sentence in zip(v, t):
            vector_of.setdefault(sentence, vec)
    bank = concepts.RetrievalDecoder(list(vector_of), normalizer.normalize(np.stack(list(vector_of.values()))))
    model_pred, base_pred, targets, target_texts, excluded = [], [], [], [], []
    for b, c in enumerate(chunks):
        for t in range(1, len(c)):
            model_pred.append(predicted[b, t])
            base_pred.append(normalized[b][t - 1])
            targets.append(normalized[b][t])
            target_texts.append(chunk_texts[b][t])
            excluded.append(set(chunk_texts[b][:t]))
    targets = np.stack(targets)
    raw_targets = normalizer.denormalize(targets)
    k = min(bank.bank_size, max(len(e) for e in excluded) + 1)
    results = {}
    for name, pred in (("model", np.stack(model_pred)), ("baseline", np.stack(base_pred))):
        cosine = concepts.cosine_similarity(normalizer.denormalize(pred), raw_targets)
        cosine_normalized = concepts.cosine_similarity(pred, targets)
        indices, _ = bank.search_indices(pred, top_k=k)
        hits = strict = 0
        for row, target_text, skip in zip(indices, target_texts, excluded):
            hits += bank.texts[row[0]] == target_text
            best = next((bank.texts[i] for i in row if bank.texts[i] not in skip), None)
            strict += best == target_text
        results[name] = {
            "cosine": round(float(np.mean(cosine)), 4),
            "cosine_normalized": round(float(np.mean(cosine_normalized)), 4),
            "top1_accuracy": round(hits / len(targets), 4),
            "top1_accuracy_context_excluded": round(strict / len(targets), 4),
        }
    results["positions"] = len(targets)
    results["bank_size"] = bank.bank_size
    return results


def print_summary(summary):
    ev = summary["evaluation"]
    line = "+" + "-" * 26 + "+" + "-" * 14 + "+" + "-" * 14 + "+"
    print()
    print(f"LCM quickstart: {summary['model']} on {summary['backend']} "
          f"({summary['parameters']:,} parameters, {summary['epochs_run']} epochs, "
          f"{summary['train_seconds']}s training, {summary['wall_seconds']}s wall)")
    print(line)
    print(f"| {'held-out next concept':<24} | {'model':>12} | {'baseline':>12} |")
    print(line)
    print(f"| {'cosine (MiniLM space)':<24} | {ev['model']['cosine']:>12.4f} | {ev['baseline']['cosine']:>12.4f} |")
    print(f"| {'cosine (normalized)':<24} | {ev['model']['cosine_normalized']:>12.4f} | "
          f"{ev['baseline']['cosine_normalized']:>12.4f} |")
    print(f"| {'retrieval top-1 accuracy':<24} | {ev['model']['top1_accuracy']:>12.4f} | "
          f"{ev['baseline']['top1_accuracy']:>12.4f} |")
    print(f"| {'top-1, context excluded':<24} | {ev['model']['top1_accuracy_context_excluded']:>12.4f} | "
          f"{ev['baseline']['top1_accuracy_context_excluded']:>12.4f} |")
    print(line)
    print(f"  baseline = repeat the last concept; {ev['positions']} held-out positions, "
          f"retrieval among {ev['bank_size']} held-out sentences")
    verdict = "beats" if summary["beats_baseline"] else "does NOT beat"
    print(f"  the model {verdict} the baseline (cosine in MiniLM space and retrieval top-1)")
    gen = summary["generation"]
    print(f"\nContinuation of held-out document `{gen['document']}` (retrieved sentences):")
    for s in gen["prompt"]:
        print(f"  prompt    | {s}")
    for s in gen["generated"]:
        print(f"  generated | {s}")
    for s in gen["reference_continuation"][:3]:
        print(f"  actual    | {s}")
    print(f"\nSaved: {summary['files']['model']}, {summary['files']['normalizer']}; "
          f"summary: {os.path.join(os.path.dirname(summary['files']['model']), 'summary.json')}")
    if summary.get("export"):
        exported = summary["export"]
        print(f"Exported ({exported['graph']} graph) to {exported['directory']}: " + "; ".join(
            f"{fmt} via {info['route']}, max abs diff {info['max_abs_diff']:.1e} in a clean process"
            for fmt, info in exported["formats"].items()))
        print(f"Serve it: dlzoo serve {exported['directory']}   |   with text in/out: dlzoo serve "
              f"{summary['files']['model']} --text-pipeline dlzoo.lcm.pipeline:LCMPipeline.from_directory")
    print("Stage times (s): " + ", ".join(f"{k} {v}" for k, v in summary["stage_seconds"].items()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="dlzoo quickstart")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
