"""Document loaders: text files, JSONL and Parquet -> lists of documents.

Each loader returns a list whose items are either raw texts (`str`, to be split
into sentences) or pre-split sentence lists (`list[str]`, e.g. a Parquet column
`text_sentences` in the reference's layout). `split_documents` and
`encode_documents` accept both. `load_parquet_embeddings` reads pre-computed
sentence-embedding columns (the reference's `<col>_sentences_sonar_emb`).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "docs.jsonl")
>>> _ = open(path, "w").write('{"text": "One. Two."}\\n{"text": "Three."}\\n')
>>> load_jsonl_documents(path)
['One. Two.', 'Three.']
"""

import glob
import json
import os
from typing import Any, List, Optional, Sequence, Union

import numpy as np

from dlzoo.validation import check_choice

PathLike = Union[str, os.PathLike]
TEXT_MODES = ("file", "blank_line", "line")


def _expand(paths: Union[PathLike, Sequence[PathLike]], pattern: str) -> List[str]:
    """Files named by a path, a directory (sorted, recursive `pattern`), a glob, or a list of these."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            files.extend(sorted(glob.glob(os.path.join(p, "**", pattern), recursive=True)))
        elif os.path.isfile(p):
            files.append(p)
        else:
            matches = sorted(glob.glob(p, recursive=True))
            if not matches:
                raise FileNotFoundError(f"No file matches `paths`. Received: paths={p!r}.")
            files.extend(matches)
    return files


def load_text_documents(paths: Union[PathLike, Sequence[PathLike]], mode: str = "file",
                        pattern: str = "*.txt", encoding: str = "utf-8") -> List[str]:
    """Documents from plain-text files.

    Args:
        paths: str, path, or list of them. Files, directories (searched
            recursively for `pattern`, in sorted order) or glob patterns.
        mode: str. `"file"`: each file is one document; `"blank_line"`:
            documents are separated by one or more blank lines; `"line"`:
            each non-empty line is a document. Defaults to `"file"`.
        pattern: str. File-name pattern inside directories. Defaults to `"*.txt"`.
        encoding: str. Text encoding. Defaults to `"utf-8"`.

    Returns:
        A list of non-empty document texts (str), in file order.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2.
    """
    mode = check_choice("mode", mode, TEXT_MODES)
    docs = []
    for path in _expand(paths, pattern):
        with open(path, "r", encoding=encoding) as f:
            text = f.read().replace("\r\n", "\n")
        if mode == "file":
            parts = [text]
        elif mode == "blank_line":
            parts = _split_blank_lines(text)
        else:
            parts = text.split("\n")
        docs.extend(p.strip() for p in parts if p.strip())
    return docs


def _split_blank_lines(text: str) -> List[str]:
    parts, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            parts.append("\n".join(current))
            current = []
    if current:
        parts.append("\n".join(current))
    return parts


def load_jsonl_documents(paths: Union[PathLike, Sequence[PathLike]], field: str = "text",
                         pattern: str = "*.jsonl", encoding: str = "utf-8") -> List[Union[str, List[str]]]:
    """Documents from JSON-lines files (one JSON object per line).

    Args:
        paths: str, path, or list of them (files, directories or globs).
        field: str. Key holding the document: a string, or a list of
            sentence strings. Dotted keys reach into nested objects
            (`"meta.body"`). Defaults to `"text"`.
        pattern: str. File-name pattern inside directories. Defaults to `"*.jsonl"`.
        encoding: str. Text encoding. Defaults to `"utf-8"`.

    Returns:
        A list of documents (str or list of str); blank lines are skipped.

    Raises:
        KeyError: naming the field, file and line when a record lacks it.

    Reference:
        - [JSON Lines](https://jsonlines.org/).
    """
    docs = []
    for path in _expand(paths, pattern):
        with open(path, "r", encoding=encoding) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                value = record
                for key in field.split("."):
                    if not isinstance(value, dict) or key not in value:
                        raise KeyError(
                            f"Field {field!r} not found in {path} line {number}. "
                            f"Received: field={field!r}; record keys: {sorted(record) if isinstance(record, dict) else type(record).__name__}."
                        )
                    value = value[key]
                docs.append(_as_document(value, field))
    return docs


def load_parquet_documents(paths: Union[PathLike, Sequence[PathLike]], column: str = "text",
                           pattern: str = "*.parquet", filters: Optional[Any] = None) -> List[Union[str, List[str]]]:
    """Documents from Parquet files (pyarrow).

    Args:
        paths: str, path, or list of them (files, directories or globs).
        column: str. A string column (raw texts) or a `list<string>` column
            (pre-split sentences, e.g. the reference's `text_sentences`).
            Defaults to `"text"`.
        pattern: str. File-name pattern inside directories. Defaults to `"*.parquet"`.
        filters: pyarrow filter expression or list of tuples, e.g.
            `[("split", "=", "train")]`. Defaults to `None`.

    Returns:
        A list of documents (str or list of str), nulls skipped.

    Reference:
        - Meta LCM datacards (lcm.md section 5.1): `*_sentences` / `*_sentences_sonar_emb` columns.
    """
    table = _read_parquet(paths, [column], pattern, filters)
    return [_as_document(v, column) for v in table.column(column).to_pylist() if v is not None]


def load_parquet_embeddings(paths: Union[PathLike, Sequence[PathLike]], column: str,
                            pattern: str = "*.parquet", filters: Optional[Any] = None) -> List[np.ndarray]:
    """Pre-computed sentence embeddings from a Parquet `list<list<float>>` column.

    Args:
        paths: str, path, or list of them (files, directories or globs).
        column: str. The embedding column (`text_sentences_sonar_emb` in the
            reference's layout); each row is a list of fixed-size vectors.
        pattern: str. File-name pattern inside directories. Defaults to `"*.parquet"`.
        filters: pyarrow filter. Defaults to `None`.

    Returns:
        A list of float32 arrays `(n_i, dim)`, one per row.

    Reference:
        - Meta LCM datacards (lcm.md section 5.1).
    """
    table = _read_parquet(paths, [column], pattern, filters)
    out = []
    for row in table.column(column).to_pylist():
        if row is None:
            continue
        arr = np.asarray(row, dtype="float32")
        if arr.ndim != 2:
            raise ValueError(
                f"Column {column!r} must hold lists of equal-size vectors. Received: a row of shape {arr.shape}."
            )
        out.append(arr)
    return out


def _read_parquet(paths, columns, pattern, filters):
    try:
        import pyarrow as pa  # lazy: optional dependency (pyarrow)
        import pyarrow.parquet as pq  # lazy: optional dependency (pyarrow)
    except ImportError as error:
        raise ImportError("Reading Parquet needs pyarrow: `pip install pyarrow`.") from error
    tables = []
    for path in _expand(paths, pattern):
        schema = pq.read_schema(path)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise KeyError(f"Column {missing[0]!r} not found in {path}. Received: column={missing[0]!r}; "
                           f"columns: {schema.names}.")
        tables.append(pq.read_table(path, columns=columns, filters=filters))
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _as_document(value, field):
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        return list(value)
    raise TypeError(
        f"Field {field!r} must hold a string or a list of strings. Received: a value of type {type(value).__name__}."
    )


def load_documents(paths: Union[PathLike, Sequence[PathLike]], format: Optional[str] = None,
                   field: Optional[str] = None, **kwargs: Any) -> List[Union[str, List[str]]]:
    """Documents from text, JSONL or Parquet files, chosen by extension.

    Args:
        paths: str, path, or list of them.
        format: str or None. `"text"`, `"jsonl"` or `"parquet"`. Defaults to
            `None`: inferred from the first file's extension (`.jsonl`/`.json`
            -> JSONL, `.parquet`/`.pq` -> Parquet, anything else -> text).
        field: str or None. JSONL field / Parquet column. Defaults to `"text"`.
        **kwargs: Passed to the specific loader (`mode=` for text files).

    Returns:
        A list of documents (str or list of str).

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2.
    """
    if format is None:
        first = paths if isinstance(paths, (str, os.PathLike)) else (paths[0] if paths else "")
        first = os.fspath(first)
        if os.path.isdir(first):
            raise ValueError(f"Give `format=` when loading a directory. Received: paths={first!r}, format=None.")
        ext = os.path.splitext(first)[1].lower()
        format = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}.get(ext, "text")
    format = check_choice("format", format, ("text", "jsonl", "parquet"))
    if format == "jsonl":
        return load_jsonl_documents(paths, field=field or "text", **kwargs)
    if format == "parquet":
        return load_parquet_documents(paths, column=field or "text", **kwargs)
    if field is not None:
        raise ValueError(f"`field` does not apply to text files. Received: field={field!r}, format='text'.")
    return load_text_documents(paths, **kwargs)
