"""A-OKVQA multiple-choice and direct-answer accuracy (allenai/aokvqa ``eval_predictions.py``).

- Multiple choice: accuracy of the choice a prediction maps to (``map_to_choice``),
  over all questions. The official script takes predictions that already are one of
  the choices and maps free text with GloVe embeddings (``map_to_choices``); we map
  without a model: an option letter, else the choice equal after VQA normalization,
  else the unique choice with the highest token F1; otherwise no choice (wrong).
- Direct answer: min(1, #direct answers equal to the prediction / 3), without
  vqaEval's leave-one-out averaging, over the questions not marked
  ``difficult_direct_answer`` (as the official script). The prediction is normalized
  as a VQA prediction; direct answers are compared as stored (already normalized).
"""

from __future__ import annotations

import collections
import re
from typing import Mapping, Sequence

from minigpt4_jax.evaluate.metrics.answers import normalize_answer
from minigpt4_jax.evaluate.metrics.common import aligned, percent
from minigpt4_jax.evaluate.readers import AOKVQARecord
from minigpt4_jax.text.prompts import OPTION_LETTERS

# 'B', '(B)', 'B.', 'B)', 'B: cab', 'B. cab' name option B; 'A dog' does not.
_LETTER = re.compile(r'\(?([A-J])\)?(?:[.:)].*)?', re.DOTALL)


def token_f1(a: str, b: str) -> float:
  """SQuAD-style F1 of the whitespace tokens of two (normalized) strings."""
  ta, tb = a.split(), b.split()
  common = sum((collections.Counter(ta) & collections.Counter(tb)).values())
  return 2 * common / (len(ta) + len(tb)) if common else 0.0


def map_to_choice(prediction: str, choices: Sequence[str]) -> int | None:
  """The index of the choice ``prediction`` names, or None."""
  letter = _LETTER.fullmatch(prediction.strip())
  if letter and OPTION_LETTERS.index(letter.group(1)) < len(choices):
    return OPTION_LETTERS.index(letter.group(1))
  predicted = normalize_answer(prediction)
  normalized = [normalize_answer(c) for c in choices]
  if predicted in normalized:
    return normalized.index(predicted)
  f1 = [token_f1(predicted, c) for c in normalized]
  best = max(f1)
  return f1.index(best) if best > 0 and f1.count(best) == 1 else None


def direct_answer_accuracy(prediction: str, direct_answers: Sequence[str]) -> float:
  return min(1.0, sum(normalize_answer(prediction) == a for a in direct_answers) / 3)


def aokvqa_scores(records: Sequence[AOKVQARecord],
                  predictions: Mapping[str, str]) -> dict[str, float]:
  """In percent: MC accuracy, DA accuracy, and how many predictions named no choice."""
  preds = aligned(records, predictions)
  mapped = [map_to_choice(p, r.choices) for r, p in zip(records, preds)]
  mc_hits = sum(m == r.correct_choice_idx for r, m in zip(records, mapped))
  da = [direct_answer_accuracy(p, r.direct_answers)
        for r, p in zip(records, preds) if not r.difficult_direct_answer]
  return {'mc_accuracy': percent(mc_hits, len(records)),
          'da_accuracy': percent(sum(da), len(da)),
          'mc_unmapped': percent(mapped.count(None), len(records))}
