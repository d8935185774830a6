"""Looking concept names up in a word-vector vocabulary: a ``WordTable`` (numpy only), or a gensim
``KeyedVectors`` where gensim read the file (a fastText ``.bin``, a ``.kv`` pickle).

For one name (the synonym order and clashes are ``match_concept_names``'s part):
a single word is looked up as is; a multiword name ("tabby cat") uses the
model's phrase token ("tabby_cat" in GoogleNews) where the model joins phrases
and has it, else (when ``mean_fallback``) the mean of its words' vectors, flagged
``how="mean"``. A word the model lacks counts as its pieces split at hyphens
and apostrophes ("jack-o'-lantern": jack, o, lantern; "potter's": potter, 's).
Cased models try the name as written, then lower-cased; uncased models (GloVe)
try only the lower-cased name. A fastText model with ``subwords`` gives a word
outside its vocabulary the vector it builds from the word's character n-grams
(``how="word"``, the preferred spelling above), so every word has one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from benchsuite.plugin import Concept, ConceptVector, match_concept_names

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from benchsuite_builtins._shared.word_table import WordTable

WORD_PIECES = re.compile(r"'s\b|[^\s'\-]+")


class WordVectors:
    """A loaded word-vector model: concept names to vectors by the rule above."""

    def __init__(
        self,
        vectors: WordTable | KeyedVectors,
        *,
        fingerprint: str,
        cased: bool,
        phrase_joiner: str | None = None,
        mean_fallback: bool = True,
        subwords: bool = False,
    ):
        self.vectors = vectors
        # the lookup rule changes the vectors as much as the file does
        self.fingerprint = f"{fingerprint};cased={cased};phrase_joiner={phrase_joiner};mean_fallback={mean_fallback}"
        if subwords:
            self.fingerprint += ";subwords=True"
        self.subwords = subwords
        self.cased = cased
        self.phrase_joiner = phrase_joiner
        self.mean_fallback = mean_fallback
        self.dimension = vectors.vector_size

    def _spellings(self, text: str) -> list[str]:
        return list(dict.fromkeys([text, text.lower()])) if self.cased else [text.lower()]

    def _token(self, text: str) -> str | None:
        found = next((s for s in self._spellings(text) if s in self.vectors.key_to_index), None)
        if found is None and self.subwords:
            return self._spellings(text)[0]
        return found

    def _vector(self, token: str) -> np.ndarray:
        return np.asarray(self.vectors[token], dtype=np.float32).copy()

    def _words(self, name: str) -> list[str] | None:
        """The vocabulary tokens for each word of ``name`` (hyphenated words split if needed)."""
        tokens = []
        for word in name.split():
            token = self._token(word)
            if token is not None:
                tokens.append(token)
                continue
            pieces = WORD_PIECES.findall(word)
            parts = [self._token(piece) for piece in pieces]
            known = [part for part in parts if part is not None]
            if pieces == [word] or not parts or len(known) < len(parts):
                return None
            tokens.extend(known)
        return tokens

    def lookup(self, name: str) -> ConceptVector | None:
        """One name's vector and how it was matched, or None."""
        words = name.split()
        if len(words) == 1 and (token := self._token(name)) is not None:
            return ConceptVector(vector=self._vector(token), matched=token, how="word")
        if len(words) > 1 and self.phrase_joiner is not None:
            token = self._token(self.phrase_joiner.join(words))
            if token is not None:
                return ConceptVector(vector=self._vector(token), matched=token, how="phrase")
        if not self.mean_fallback:
            return None
        tokens = self._words(name)
        if not tokens:
            return None
        mean = np.mean([self._vector(token) for token in tokens], axis=0, dtype=np.float64)
        return ConceptVector(vector=mean.astype(np.float32), matched=" ".join(tokens), how="mean")

    def embed(self, concepts: Sequence[Concept]) -> Mapping[str, ConceptVector]:
        """Vectors by concept id; a concept none of whose names match is absent."""
        return match_concept_names(concepts, self.lookup)
