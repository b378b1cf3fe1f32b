"""Filter rules as data: a fixed description is dropped by the first rule that matches.

A rule is ``{"name", "kind", "params"}``; ``kind`` picks the check. Most kinds look at
one text:

- ``regex``: ``params.pattern`` is found (case-insensitive unless ``params.case_sensitive``).
- ``repeated_sentences``: some sentence occurs ``params.max_count`` + 1 times or more
  (compared lower-cased, punctuation and spacing ignored).
- ``non_english``: more than ``params.max_non_ascii`` of the letters are not ASCII, or
  fewer than ``params.min_stopwords`` of the words are common English words.
- ``min_words``: fewer than ``params.minimum`` words.
- ``repeated_ngram``: degenerate repetition of phrases ("a mortar a mortar that and a
  mortar"): for some ``n`` of ``params.n``, the most frequent word n-gram, counted at
  every occurrence, holds more than the matching ``params.max_fraction`` of the
  text's characters (Gopher's repetition filter, Rae et al. 2021, arXiv:2112.11446
  appendix A.1.1: 0.20, 0.18 and 0.16 for 2-, 3- and 4-grams). Gopher filters whole
  documents; a caption is short enough that "of the" twice passes 0.20, so an n-gram
  counts only once it occurs ``params.min_count`` times.

One kind looks at the whole set of fixed texts at once:

- ``duplicate_caption``: the same text (compared as ``repeated_sentences`` compares)
  describes more than ``params.max_images`` images. All of them are dropped: a text
  that fits many images says nothing about any one of them.

The defaults hold the failure strings the paper filtered by hand ("I'm sorry I made a
mistake...", "I apologize for that ...") and the fixer's own chatter; a JSON list of
extra rules extends them, and an extra rule with a default's name replaces it.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import re
from typing import Any, Callable, Sequence

from minigpt4_jax.errors import BadInput
from minigpt4_jax.inputs import read_json, require_file

# The most frequent English words: an English paragraph has plenty, word salad few.
STOPWORDS = frozenset(
    'a an the and or but of in on at to for with by from is are was were be been it its this '
    'that these those there here as has have had he she they we you his her their our not no '
    'which who while into over under near next some two one'.split())


@dataclasses.dataclass(frozen=True)
class Rule:
  name: str
  kind: str
  params: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.kind not in KINDS and self.kind not in SET_KINDS:
      known = sorted({*KINDS, *SET_KINDS})
      raise ValueError(f'rule {self.name!r}: unknown kind {self.kind!r}; known: {known}')
    if self.kind == 'regex':
      re.compile(self.params['pattern'])  # a bad pattern fails when the rules load

  def matches(self, text: str) -> bool:
    """Whether the rule drops ``text`` on its own (a set rule never drops a lone text)."""
    return self.flags([text])[0]

  def flags(self, texts: Sequence[str]) -> list[bool]:
    """Per text of the set ``texts``: whether the rule drops it."""
    if self.kind in SET_KINDS:
      return SET_KINDS[self.kind](texts, **self.params)
    return [KINDS[self.kind](t, **self.params) for t in texts]


def _regex(text: str, pattern: str, case_sensitive: bool = False) -> bool:
  return re.search(pattern, text, 0 if case_sensitive else re.IGNORECASE) is not None


def normalized(text: str) -> str:
  """Lower case, letters and digits only, single spaces."""
  return ' '.join(re.findall(r'\w+', text.lower()))


def sentences(text: str) -> list[str]:
  """Sentences, ``normalized``."""
  parts = re.split(r'(?<=[.!?])\s+|\n+', text)
  return [s for s in (normalized(p) for p in parts) if s]


def _repeated_sentences(text: str, max_count: int = 1) -> bool:
  seen: dict[str, int] = {}
  for s in sentences(text):
    seen[s] = seen.get(s, 0) + 1
    if seen[s] > max_count:
      return True
  return False


def _non_english(text: str, max_non_ascii: float = 0.05, min_stopwords: float = 0.1) -> bool:
  letters = [c for c in text if c.isalpha()]
  if not letters:
    return True
  if sum(not c.isascii() for c in letters) / len(letters) > max_non_ascii:
    return True
  words = re.findall(r"[a-z']+", text.lower())
  return sum(w in STOPWORDS for w in words) / max(len(words), 1) < min_stopwords


def _min_words(text: str, minimum: int = 10) -> bool:
  return len(text.split()) < minimum


def top_ngram_fraction(words: Sequence[str], n: int, min_count: int = 2) -> float:
  """The share of the words' characters in the most frequent n-gram, counted at every
  occurrence; 0 when no n-gram occurs ``min_count`` times."""
  counts = collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
  if not counts:
    return 0.0
  gram, count = counts.most_common(1)[0]
  if count < min_count:
    return 0.0
  return count * sum(map(len, gram)) / sum(map(len, words))


def _repeated_ngram(text: str, n: Sequence[int] = (2, 3, 4),
                    max_fraction: Sequence[float] = (0.20, 0.18, 0.16), min_count: int = 3) -> bool:
  if len(n) != len(max_fraction):
    raise ValueError(f'n {list(n)} and max_fraction {list(max_fraction)} differ in length')
  words = normalized(text).split()
  return any(top_ngram_fraction(words, size, min_count) > limit
             for size, limit in zip(n, max_fraction))


def _duplicate_caption(texts: Sequence[str], max_images: int = 1) -> list[bool]:
  counts = collections.Counter(normalized(t) for t in texts)
  return [counts[normalized(t)] > max_images for t in texts]


KINDS: dict[str, Callable[..., bool]] = {
    'regex': _regex, 'repeated_sentences': _repeated_sentences,
    'non_english': _non_english, 'min_words': _min_words, 'repeated_ngram': _repeated_ngram}
# Kinds over the whole set: (texts, **params) -> per text, whether it is dropped.
SET_KINDS: dict[str, Callable[..., list[bool]]] = {'duplicate_caption': _duplicate_caption}

DEFAULT_RULES = (
    Rule('apology', 'regex', {'pattern': r"\bI(?:'| a)m sorry\b|\bI apologi[sz]e\b|\bmy apologies\b"}),
    Rule('made_a_mistake', 'regex', {'pattern': r'\bI made a mistake\b'}),
    Rule('ai_disclaimer', 'regex', {'pattern': r'\bas an AI\b|\blanguage model\b'}),
    # The fixer talking about its task instead of returning the paragraph.
    Rule('fixer_comment', 'regex', {
        'pattern': r'\b(?:given|input|original|corrected) paragraph\b|^(?:here is|sure[,!])'}),
    Rule('repeated_sentences', 'repeated_sentences', {'max_count': 1}),
    Rule('repeated_ngram', 'repeated_ngram',
         {'n': [2, 3, 4], 'max_fraction': [0.20, 0.18, 0.16], 'min_count': 3}),
    Rule('duplicate_caption', 'duplicate_caption', {'max_images': 1}),
    Rule('non_english', 'non_english', {'max_non_ascii': 0.05, 'min_stopwords': 0.1}),
    Rule('too_short', 'min_words', {'minimum': 10}),
)


def first_match(text: str, rules: Sequence[Rule]) -> str | None:
  """The name of the first rule that drops ``text`` on its own, or None to keep it."""
  return first_matches([text], rules)[0]


def first_matches(texts: Sequence[str], rules: Sequence[Rule]) -> list[str | None]:
  """Per text of the set ``texts``: the name of the first rule that drops it, or None."""
  flags = [rule.flags(texts) for rule in rules]
  return [next((r.name for r, f in zip(rules, flags) if f[i]), None) for i in range(len(texts))]


def parse_rules(items: Any, where: str) -> list[Rule]:
  if not isinstance(items, list):
    raise BadInput(f'{where}: expected a JSON list of {{"name", "kind", "params"}}')
  rules = []
  for i, item in enumerate(items):
    if not isinstance(item, dict) or not {'name', 'kind'} <= item.keys():
      raise BadInput(f'{where}: rule {i} needs "name" and "kind": {item!r}')
    try:
      rule = Rule(item['name'], item['kind'], dict(item.get('params', {})))
      rule.matches('probe')  # unknown params fail here, naming the rule
    except (ValueError, TypeError, KeyError, re.error) as err:
      raise BadInput(f'{where}: rule {i} ({item["name"]!r}): {err}') from None
    rules.append(rule)
  return rules


def load_rules(extra: str | pathlib.Path | None = None,
               defaults: Sequence[Rule] = DEFAULT_RULES) -> list[Rule]:
  """The defaults, then the rules of the JSON file ``extra`` (same name: replaced in place)."""
  rules = list(defaults)
  if extra is None:
    return rules
  path = pathlib.Path(extra)
  for rule in parse_rules(read_json(require_file(path, '--rules file')), str(path)):
    names = [r.name for r in rules]
    if rule.name in names:
      rules[names.index(rule.name)] = rule
    else:
      rules.append(rule)
  return rules
