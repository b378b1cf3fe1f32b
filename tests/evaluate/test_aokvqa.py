"""A-OKVQA: mapping free text to a choice, MC and DA accuracy."""

import pytest

from minigpt4_jax.evaluate import readers
from minigpt4_jax.evaluate.metrics.aokvqa import aokvqa_scores, map_to_choice
from tests.evaluate import official

CHOICES = ('skateboarder', 'train', 'delivery', 'cab')


@pytest.mark.parametrize('prediction, expected', [
    ('D', 3), ('(B)', 1), ('B.', 1), ('B. train', 1), ('C)', 2),  # option letters
    ('cab', 3), ('A cab.', 3), ('Train', 1),                      # equal after normalization
    ('The man is waiting for a cab', 3),  # token F1 1/3 with 'cab', 0 with the rest
    ('a bus', None),                      # no overlap with any choice
    ('train or cab', None),               # a tie (F1 0.5 each) names no choice
    ('E', None),                          # a letter past the last choice is text: no match
])
def test_map_to_choice(prediction, expected):
  assert map_to_choice(prediction, CHOICES) == expected


def test_scores(tmp_path):
  records = readers.read_aokvqa(official.write_json(tmp_path / 'a.json', official.aokvqa()),
                                tmp_path)
  # Question 1: 'Cab' is the correct choice and matches 2 of its direct answers (2/3).
  # Question 2: 'green' is a wrong choice; it is difficult_direct_answer, so not in DA.
  scores = aokvqa_scores(records, {'22MexNkBPpdZGX6sxbxVBH': 'Cab',
                                   '2fvnb2Xy3Ue8h8HL7ASC9e': 'green'})
  assert scores == pytest.approx({'mc_accuracy': 50.0, 'da_accuracy': 200 / 3,
                                  'mc_unmapped': 0.0})
