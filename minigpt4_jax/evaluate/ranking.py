"""Multiple choice by likelihood, as MiniGPT-v2 scores IconQA (``eval_scripts/eval_vqa.py``,
``minigpt_base.py:multi_select``): every candidate answer is scored as the
continuation of the question, and the most likely one is the prediction.

The original ranks by each candidate's summed loss divided by the padded length of
its batch, which is the same for every candidate of a question, so the order is that
of the summed log-likelihood used here.
"""

from __future__ import annotations

import pathlib
from typing import Callable, Sequence

from minigpt4_jax.evaluate.extra_readers import IconQARecord
from minigpt4_jax.evaluate.tasks import human_message

# (image, human message, continuation) -> (log-likelihood, greedy) (HarnessModel.loglikelihood)
LogLikelihood = Callable[[pathlib.Path, str, str], tuple[float, bool]]


def most_likely(loglikelihood: LogLikelihood, image: pathlib.Path, message: str,
                choices: Sequence[str]) -> int:
  """The index of the choice with the highest log-likelihood (the first on a tie)."""
  scores = [loglikelihood(image, message, c)[0] for c in choices]
  return max(range(len(choices)), key=lambda i: (scores[i], -i))


class ChoiceRanker:
  """A runner answer function for choice records: the answer is the most likely choice."""

  def __init__(self, loglikelihood: LogLikelihood, records: Sequence[IconQARecord], preset: str):
    self.loglikelihood = loglikelihood
    self.choices = {(str(r.image_path), human_message(r, preset)): r.choices for r in records}

  def __call__(self, images: Sequence[pathlib.Path], messages: Sequence[str]) -> list[str]:
    answers = []
    for image, message in zip(images, messages):
      choices = self.choices[(str(image), message)]
      answers.append(choices[most_likely(self.loglikelihood, image, message, choices)])
    return answers
