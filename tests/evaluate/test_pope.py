"""POPE's answer parsing and scores."""

import pathlib

import pytest

from minigpt4_jax.evaluate.metrics.pope import pope_answer, pope_scores
from minigpt4_jax.evaluate.readers import POPERecord


@pytest.mark.parametrize('text, expected', [
    ('Yes, there is a dog in the image.', 'yes'),
    ('No, there is no zebra.', 'no'),
    ('There is not a zebra in the image', 'no'),
    ('No.', 'no'),
    ('Yes. No zebra is visible though.', 'yes'),  # only the first sentence counts
    ('I see a zebra', 'yes'),                     # anything without a negation is yes
    ('NO', 'yes'),                                # POPE's quirks: case-sensitive words,
    ('no\nthere is nothing', 'yes'),              # split on single spaces only
])
def test_pope_answer(text, expected):
  assert pope_answer(text) == expected


def test_pope_scores():
  labels = ['yes', 'yes', 'yes', 'no', 'no', 'no']
  said = ['Yes', 'No', 'No', 'Yes', 'No', 'No']
  records = [POPERecord(i, pathlib.Path('x.jpg'), 'Is there a dog?', label)
             for i, label in enumerate(labels)]
  # TP 1, FN 2, FP 1, TN 2: accuracy 3/6, precision 1/2, recall 1/3,
  # F1 2 * 1/2 * 1/3 / (1/2 + 1/3) = 0.4, yes ratio 2/6.
  assert pope_scores(records, dict(enumerate(said))) == pytest.approx(
      {'accuracy': 50.0, 'precision': 50.0, 'recall': 100 / 3, 'f1': 40.0,
       'yes_ratio': 100 / 3})


def test_nothing_answered_yes():
  records = [POPERecord(0, pathlib.Path('x.jpg'), '?', 'yes')]
  assert pope_scores(records, {0: 'no'}) == {'accuracy': 0.0, 'precision': 0.0, 'recall': 0.0,
                                             'f1': 0.0, 'yes_ratio': 0.0}
