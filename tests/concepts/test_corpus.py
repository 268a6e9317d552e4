import sys

from dlzoo.concepts import (
    STDLIB_MODULES,
    Document,
    clean_docstring,
    corpus_stats,
    split_documents,
    stdlib_docstrings_corpus,
)
from dlzoo.concepts.corpus import stdlib_source_path
from dlzoo.testing import TestCase


class StdlibCorpusTest(TestCase):
    def test_module_list_is_fixed_sorted_and_present(self):
        self.assertEqual(list(STDLIB_MODULES), sorted(STDLIB_MODULES))
        self.assertEqual(len(set(STDLIB_MODULES)), len(STDLIB_MODULES))
        self.assertTrue(all(stdlib_source_path(m) for m in STDLIB_MODULES))

    def test_full_corpus_is_deterministic_and_sized(self):
        docs = stdlib_docstrings_corpus(min_sentences=4)
        stats = corpus_stats(docs)
        self.assertGreater(stats["documents"], 400)
        self.assertGreater(stats["sentences"], 3000)
        self.assertGreaterEqual(stats["sentences_per_document"]["min"], 4)
        self.assertLessEqual(stats["chars_per_sentence"]["max"], 256)
        if sys.version_info[:2] == (3, 11):  # the documented size (docstrings change across versions)
            self.assertEqual((stats["documents"], stats["sentences"]), (694, 5305))
        names = [d.name for d in docs]
        self.assertEqual(len(set(names)), len(names))
        again = stdlib_docstrings_corpus(min_sentences=4, max_documents=50)
        self.assertEqual([d.sentences for d in again], [d.sentences for d in docs[:50]])

    def test_options(self):
        docs = stdlib_docstrings_corpus(min_sentences=6, modules=["json", "bisect"], shuffle_seed=None)
        self.assertTrue(all(len(d) >= 6 for d in docs))
        self.assertTrue(all(d.name.split(".")[0] in ("json", "bisect") for d in docs))
        # Source order inside a module, modules sorted: bisect before json.
        modules = [d.name.split(".")[0] for d in docs]
        self.assertEqual(modules, sorted(modules))
        json_doc = [d for d in docs if d.name == "json"][0]
        self.assertFalse(any(">>>" in s for s in json_doc.sentences))
        self.assertEqual(stdlib_docstrings_corpus(modules=["no_such_module"]), [])
        with self.assertRaisesNamed(ValueError, "max_documents"):
            stdlib_docstrings_corpus(max_documents=0)

    def test_clean_docstring(self):
        text = (
            "Use :func:`json.dumps` and ``obj``.\n"
            "-------\n"
            "Example::\n\n    x = 1\n    y = 2\n\n"
            ">>> f(1)\n2\n\n"
            "Final words."
        )
        self.assertEqual(clean_docstring(text), "Use json.dumps and obj.\nExample:\n\nFinal words.")


class DocumentsTest(TestCase):
    def test_split_documents_and_stats(self):
        docs = split_documents(["One here. Two here.", ["Pre split.", " "], Document("d", ["x"])],
                               names=["a", "b", "c"])
        self.assertEqual([d.name for d in docs], ["a", "b", "d"])
        self.assertEqual(docs[0].sentences, ["One here.", "Two here."])
        self.assertEqual(docs[1].sentences, ["Pre split."])
        self.assertEqual(len(split_documents(["One here. Two here.", "Single."], min_sentences=2)), 1)
        stats = corpus_stats(docs)
        self.assertEqual(stats["documents"], 3)
        self.assertEqual(stats["sentences"], 4)
        self.assertEqual(stats["sentences_per_document"]["max"], 2)
        with self.assertRaisesNamed(TypeError, "index 0"):
            split_documents([3])
