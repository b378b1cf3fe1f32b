"""Filter rules as data: a fixed description is dropped by the first rule that matches.

A rule is ``{"name", "kind", "params"}``; ``kind`` picks the check:

- ``regex``: ``params.pattern`` is found (case-insensitive unless ``params.case_sensitive``).
- ``repeated_sentences``: some sentence occurs ``params.max_count`` + 1 times or more
  (compared lower-cased, punctuation and spacing ignored).
- ``non_english``: more than ``params.max_non_ascii`` of the letters are not ASCII, or
  fewer than ``params.min_stopwords`` of the words are common English words.
- ``min_words``: fewer than ``params.minimum`` words.

The defaults hold the failure strings the paper filtered by hand ("I'm sorry I made a
mistake...", "I apologize for that ...") and the fixer's own chatter; a JSON list of
extra rules extends them, and an extra rule with a default's name replaces it.
"""

from __future__ import annotations

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
    if self.kind not in KINDS:
      raise ValueError(f'rule {self.name!r}: unknown kind {self.kind!r}; known: {sorted(KINDS)}')
    if self.kind == 'regex':
      re.compile(self.params['pattern'])  # a bad pattern fails when the rules load

  def matches(self, text: str) -> bool:
    return KINDS[self.kind](text, **self.params)


def _regex(text: str, pattern: str, case_sensitive: bool = False) -> bool:
  return re.search(pattern, text, 0 if case_sensitive else re.IGNORECASE) is not None


def sentences(text: str) -> list[str]:
  """Sentences, normalised: lower case, letters and digits only, single spaces."""
  parts = re.split(r'(?<=[.!?])\s+|\n+', text)
  return [s for s in (' '.join(re.findall(r'\w+', p.lower())) for p in parts) if s]


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


KINDS: dict[str, Callable[..., bool]] = {
    'regex': _regex, 'repeated_sentences': _repeated_sentences,
    'non_english': _non_english, 'min_words': _min_words}

DEFAULT_RULES = (
    Rule('apology', 'regex', {'pattern': r"\bI(?:'| a)m sorry\b|\bI apologi[sz]e\b|\bmy apologies\b"}),
    Rule('made_a_mistake', 'regex', {'pattern': r'\bI made a mistake\b'}),
    Rule('ai_disclaimer', 'regex', {'pattern': r'\bas an AI\b|\blanguage model\b'}),
    # The fixer talking about its task instead of returning the paragraph.
    Rule('fixer_comment', 'regex', {
        'pattern': r'\b(?:given|input|original|corrected) paragraph\b|^(?:here is|sure[,!])'}),
    Rule('repeated_sentences', 'repeated_sentences', {'max_count': 1}),
    Rule('non_english', 'non_english', {'max_non_ascii': 0.05, 'min_stopwords': 0.1}),
    Rule('too_short', 'min_words', {'minimum': 10}),
)


def first_match(text: str, rules: Sequence[Rule]) -> str | None:
  """The name of the first rule that drops ``text``, or None to keep it."""
  return next((r.name for r in rules if r.matches(text)), None)


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
