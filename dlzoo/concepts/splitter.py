"""Sentence splitting: raw documents -> lists of sentences ("concepts").

The Large Concept Model treats each sentence as one concept, so the first step
of the pipeline cuts a document into sentences. The reference pipeline uses a
neural splitter (SaT / wtpsplit), which cannot be had offline; this module
provides a documented rule-based English splitter with the same length
contract (no piece longer than `max_chars`, default 256, re-split at the same
fallback separators), behind a small registry so another splitter can be
plugged in by name:

>>> from dlzoo.concepts import split_sentences
>>> split_sentences("Mr. Smith paid $3.50 for it, e.g. at noon. Then he left.")
['Mr. Smith paid $3.50 for it, e.g. at noon.', 'Then he left.']

Register a new splitter with
`dlzoo.registry.register_component("sentence_splitter", "my_name")` on a class
whose instances have `split(text) -> list[str]`; then
`split_sentences(text, splitter="my_name")` uses it.
"""

import re
from typing import Any, Callable, List, Sequence, Union

from dlzoo.registry import component_registry, register_component
from dlzoo.validation import check_bool, check_int

SPLITTER_KIND = "sentence_splitter"

# The reference's fallback separators, tried in this order on pieces that are
# still longer than `max_chars` (lcm.md section 5.1).
FALLBACK_SEPARATORS = ("...", "\n", "!", "?", ";", ":", ".", ",", "\t", " ")

# Abbreviations whose final period never ends a sentence (lowercased, no final
# period): titles, Latin shorthands, references to figures/sections, months.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt rev gen col capt lt sgt hon gov pres rep sen
    e.g i.e cf vs viz al approx ca esp fig figs eq eqs sec ch vol vols no nos
    pp p op ed eds dept univ est min max avg ref refs
    jan feb mar apr jun jul aug sep sept oct nov dec
    mon tue tues wed thu thur thurs fri sat sun
    """.split()
)

# Abbreviations that often end a sentence: a boundary only if the next word is
# capitalized ("... apples, pears, etc. The next ...").
SENTENCE_FINAL_ABBREVIATIONS = frozenset("etc inc ltd co corp bros llc plc".split())

_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u2023\u25e6\u2043\u2219>]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")
_ENDS_SENTENCE = re.compile(r"[.!?:;]['\")\]\u201d\u2019]*\s*$")
# A candidate boundary: terminal punctuation (a run, "?!", "..."), optional
# closing quotes/brackets, then whitespace.
_CANDIDATE = re.compile(r"(\.\.\.|\u2026|[.!?]+)(['\")\]\u201d\u2019]*)(?=\s)")
_WORD_BEFORE = re.compile(r"([^\s(\[\"'\u201c\u2018]+)$")
_DOTTED_ACRONYM = re.compile(r"^(?:[A-Za-z]\.){2,}$")


class RuleBasedSplitter:
    """A rule-based English sentence splitter.

    The text is first cut into paragraphs at blank lines. Inside a paragraph,
    single newlines are treated as soft line wraps (joined with a space),
    except before bullet-like lines (`-`, `*`, `\u2022`, `1.`, `a)`, ...) and
    after lines that end with `.`, `!`, `?`, `:` or `;` or that look like a
    heading (a short line without final punctuation followed by a capital),
    where they are boundaries. Each segment is then split after `.`, `!`,
    `?`, an ellipsis (`...` or `\u2026`) and any closing quotes or brackets,
    when whitespace follows and the next word does not start with a lowercase
    letter, with these exceptions:

    * known abbreviations never end a sentence (`Mr.`, `Dr.`, `e.g.`, `i.e.`,
      `cf.`, `vs.`, `Fig.`, `No.`, months, ...), nor do single-letter
      initials (`J. R. Smith`) or dotted acronyms (`U.S.A.`);
    * `etc.`, `Inc.`, `Ltd.`, ... end a sentence only before a capital;
    * decimals (`3.14`), version numbers and URLs never split because the
      period is not followed by whitespace.

    Finally every piece longer than `max_chars` is re-split at the reference's
    fallback separators, tried in order (`"..."`, newline, `!`, `?`, `;`,
    `:`, `.`, `,`, tab, space): the piece is cut at every occurrence of the
    first separator it contains and neighbours are greedily merged back while
    they fit, then pieces still too long go to the next separator; a piece
    without any separator is cut every `max_chars` characters. Texts of at
    most `min_chars` characters are returned whole, as in the reference.

    Args:
        max_chars: int. Longest sentence kept whole, in characters.
            Defaults to `256` (the reference's limit).
        min_chars: int. Texts this short (after stripping) are never split.
            Defaults to `10` (the reference keeps texts of <= 10 characters).
        split_on_newlines: bool. If `True`, every newline is a boundary (for
            one-sentence-per-line inputs). Defaults to `False` (single
            newlines are soft wraps, with the heading and bullet exceptions).

    Example:

    >>> RuleBasedSplitter().split("Dr. Who arrived at 3.15 p.m. today... Why? "
    ...                           "Nobody knows!\\n- first item\\n- second item")
    ['Dr. Who arrived at 3.15 p.m. today...', 'Why?', 'Nobody knows!', '- first item', '- second item']

    Notes:
        The reference (Meta LCM, `sentence_splitter_pipeline.py`) uses the
        SaT neural splitter (`sat-3l`, threshold 0.2) and strips emojis; this
        splitter is a deterministic offline substitute with the same 256-char
        contract and fallback separators, and it keeps emojis.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2 (data preparation).
        - [Frohmann et al., 2024. Segment Any Text](https://arxiv.org/abs/2406.16678) (the reference's splitter).
    """

    def __init__(self, max_chars: int = 256, min_chars: int = 10, split_on_newlines: bool = False):
        self.max_chars = check_int("max_chars", max_chars, min_value=2)
        self.min_chars = check_int("min_chars", min_chars, min_value=0)
        self.split_on_newlines = check_bool("split_on_newlines", split_on_newlines)

    def get_config(self):
        return {
            "max_chars": self.max_chars,
            "min_chars": self.min_chars,
            "split_on_newlines": self.split_on_newlines,
        }

    def __call__(self, text: str) -> List[str]:
        return self.split(text)

    def split(self, text: str) -> List[str]:
        """Split `text` into a list of stripped, non-empty sentences."""
        if not isinstance(text, str):
            raise TypeError(f"`text` must be a string. Received: text of type {type(text).__name__}.")
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not text:
            return []
        if len(text) <= min(self.min_chars, self.max_chars):
            return [text]
        sentences = []
        for segment in self._segments(text):
            for sentence in _split_segment(segment):
                sentences.extend(resplit_long(sentence, self.max_chars))
        return sentences

    def _segments(self, text: str) -> List[str]:
        """Paragraph/line segments: blank lines, bullets and headings are hard boundaries."""
        segments = []
        for paragraph in re.split(r"\n\s*\n", text):
            lines = [line.strip() for line in paragraph.split("\n")]
            lines = [line for line in lines if line]
            if not lines:
                continue
            if self.split_on_newlines:
                segments.extend(lines)
                continue
            width = max(len(line) for line in lines)
            current = lines[0]
            for previous, line in zip(lines, lines[1:]):
                if _is_line_boundary(previous, line, width):
                    segments.append(current)
                    current = line
                else:
                    current = current + " " + line
            segments.append(current)
        return segments


def _is_line_boundary(previous: str, line: str, width: int) -> bool:
    if _BULLET.match(line):
        return True
    if _ENDS_SENTENCE.search(previous):
        return True
    # A heading: a short line without final punctuation, then a capitalized line.
    is_short = len(previous) < max(40, width // 2)
    return is_short and line[:1].isupper() and previous[-1:] not in ",-" and len(previous.split()) <= 8


def _split_segment(segment: str) -> List[str]:
    """Sentence boundaries inside one segment (no newlines)."""
    pieces = []
    start = 0
    for match in _CANDIDATE.finditer(segment):
        end = match.end()
        if _is_boundary(segment, match):
            piece = segment[start:end].strip()
            if piece:
                pieces.append(piece)
            start = end
    rest = segment[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _is_boundary(segment: str, match: "re.Match") -> bool:
    punctuation = match.group(1)
    after = segment[match.end():].lstrip()
    if not after:
        return True
    next_char = after[0]
    if next_char.islower():
        return False
    if punctuation != ".":
        return True
    word = _WORD_BEFORE.search(segment[: match.start()])
    word = word.group(1) if word else ""
    if not word:
        return True
    token = word + "."
    bare = word.lower()
    if bare in ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        return False  # an initial: "J. Smith"
    if _DOTTED_ACRONYM.match(token):
        return False  # "U.S.A." or "e.g." written without the known list
    if bare in SENTENCE_FINAL_ABBREVIATIONS:
        return next_char.isupper()
    return True


def resplit_long(sentence: str, max_chars: int, separators: Sequence[str] = FALLBACK_SEPARATORS) -> List[str]:
    """Cut a sentence longer than `max_chars` at fallback separators.

    Args:
        sentence: str. The piece to cut.
        max_chars: int. Longest allowed piece.
        separators: sequence of str. Separators tried in order; each
            occurrence stays attached to the text before it. Defaults to the
            reference's `("...", "\\n", "!", "?", ";", ":", ".", ",", "\\t", " ")`.

    Returns:
        A list of stripped, non-empty pieces, each at most `max_chars` long.

    Reference:
        - Meta LCM `sentence_splitter_pipeline.py` fallback separators (lcm.md section 5.1).
    """
    sentence = sentence.strip()
    if len(sentence) <= max_chars:
        return [sentence] if sentence else []
    for i, sep in enumerate(separators):
        if sep not in sentence:
            continue
        parts = [p for p in _cut_keep(sentence, sep)]
        merged = []
        for part in parts:
            if merged and len(merged[-1]) + len(part) <= max_chars:
                merged[-1] += part
            else:
                merged.append(part)
        if len(merged) == 1:
            continue  # the separator only occurs at the end
        out = []
        for piece in merged:
            out.extend(resplit_long(piece, max_chars, separators[i + 1:]))
        return out
    return [sentence[k:k + max_chars].strip() for k in range(0, len(sentence), max_chars) if sentence[k:k + max_chars].strip()]


def _cut_keep(text: str, sep: str) -> List[str]:
    pieces = text.split(sep)
    out = [p + sep for p in pieces[:-1]]
    if pieces[-1]:
        out.append(pieces[-1])
    return out


register_component(SPLITTER_KIND, "rule_based")(RuleBasedSplitter)


@register_component(SPLITTER_KIND, "line")
class LineSplitter:
    """One sentence per non-empty line (for pre-split corpora).

    Args:
        max_chars: int. Lines longer than this are re-split at the fallback
            separators. Defaults to `256`.

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2.
    """

    def __init__(self, max_chars: int = 256):
        self.max_chars = check_int("max_chars", max_chars, min_value=2)

    def get_config(self):
        return {"max_chars": self.max_chars}

    def __call__(self, text: str) -> List[str]:
        return self.split(text)

    def split(self, text: str) -> List[str]:
        """Split `text` at newlines, dropping blank lines."""
        out = []
        for line in text.splitlines():
            out.extend(resplit_long(line, self.max_chars))
        return out


def list_splitters() -> List[str]:
    """Names of the registered sentence splitters."""
    return component_registry(SPLITTER_KIND).names()


def get_splitter(splitter: Union[str, Any] = "rule_based", **kwargs: Any):
    """A splitter instance from a registered name, or `splitter` itself.

    Args:
        splitter: str, object with `split(text)`, or callable `text -> list`.
            A name is looked up in the `"sentence_splitter"` component
            registry and instantiated with `**kwargs`. Defaults to
            `"rule_based"`.
        **kwargs: Constructor arguments for a named splitter.

    Reference:
        - `dlzoo.registry.register_component` (the pluggable registry).
    """
    if isinstance(splitter, str):
        cls = component_registry(SPLITTER_KIND).get(splitter).obj
        return cls(**kwargs)
    if kwargs:
        raise ValueError(
            "Constructor arguments can only be given with a splitter name. "
            f"Received: splitter={splitter!r}, kwargs={sorted(kwargs)}."
        )
    if hasattr(splitter, "split") or callable(splitter):
        return splitter
    raise TypeError(
        "`splitter` must be a registered name, an object with `split(text)` or a callable. "
        f"Received: splitter={splitter!r} of type {type(splitter).__name__}."
    )


def split_sentences(text: str, splitter: Union[str, Any] = "rule_based", **kwargs: Any) -> List[str]:
    """Split one document into sentences.

    Args:
        text: str. The raw document.
        splitter: str or splitter object. A registered splitter name
            (`list_splitters()`), an object with `split(text)`, or a callable.
            Defaults to `"rule_based"` (`RuleBasedSplitter`).
        **kwargs: Constructor arguments for a named splitter (`max_chars=...`).

    Returns:
        A list of sentences (strings).

    Reference:
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.2.
    """
    obj = get_splitter(splitter, **kwargs)
    fn: Callable = obj.split if hasattr(obj, "split") else obj
    return list(fn(text))
