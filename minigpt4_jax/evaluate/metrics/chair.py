"""CHAIR object hallucination (Rohrbach et al. 2018; LisaAnne/Hallucination ``utils/chair.py``).

A caption mentions COCO objects: its words, singularized, with known two-word names
joined, looked up in the synonym list of the original (``coco_synonyms.txt``,
``data/synonyms.txt`` there, verbatim: one line per category, the category first).
An image's ground-truth objects are its instance-annotated categories plus every
object its reference captions mention. Then

  CHAIR_i = mentions of objects not in the image / all object mentions
  CHAIR_s = captions with at least one such mention / all captions

Rules kept from the original: two-word names ('hot dog', 'teddy bear', ...) count
once; 'baby'/'adult' + animal counts as the animal and 'passenger' + jet/train as
the vehicle (not as a person); 'bow tie' is a tie and 'toilet seat' a toilet; 'seat'
is dropped from captions that also mention a toilet. The synonym file is parsed as
the original parses it, so its slips stay: ' motor bike' and ' cheesecake' (after a
double space) and 'iPhone' (upper case) never match.

Deviations: the original tokenizes with ``nltk.word_tokenize`` and singularizes with
``pattern.en.singularize`` (neither installs offline nor on current Python without
extra data); we split on letters/digits/hyphens and singularize with ``singular``,
rules that agree with pattern on the COCO vocabulary except that 'glasses' becomes
'glass' (pattern: 'glas', hence the original's 'wine glas' rule, not needed here).
The average caption length the MiniGPT-4 paper reports is in whitespace-separated
words.
"""

from __future__ import annotations

import functools
import pathlib
import re
from typing import Mapping, Sequence

from minigpt4_jax.evaluate.metrics.common import aligned, percent
from minigpt4_jax.evaluate.readers import ChairRecord

SYNONYMS_FILE = pathlib.Path(__file__).with_name('coco_synonyms.txt')

# The original's rules, in its order (a later entry wins).
_COCO_DOUBLE_WORDS = (
    'motor bike', 'motor cycle', 'air plane', 'traffic light', 'street light', 'traffic signal',
    'stop light', 'fire hydrant', 'stop sign', 'parking meter', 'suit case', 'sports ball',
    'baseball bat', 'baseball glove', 'tennis racket', 'wine glass', 'hot dog', 'cell phone',
    'mobile phone', 'teddy bear', 'hair drier', 'potted plant', 'bow tie', 'laptop computer',
    'stove top oven', 'home plate')
_ANIMAL_WORDS = ('bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
                 'giraffe', 'animal', 'cub')
_VEHICLE_WORDS = ('jet', 'train')
DOUBLE_WORDS = {
    **{w: w for w in _COCO_DOUBLE_WORDS},
    **{f'{age} {animal}': animal for animal in _ANIMAL_WORDS for age in ('baby', 'adult')},
    **{f'passenger {vehicle}': vehicle for vehicle in _VEHICLE_WORDS},
    'bow tie': 'tie',
    'toilet seat': 'toilet',
}

_WORD = re.compile(r'[a-z0-9]+(?:-[a-z0-9]+)*')
_IRREGULAR_PLURALS = {'geese': 'goose', 'mice': 'mouse', 'knives': 'knife', 'calves': 'calf',
                      'busses': 'bus'}


@functools.cache
def synonyms() -> dict[str, str]:
  """Every object word -> its COCO category, parsed as the original does."""
  table = {}
  for line in SYNONYMS_FILE.read_text(encoding='utf-8').splitlines():
    words = line.strip().split(', ')
    for word in words:
      table[word] = words[0]
  return table


def singular(word: str) -> str:
  """A lower-case noun's singular. Object names stay as they are ('people', 'skis',
  'scissors', 'cattle'); a plural of one loses its 's'/'es' ('taxis', 'buses');
  other words get English plural rules, which matter for two-word names
  ('parking meters', 'wine glasses')."""
  table = synonyms()
  if word in table:
    return word
  if word in _IRREGULAR_PLURALS:
    return _IRREGULAR_PLURALS[word]
  for suffix in ('s', 'es'):
    if word.endswith(suffix) and word[:-len(suffix)] in table:
      return word[:-len(suffix)]
  if word.endswith('men') and len(word) > 4:  # women, policemen (not 'omen')
    return word[:-3] + 'man'
  if word.endswith('ies') and len(word) > 4:  # puppies, ladies
    return word[:-3] + 'y'
  if word.endswith(('sses', 'shes', 'ches', 'xes', 'zzes')):  # glasses, dishes, boxes
    return word[:-2]
  if word.endswith('s') and not word.endswith(('ss', 'us', 'is')):  # meters (not glass, tennis)
    return word[:-1]
  return word


def caption_objects(caption: str) -> list[tuple[str, str]]:
  """(word as matched, COCO category) for each object mention, in order."""
  words = [singular(w) for w in _WORD.findall(caption.lower())]
  joined, i = [], 0
  while i < len(words):
    pair = ' '.join(words[i:i + 2])
    if pair in DOUBLE_WORDS:
      joined.append(DOUBLE_WORDS[pair])
      i += 2
    else:
      joined.append(words[i])
      i += 1
  if 'toilet' in joined and 'seat' in joined:  # "the seat of the toilet" is not a chair
    joined = [w for w in joined if w != 'seat']
  table = synonyms()
  return [(w, table[w]) for w in joined if w in table]


def ground_truth_objects(record: ChairRecord) -> set[str]:
  """The image's categories: annotated instances plus what its references mention."""
  table = synonyms()
  unknown = [name for name in record.objects if name not in table]
  if unknown:
    raise ValueError(f'image {record.sample_id}: {unknown} are not COCO category names')
  return {table[name] for name in record.objects} | {
      category for ref in record.references for _, category in caption_objects(ref)}


def hallucinations(caption: str, record: ChairRecord) -> list[tuple[str, str]]:
  """The caption's mentions of objects the image does not have."""
  truth = ground_truth_objects(record)
  return [(w, c) for w, c in caption_objects(caption) if c not in truth]


def chair_scores(records: Sequence[ChairRecord],
                 predictions: Mapping[int, str]) -> dict[str, float]:
  """CHAIR_s and CHAIR_i in percent, and the average caption length in words."""
  captions = aligned(records, predictions)
  mentions = [len(caption_objects(c)) for c in captions]
  wrong = [len(hallucinations(c, r)) for r, c in zip(records, captions)]
  return {'CHAIR_s': percent(sum(w > 0 for w in wrong), len(captions)),
          'CHAIR_i': percent(sum(wrong), sum(mentions)),
          'length_words': sum(len(c.split()) for c in captions) / len(captions)}
