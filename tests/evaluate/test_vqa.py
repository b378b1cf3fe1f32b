"""VQA answer normalization and accuracy, GQA exact match, against hand-computed values."""

import pytest

from minigpt4_jax.evaluate import readers
from minigpt4_jax.evaluate.metrics.answers import (normalize_answer, process_digit_article,
                                                   process_punctuation)
from minigpt4_jax.evaluate.metrics.vqa import gqa_scores, vqa_accuracy, vqa_scores
from tests.evaluate import official


@pytest.mark.parametrize('text, expected', [
    ('yes.', 'yes'),                # a period not followed by a digit goes
    ('3.5', '3.5'),                 # a decimal point stays
    ('1,000', '1000'),              # a number with a comma: every mark is deleted
    ('left-handed', 'left handed'),  # a mark touching no space becomes a space
    ('red, white', 'red white'),    # ', ' is in the text: ',' is deleted
    ("it's", "it's"),               # apostrophes are not punctuation here
])
def test_process_punctuation(text, expected):
  assert process_punctuation(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('Two', '2'), ('a dog', 'dog'), ('The Three dogs', '3 dogs'), ('none', '0'),
    ('dont', "don't"), ("it's", "it's"), ('its', 'its'),
    ('Im', 'im'),  # vqaEval's 'Im' key has a capital, so it never fires
])
def test_process_digit_article(text, expected):
  assert process_digit_article(text) == expected


def test_normalize_answer():
  assert normalize_answer(' Yes.\n') == 'yes'
  assert normalize_answer('A Dog!') == 'dog'
  assert normalize_answer('1,000 people.') == '1000 people'


def others(n: int) -> list[str]:
  return [f'other{i}' for i in range(n)]


@pytest.mark.parametrize('matching, expected', [
    (0, 0.0),
    # 1: the matching annotator sees 0 of the other 9 match, the 9 others see 1:
    #    (1 * 0 + 9 * 1/3) / 10 = 0.3
    (1, 0.3),
    # 2: (2 * 1/3 + 8 * 2/3) / 10 = 18/30 = 0.6
    (2, 0.6),
    # 3: (3 * 2/3 + 7 * 1) / 10 = 9/10 = 0.9
    (3, 0.9),
    # 4: every leave-one-out subset still holds >= 3 matches: 1.0
    (4, 1.0),
])
def test_leave_one_out_averaging(matching, expected):
  answers = ['2'] * matching + others(10 - matching)
  assert vqa_accuracy('2', answers) == pytest.approx(expected)


@pytest.mark.parametrize('prediction, answers, expected', [
    ('Two', ['2'] * 10, 1.0),
    ('a dog', ['dog'] * 10, 1.0),
    ('Yes.', ['yes'] * 10, 1.0),
    ('1,000', ['1000'] * 10, 1.0),
    ('3.5', ['3.5'] * 10, 1.0),
    ('35', ['3.5'] * 10, 0.0),
    ('dont', ["don't"] * 10, 1.0),
    ("it's", ["it's"] * 10, 1.0),
    ('its', ["it's"] * 10, 0.0),  # no 'its' contraction entry
    # Annotators who disagree get process_punctuation: 'yes.' becomes 'yes' (10 match).
    ('yes', ['yes'] * 9 + ['yes.'], 1.0),
    # ... but not number words: the prediction 'two' -> '2' never meets their 'two'.
    ('two', ['two'] * 3 + ['three'] * 7, 0.0),
])
def test_normalization_cases(prediction, answers, expected):
  assert vqa_accuracy(prediction, answers) == pytest.approx(expected)


def test_vqa_scores_per_answer_type(tmp_path):
  records = readers.read_vqa(official.write_json(tmp_path / 'q.json', official.vqa_questions()),
                             official.write_json(tmp_path / 'a.json', official.vqa_annotations()),
                             tmp_path)
  # 420 (10 x yes): 0; 421 (9 x '2', 1 x '3'): 'three' -> '3', 1 match -> 0.3;
  # 70 (4 x frisbee): 'a Frisbee.' -> 'frisbee' -> 1.0.
  scores = vqa_scores(records, {420: 'No', 421: 'three', 70: 'a Frisbee.'})
  assert scores == pytest.approx({'accuracy': 100 * 1.3 / 3, 'accuracy/yes/no': 0.0,
                                  'accuracy/number': 30.0, 'accuracy/other': 100.0})


def test_missing_prediction_is_an_error(tmp_path):
  records = readers.read_vqa(official.write_json(tmp_path / 'q.json', official.vqa_questions()),
                             official.write_json(tmp_path / 'a.json', official.vqa_annotations()),
                             tmp_path)
  with pytest.raises(ValueError, match=r'1 of 3 samples have no prediction, e\.g\. \[70\]'):
    vqa_scores(records, {420: 'yes', 421: '2'})


def test_gqa_exact_match_after_normalization(tmp_path):
  records = readers.read_gqa(official.write_json(tmp_path / 'g.json', official.gqa()), tmp_path)
  assert gqa_scores(records, {'201307251': 'No.', '20968379': 'The woman'}) == {'accuracy': 100.0}
  assert gqa_scores(records, {'201307251': 'yes', '20968379': 'a woman'}) == {'accuracy': 50.0}
