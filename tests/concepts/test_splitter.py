import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dlzoo.concepts import splitter as splitter_module
from dlzoo.concepts.splitter import (
    FALLBACK_SEPARATORS,
    LineSplitter,
    RuleBasedSplitter,
    get_splitter,
    list_splitters,
    resplit_long,
    split_sentences,
)
from dlzoo.registry import register_component
from dlzoo.testing import TestCase


def _squash(text):
    return re.sub(r"\s+", "", text)


class RuleBasedSplitterTest(TestCase):
    def test_cases(self):
        cases = {
            "Mr. Smith paid $3.50 for it, e.g. at noon. Then he left.":
                ["Mr. Smith paid $3.50 for it, e.g. at noon.", "Then he left."],
            "Dr. Who arrived at 3.15 p.m. today... Why? Nobody knows!":
                ["Dr. Who arrived at 3.15 p.m. today...", "Why?", "Nobody knows!"],
            'He said "Stop." Then he ran.': ['He said "Stop."', "Then he ran."],
            "The U.S.A. is big. See Fig. 3 in J. R. Smith's book, i.e. page 2.":
                ["The U.S.A. is big.", "See Fig. 3 in J. R. Smith's book, i.e. page 2."],
            "We sell apples, pears, etc. The end. Apples, pears, etc. are fruit.":
                ["We sell apples, pears, etc.", "The end.", "Apples, pears, etc. are fruit."],
            "Version 3.11.2 is out! Visit python.org/x.html now. Done.":
                ["Version 3.11.2 is out!", "Visit python.org/x.html now.", "Done."],
            "The value is 1.5... and so on. Wait\u2026 What?!":
                ["The value is 1.5... and so on.", "Wait\u2026", "What?!"],
            "(It works.) And then? it stops.": ["(It works.)", "And then? it stops."],
        }
        s = RuleBasedSplitter()
        for text, expected in cases.items():
            self.assertEqual(s.split(text), expected, msg=text)

    def test_newlines_bullets_and_headings(self):
        text = (
            "Introduction\n"
            "This paragraph is wrapped over\nseveral lines and ends here. A second sentence.\n"
            "\n\n"
            "Items:\n- first item\n* second item\n1. third item\n2) fourth item\n"
            "\n"
            "Last paragraph."
        )
        self.assertEqual(
            split_sentences(text),
            [
                "Introduction",
                "This paragraph is wrapped over several lines and ends here.",
                "A second sentence.",
                "Items:",
                "- first item",
                "* second item",
                "1. third item",
                "2) fourth item",
                "Last paragraph.",
            ],
        )
        self.assertEqual(
            RuleBasedSplitter(split_on_newlines=True).split("one line\ntwo line\n\nthree"),
            ["one line", "two line", "three"],
        )

    def test_short_and_empty_texts(self):
        self.assertEqual(split_sentences(""), [])
        self.assertEqual(split_sentences("  \n "), [])
        self.assertEqual(split_sentences("Hi. Yo."), ["Hi. Yo."])  # <= 10 chars: kept whole
        self.assertEqual(split_sentences("Hi. Yo. Hey."), ["Hi.", "Yo.", "Hey."])

    def test_long_pieces_resplit_at_reference_separators(self):
        self.assertEqual(FALLBACK_SEPARATORS, ("...", "\n", "!", "?", ";", ":", ".", ",", "\t", " "))
        clause = "word " * 10  # 50 chars
        text = "; ".join([clause.strip()] * 8)  # one "sentence" of ~390 chars
        pieces = RuleBasedSplitter(max_chars=120).split(text)
        self.assertTrue(all(len(p) <= 120 for p in pieces), pieces)
        self.assertTrue(all(p.endswith(";") for p in pieces[:-1]), pieces)  # cut at ";" before ","/space
        self.assertEqual(_squash("".join(pieces)), _squash(text))
        # Comma before space; a separator-free run is cut every max_chars characters.
        self.assertEqual(resplit_long("aaaa, bbbb, cccc", 11), ["aaaa, bbbb,", "cccc"])
        self.assertEqual(resplit_long("x" * 25, 10), ["x" * 10, "x" * 10, "x" * 5])

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.sampled_from(list("ab .!?,;:\n\tAB1") + ["...", "Mr.", "e.g.", "\n\n", "- "]),
                    max_size=200).map("".join),
           st.integers(min_value=5, max_value=60))
    def test_pieces_bounded_and_nothing_lost(self, text, max_chars):
        pieces = RuleBasedSplitter(max_chars=max_chars).split(text)
        self.assertTrue(all(0 < len(p) <= max_chars for p in pieces))
        self.assertTrue(all(p == p.strip() for p in pieces))
        self.assertEqual(_squash("".join(pieces)), _squash(text))

    def test_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "max_chars"):
            RuleBasedSplitter(max_chars=1)
        with self.assertRaisesNamed(TypeError, "split_on_newlines"):
            RuleBasedSplitter(split_on_newlines="yes")
        with self.assertRaisesNamed(TypeError, "text"):
            RuleBasedSplitter().split(["not", "a", "string"])


class SplitterRegistryTest(TestCase):
    def test_registry(self):
        self.assertIn("rule_based", list_splitters())
        self.assertIn("line", list_splitters())
        self.assertIsInstance(get_splitter("rule_based", max_chars=50), RuleBasedSplitter)
        self.assertEqual(get_splitter("rule_based", max_chars=50).max_chars, 50)
        self.assertEqual(split_sentences("a b\n\nc. d", splitter="line"), ["a b", "c. d"])
        self.assertIsInstance(get_splitter("line"), LineSplitter)

    def test_unknown_name_and_bad_objects(self):
        with self.assertRaisesNamed(ValueError, "rule_basd", "rule_based"):
            split_sentences("x", splitter="rule_basd")
        with self.assertRaisesNamed(TypeError, "splitter"):
            get_splitter(42)
        with self.assertRaisesNamed(ValueError, "kwargs"):
            get_splitter(RuleBasedSplitter(), max_chars=3)

    def test_plug_in_a_new_splitter(self):
        name = "test_comma_splitter"
        if name not in list_splitters():

            @register_component(splitter_module.SPLITTER_KIND, name)
            class CommaSplitter:
                def split(self, text):
                    return [p.strip() for p in text.split(",") if p.strip()]

        self.assertEqual(split_sentences("a, b,c", splitter=name), ["a", "b", "c"])
        self.assertEqual(split_sentences("x y", splitter=lambda t: t.split()), ["x", "y"])
