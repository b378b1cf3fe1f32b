"""POPE's yes/no parsing and scores (AoiDragon/POPE ``evaluate.py``; LLaVA's ``eval_pope.py``
is the same).

An answer counts as "no" when its first sentence (text before the first '.'), with
commas removed and split on single spaces, contains the word 'No', 'no' or 'not';
anything else counts as "yes". Quirks kept for comparable numbers: 'NO', 'Not' and a
'no' glued to a newline ('no\\nthe ...') read as yes. "yes" is the positive class.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from minigpt4_jax.evaluate.metrics.common import aligned, percent
from minigpt4_jax.evaluate.readers import POPERecord

NEGATIVE_WORDS = frozenset({'No', 'no', 'not'})


def pope_answer(text: str) -> str:
  """'yes' or 'no', by POPE's rule."""
  first_sentence = text.split('.')[0]
  return 'no' if NEGATIVE_WORDS & set(first_sentence.replace(',', '').split(' ')) else 'yes'


def pope_scores(records: Sequence[POPERecord], predictions: Mapping[int, str]) -> dict[str, float]:
  """Accuracy, precision, recall, F1 and the ratio of "yes" answers, in percent
  (precision is 0 when nothing is answered yes; POPE's script divides by zero)."""
  said = [pope_answer(p) == 'yes' for p in aligned(records, predictions)]
  truth = [r.label == 'yes' for r in records]
  tp = sum(s and t for s, t in zip(said, truth))
  tn = sum(not s and not t for s, t in zip(said, truth))
  precision = percent(tp, sum(said))
  recall = percent(tp, sum(truth))
  return {'accuracy': percent(tp + tn, len(records)), 'precision': precision, 'recall': recall,
          'f1': 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
          'yes_ratio': percent(sum(said), len(records))}
