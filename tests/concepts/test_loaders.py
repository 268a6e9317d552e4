import json
import os
import tempfile

import numpy as np

from dlzoo.concepts import (
    load_documents,
    load_jsonl_documents,
    load_parquet_documents,
    load_parquet_embeddings,
    load_text_documents,
)
from dlzoo.testing import TestCase


class LoadersTest(TestCase):
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()
        super().tearDown()

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_text_files(self):
        self._write("b.txt", "Second file. It has two sentences.\n")
        self._write("a.txt", "First doc.\r\nStill first.\n\n\nSecond doc.\n")
        self._write("sub/c.txt", "Nested file.")
        self._write("skip.md", "Not a .txt file.")
        self.assertEqual(
            load_text_documents(self.dir),
            ["First doc.\nStill first.\n\n\nSecond doc.", "Second file. It has two sentences.", "Nested file."],
        )
        self.assertEqual(
            load_text_documents(os.path.join(self.dir, "a.txt"), mode="blank_line"),
            ["First doc.\nStill first.", "Second doc."],
        )
        self.assertEqual(
            load_text_documents(os.path.join(self.dir, "a.txt"), mode="line"),
            ["First doc.", "Still first.", "Second doc."],
        )
        self.assertEqual(len(load_text_documents(os.path.join(self.dir, "*.txt"))), 2)
        with self.assertRaisesNamed(ValueError, "mode"):
            load_text_documents(self.dir, mode="paragraph")
        with self.assertRaisesNamed(FileNotFoundError, "paths"):
            load_text_documents(os.path.join(self.dir, "missing.txt"))

    def test_jsonl(self):
        records = [{"text": "One. Two.", "meta": {"body": "Nested."}},
                   {"text": ["Pre", "split"], "meta": {"body": "Again."}}]
        path = self._write("d.jsonl", "\n".join(json.dumps(r) for r in records) + "\n\n")
        self.assertEqual(load_jsonl_documents(path), ["One. Two.", ["Pre", "split"]])
        self.assertEqual(load_jsonl_documents(path, field="meta.body"), ["Nested.", "Again."])
        self.assertEqual(load_documents(path, field="meta.body"), ["Nested.", "Again."])
        with self.assertRaisesNamed(KeyError, "body2", "line 1"):
            load_jsonl_documents(path, field="body2")
        bad = self._write("bad.jsonl", json.dumps({"text": 3}) + "\n")
        with self.assertRaisesNamed(TypeError, "text"):
            load_jsonl_documents(bad)

    def test_parquet(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        emb = [np.arange(6, dtype="float32").reshape(2, 3).tolist(), np.ones((1, 3), "float32").tolist()]
        table = pa.table({
            "text": ["Doc one. Second.", None],
            "text_sentences": [["Doc one.", "Second."], ["Only."]],
            "text_sentences_emb": emb,
            "split": ["train", "validation"],
        })
        path = os.path.join(self.dir, "part-0.parquet")
        pq.write_table(table, path)
        self.assertEqual(load_parquet_documents(path), ["Doc one. Second."])
        self.assertEqual(load_parquet_documents(path, column="text_sentences"), [["Doc one.", "Second."], ["Only."]])
        self.assertEqual(load_documents(self.dir, format="parquet", field="text_sentences",
                                        filters=[("split", "=", "validation")]), [["Only."]])
        arrays = load_parquet_embeddings(path, column="text_sentences_emb")
        self.assertEqual([a.shape for a in arrays], [(2, 3), (1, 3)])
        self.assertEqual(arrays[0].dtype, np.float32)
        self.assertAllClose(arrays[0], np.arange(6).reshape(2, 3))
        with self.assertRaisesNamed(KeyError, "txt"):
            load_parquet_documents(path, column="txt")

    def test_load_documents_dispatch(self):
        txt = self._write("x.txt", "Plain text.")
        jl = self._write("x.jsonl", json.dumps({"text": "Json text."}) + "\n")
        self.assertEqual(load_documents(txt), ["Plain text."])
        self.assertEqual(load_documents([jl]), ["Json text."])
        with self.assertRaisesNamed(ValueError, "format"):
            load_documents(txt, format="csv")
        with self.assertRaisesNamed(ValueError, "format="):
            load_documents(self.dir)
        with self.assertRaisesNamed(ValueError, "field"):
            load_documents(txt, field="text")
