"""VQAv2 / OK-VQA accuracy (``vqaEval.py``) and GQA exact match.

VQA accuracy of an answer among N annotators' answers: for each annotator, the
fraction min(1, #other annotators who gave the answer / 3); averaged over the N
leave-one-out subsets. With 10 annotators, 1/2/3/4 matches give 0.3/0.6/0.9/1.0.
The prediction is always normalized (``answers.normalize_answer``); the annotators'
answers get ``process_punctuation`` only, and only when they disagree: vqaEval's
rule (annotations were normalized when the dataset was built).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

from minigpt4_jax.evaluate.metrics.answers import normalize_answer, process_punctuation
from minigpt4_jax.evaluate.metrics.common import aligned, percent
from minigpt4_jax.evaluate.readers import GQARecord, VQARecord


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
  """One question's accuracy in [0, 1]."""
  predicted = normalize_answer(prediction)
  if len(set(answers)) > 1:
    answers = [process_punctuation(a) for a in answers]
  matches = [a == predicted for a in answers]
  total = sum(matches)
  # Leaving out annotator i leaves total - matches[i] matching answers among the others.
  return sum(min(1.0, (total - m) / 3) for m in matches) / len(answers)


def vqa_scores(records: Sequence[VQARecord], predictions: Mapping[int, str]) -> dict[str, float]:
  """Overall accuracy and accuracy per answer type ('yes/no', 'number', 'other'), in percent."""
  by_type: dict[str, list[float]] = defaultdict(list)
  for record, prediction in zip(records, aligned(records, predictions)):
    by_type[record.answer_type].append(vqa_accuracy(prediction, record.answers))
  scores = [s for group in by_type.values() for s in group]
  return {'accuracy': percent(sum(scores), len(scores)),
          **{f'accuracy/{t}': percent(sum(s), len(s)) for t, s in sorted(by_type.items())}}


def gqa_scores(records: Sequence[GQARecord], predictions: Mapping[str, str]) -> dict[str, float]:
  """Exact match in percent, both sides normalized as VQA predictions are (GQA's
  eval.py compares raw strings, which a free-form generator never hits exactly)."""
  hits = sum(normalize_answer(p) == normalize_answer(r.answer)
             for r, p in zip(records, aligned(records, predictions)))
  return {'accuracy': percent(hits, len(records))}
