"""Exact-answer scores of MiniGPT-v2's ``eval_scripts/eval_vqa.py`` (Vision-CAIR/MiniGPT-4).

Answers are compared case-insensitively after stripping whitespace and ``<unk>``.
VSR: 'true' for a true statement, 'false' for a false one. Hateful Memes: 'yes' is
hateful, 'no' is not; any other answer is wrong (accuracy, not the challenge's AUC).
VizWiz: an answer scores min(#annotators who gave exactly it / 3, 1), with no VQA
answer normalization (no punctuation, article or number-word handling).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from minigpt4_jax.evaluate.extra_readers import IconQARecord, StatementRecord, VizWizRecord
from minigpt4_jax.evaluate.metrics.common import aligned, percent


def _clean(answer: str) -> str:
  return answer.replace('<unk>', '').strip().lower()


def _binary_accuracy(records: Sequence[StatementRecord], predictions: Mapping, positive: str,
                     negative: str) -> dict[str, float | int]:
  answers = [_clean(p) for p in aligned(records, predictions)]
  correct = sum(a == (positive if r.label else negative) for r, a in zip(records, answers))
  return {'accuracy': percent(correct, len(records)),
          'other_answers': sum(a not in (positive, negative) for a in answers)}


def vsr_scores(records: Sequence[StatementRecord], predictions: Mapping) -> dict[str, float | int]:
  return _binary_accuracy(records, predictions, 'true', 'false')


def hateful_scores(records: Sequence[StatementRecord], predictions: Mapping
                   ) -> dict[str, float | int]:
  return _binary_accuracy(records, predictions, 'yes', 'no')


def vizwiz_scores(records: Sequence[VizWizRecord], predictions: Mapping) -> dict[str, float]:
  total = 0.0
  for record, answer in zip(records, aligned(records, predictions)):
    answer = _clean(answer)
    total += min(sum(a.lower() == answer for a in record.answers) / 3, 1.0)
  return {'accuracy': percent(total, len(records))}


def choice_scores(records: Sequence[IconQARecord], predictions: Mapping) -> dict[str, float]:
  """Accuracy of predictions that are one of the record's choices (IconQA)."""
  correct = sum(p == r.choices[r.answer] for r, p in zip(records, aligned(records, predictions)))
  return {'accuracy': percent(correct, len(records))}
