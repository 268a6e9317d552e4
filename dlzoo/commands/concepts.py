"""`dlzoo concepts encode INPUT --out DIR [--engine local|spark]`: a corpus -> sentence embeddings in Parquet.

The output (a directory of `part-*.parquet` shards and `_concepts.json`) is
what the `concept_parquet` dataset of a composition file reads, e.g.
`dlzoo run guides/examples/lcm_quickstart.yaml data.dataset.name=concept_parquet data.dataset.corpus=DIR`.
"""

from dlzoo.cli import UsageError
from dlzoo.commands._common import print_json


def add_arguments(parser):
    sub = parser.add_subparsers(dest="concepts_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    encode = sub.add_parser("encode", help="split documents into sentences and encode them into Parquet shards",
                            description="Split documents into sentences, encode them with the sentence encoder "
                            "and write Parquet shards (document_id, sentence_index, text, embedding).")
    encode.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    encode.add_argument("input", metavar="INPUT", help="text, JSONL or Parquet documents: a file, a directory "
                        "(with --format) or a glob")
    encode.add_argument("--out", required=True, metavar="DIR", help="output directory (written atomically)")
    encode.add_argument("--engine", default="local", metavar="ENGINE",
                        help="local (in this process, the default) or spark (PySpark)")
    encode.add_argument("--master", default="local[2]", help="Spark master URL (default: local[2])")
    encode.add_argument("--format", default=None, help="text, jsonl or parquet (default: from the extension)")
    encode.add_argument("--field", default="text", help="JSONL field or Parquet column of the documents "
                        "(a string or a list of sentences; default: text)")
    encode.add_argument("--text-mode", default="file", help="text files: a document per file (default), "
                        "per line, or per blank_line-separated block")
    encode.add_argument("--splitter", default="rule_based", help="sentence splitter (default: rule_based)")
    encode.add_argument("--encoder", default=None, metavar="DIR",
                        help="sentence-encoder checkpoint or keras-hub preset (default: all-MiniLM-L6-v2)")
    encode.add_argument("--sequence-length", type=int, default=128, help="encoder tokens per sentence (default: 128)")
    encode.add_argument("--batch-size", type=int, default=64, help="sentences per encoder pass (default: 64)")
    encode.add_argument("--batch-documents", type=int, default=256,
                        help="documents per encoding batch: the memory bound (default: 256)")
    encode.add_argument("--shard-documents", type=int, default=8192,
                        help="documents per shard with the local engine (default: 8192)")
    encode.add_argument("--partitions", type=int, default=None,
                        help="Spark partitions, one shard each (default: the session's parallelism)")
    encode.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    encode.add_argument("--json", action="store_true", help="print _concepts.json instead of a summary")


def run(args):
    from dlzoo.concepts.corpus_encoding import encode_corpus  # lazy: keeps `dlzoo --help` free of Keras
    from dlzoo.concepts.spark_engine import JavaNotFoundError

    try:
        metadata = encode_corpus(
            args.input, args.out, engine=args.engine, master=args.master, format=args.format, field=args.field,
            text_mode=args.text_mode, splitter=args.splitter, encoder=args.encoder,
            sequence_length=args.sequence_length, batch_size=args.batch_size,
            batch_documents=args.batch_documents, shard_documents=args.shard_documents,
            partitions=args.partitions, overwrite=args.overwrite,
        )
    except JavaNotFoundError as error:
        raise UsageError(str(error)) from None
    if args.json:
        print_json(metadata)
        return 0
    where = metadata["engine"] + (f" ({metadata['master']})" if metadata.get("master") else "")
    rate = metadata["sentences"] / max(metadata["seconds"], 1e-9)
    print(f"{metadata['input_documents']} documents -> {metadata['sentences']} sentences "
          f"({metadata['embedding_dim']}-d) in {metadata['shards']} shard(s) at {args.out}; "
          f"{where}, {metadata['seconds']:.1f} s ({rate:.0f} sentences/s)")
    return 0
