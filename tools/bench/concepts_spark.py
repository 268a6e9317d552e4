"""`python -m tools.bench.concepts_spark`: sentences/s of `dlzoo concepts encode`, local engine vs Spark.

Run by hand (it is a measurement, not a test; ~10 minutes on 2 loaded cores):

    KERAS_BACKEND=torch python -m tools.bench.concepts_spark [--replicas 4] [--masters local[1],local[2]]

The corpus is the LCM quickstart's (`stdlib_docstrings_corpus(max_documents=300)`,
pre-split sentences, written as JSONL) and the same corpus replicated
`--replicas` times. Encoder: all-MiniLM-L6-v2 (the default). What is timed:

* local engine: `encode_corpus(engine="local")`, whole call (reading, building
  the encoder, encoding, writing), per corpus size;
* Spark, per master: the session start (JVM, `SparkSession`; later masters
  reuse the first one's JVM, so the first start is charged to all), then a first job
  on 8 documents (the Python workers start, import Keras and build their
  encoder: the warm-up), then each corpus size in the same warm session.

From these it prints throughput (sentences/s, excluding fixed costs) and the
corpus size above which a cold Spark run beats the local engine.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time


def _write_corpus(path, documents, replicas):
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(replicas):
            for document in documents:
                f.write(json.dumps({"text": document.sentences}) + "\n")


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.bench.concepts_spark", description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=4, help="size of the larger corpus, in quickstart corpora")
    parser.add_argument("--masters", default="local[1],local[2]", help="comma-separated Spark masters")
    parser.add_argument("--max-documents", type=int, default=300, help="documents of the base corpus (quickstart: 300)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of this process (the local engine); PySpark gives its workers "
                        "spark.task.cpus (1) threads each. 1 compares like with like on a loaded machine")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported

    import keras

    from dlzoo.concepts import corpus_stats, stdlib_docstrings_corpus
    from dlzoo.concepts.corpus_encoding import build_encoder, encode_corpus, encoder_spec
    from dlzoo.concepts.spark_engine import start_spark_session

    work = tempfile.mkdtemp(prefix="dlzoo-bench-spark-")
    documents = stdlib_docstrings_corpus(min_sentences=4, max_documents=args.max_documents, shuffle_seed=0)
    sentences = corpus_stats(documents)["sentences"]
    sizes = {1: os.path.join(work, "x1.jsonl"), args.replicas: os.path.join(work, f"x{args.replicas}.jsonl")}
    for replicas, path in sizes.items():
        _write_corpus(path, documents, replicas)
    _write_corpus(os.path.join(work, "warmup.jsonl"), documents[:8], 1)
    results = {"backend": keras.backend.backend(), "cpus": os.cpu_count(), "threads": args.threads, "documents": len(documents),
               "sentences": sentences, "replicas": args.replicas, "local": [], "spark": []}
    log = lambda message: print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        encoder_build_s, _ = _timed(lambda: build_encoder(encoder_spec()))
        results["encoder_build_s"] = round(encoder_build_s, 2)
        for replicas, path in sizes.items():
            out = os.path.join(work, f"local-x{replicas}")
            seconds, meta = _timed(lambda: encode_corpus(path, out, overwrite=True))
            results["local"].append({"replicas": replicas, "sentences": meta["sentences"], "seconds": round(seconds, 2)})
            log(f"local x{replicas}: {meta['sentences']} sentences in {seconds:.1f} s")
        for master in args.masters.split(","):
            start_s, session = _timed(lambda: start_spark_session(master, app_name="dlzoo-bench"))
            try:
                warm = os.path.join(work, "spark-warmup")
                warmup_s, _ = _timed(lambda: encode_corpus(os.path.join(work, "warmup.jsonl"), warm, engine="spark",
                                                           spark_session=session, overwrite=True))
                row = {"master": master, "session_start_s": round(start_s, 2), "first_job_s": round(warmup_s, 2),
                       "runs": []}
                for replicas, path in sizes.items():
                    out = os.path.join(work, f"spark-x{replicas}")
                    seconds, meta = _timed(lambda: encode_corpus(path, out, engine="spark", spark_session=session,
                                                                 overwrite=True))
                    row["runs"].append({"replicas": replicas, "sentences": meta["sentences"], "seconds": round(seconds, 2)})
                    log(f"spark {master} x{replicas}: {meta['sentences']} sentences in {seconds:.1f} s "
                        f"(session {start_s:.1f} s, first job {warmup_s:.1f} s)")
                results["spark"].append(row)
            finally:
                session.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _summarize(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


def _rate(runs):
    """Sentences/s from the two sizes (the slope: fixed per-call costs cancel)."""
    (a, b) = sorted(runs, key=lambda r: r["sentences"])[:1] + sorted(runs, key=lambda r: r["sentences"])[-1:]
    return (b["sentences"] - a["sentences"]) / max(b["seconds"] - a["seconds"], 1e-9), a


def _summarize(results):
    local_rate, base = _rate(results["local"])
    local_fixed = base["seconds"] - base["sentences"] / local_rate
    results["local_sentences_per_s"] = round(local_rate, 1)
    lines = [f"corpus: {results['documents']} documents, {results['sentences']} sentences (x1) and "
             f"x{results['replicas']}; backend {results['backend']}, {results['cpus']} CPUs",
             "| engine | sentences/s | fixed cost per run (s) | cold run x1 (s) | "
             f"cold run x{results['replicas']} (s) | break-even vs local (sentences) |",
             "|---|---|---|---|---|---|"]
    total = lambda fixed, rate, n: fixed + n / rate  # noqa: E731
    n1, nk = results["sentences"], results["sentences"] * results["replicas"]
    lines.append(f"| local | {local_rate:.0f} | {local_fixed:.1f} | {total(local_fixed, local_rate, n1):.1f} | "
                 f"{total(local_fixed, local_rate, nk):.1f} | - |")
    # Only the first session starts the JVM; later ones reuse it, so each master is charged the first's start.
    cold_start = results["spark"][0]["session_start_s"] if results["spark"] else 0.0
    for row in results["spark"]:
        rate, warm_base = _rate(row["runs"])
        per_job = warm_base["seconds"] - warm_base["sentences"] / rate
        fixed = cold_start + row["first_job_s"] + per_job
        row["sentences_per_s"] = round(rate, 1)
        row["fixed_s"] = round(fixed, 1)
        if rate > local_rate:
            even = (fixed - local_fixed) / (1 / local_rate - 1 / rate)
            row["break_even_sentences"] = int(even)
            even_text = f"{even:,.0f}"
        else:
            row["break_even_sentences"] = None
            even_text = "never (not faster per sentence)"
        lines.append(f"| spark {row['master']} | {rate:.0f} | {fixed:.1f} (JVM + session {cold_start:.1f}, "
                     f"first job {row['first_job_s']:.1f}, per job {per_job:.1f}) | {total(fixed, rate, n1):.1f} | "
                     f"{total(fixed, rate, nk):.1f} | {even_text} |")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
