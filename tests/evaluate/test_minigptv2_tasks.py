"""MiniGPT-v2's benchmarks: readers on tiny official-layout files, metrics on hand-computed cases."""

import json
import pathlib

import numpy as np
import pytest

from minigpt4_jax.evaluate import tasks
from minigpt4_jax.evaluate.extra_readers import StatementRecord, VizWizRecord
from minigpt4_jax.evaluate.metrics.exact import hateful_scores, vizwiz_scores, vsr_scores
from minigpt4_jax.evaluate.metrics.refcoco import answer_box, iou_inclusive, refcoco_scores
from minigpt4_jax.evaluate.readers import AnnotationError
from minigpt4_jax.evaluate.refcoco_reader import RefRecord
from tests.evaluate.official_v2 import ref, write_iconqa, write_refcoco

IMAGES = pathlib.Path('/images')


def test_refcoco_reader_one_record_per_sentence_of_the_split(tmp_path):
  data = write_refcoco(tmp_path, [ref('val', [(1, 'left dog'), (2, 'dog on the left')]),
                                  ref('testA', [(3, 'a dog')])])
  records = tasks.TASKS['refcoco'].read(data, None, 'val')
  assert records == [
      RefRecord(1, data / 'train2014' / 'COCO_train2014_000000000007.jpg', 'left dog',
                (20.0, 10.0, 100.0, 50.0), 200, 100),
      RefRecord(2, data / 'train2014' / 'COCO_train2014_000000000007.jpg', 'dog on the left',
                (20.0, 10.0, 100.0, 50.0), 200, 100)]
  assert tasks.human_message(records[0], 'minigptv2_refer') == \
      '[refer] give me the location of left dog'


def test_refcoco_reader_errors(tmp_path):
  data = write_refcoco(tmp_path / 'a', [ref('val', [(1, 'x')], ann_id=99)])
  with pytest.raises(AnnotationError, match=r"refs\(unc\).p: record #0 \(ref_id=1\): field "
                     r"'ann_id': no such annotation"):
    tasks.TASKS['refcoco'].read(data, IMAGES, 'val')

  class Code:  # a pickle that would build an object is refused, never run
    def __reduce__(self):
      return (print, ('ran',))
  data = write_refcoco(tmp_path / 'b', [Code()])
  with pytest.raises(AnnotationError, match='not a plain refer pickle'):
    tasks.TASKS['refcoco'].read(data, IMAGES, 'val')


def test_iou_counts_pixels_inclusively():
  # 10x10 pixel boxes overlapping 5x5: 25 / (100 + 100 - 25).
  assert iou_inclusive((0, 0, 9, 9), (5, 5, 14, 14)) == pytest.approx(25 / 175)
  assert iou_inclusive((0, 0, 9, 9), (20, 20, 29, 29)) == 0.0


def test_answer_box_parsing():
  assert answer_box('{<10><20><30><40>}', 200, 100) == (20.0, 20.0, 60.0, 40.0)
  assert answer_box(' { <10> <20> <30> <40> } <unk>', 200, 100) == (20.0, 20.0, 60.0, 40.0)
  assert answer_box('{<10><20><30><40>} and more', 200, 100) is not None  # starts with one
  assert answer_box('the box is {<10><20><30><40>}', 200, 100) is None
  assert answer_box('{<1000><20><30><40>}', 200, 100) is None  # 1-3 digits


def test_refcoco_accuracy_hand_computed():
  # 200x100 image, ground truth [20, 10, 100, 50] -> corners (20, 10, 120, 60), 101 x 51 px.
  records = [RefRecord(i, IMAGES / 'x.jpg', 's', (20, 10, 100, 50), 200, 100) for i in range(5)]
  predictions = {
      0: '{<10><10><60><60>}',         # exactly the box: IoU 1
      1: '{<10><10><35><60>}',         # (20,10,70,60): 51*51 / (101*51) = 0.505 > 0.5: hit
      2: '{<10><10><34><60>}',         # (20,10,68,60): 49*51 / (101*51) = 0.485: miss
      3: 'the dog on the left',        # no box: unparsable
      4: '{ <10><10> <60><60> }',      # spaces are removed first: hit
  }
  # Without the +1 convention answer 1 would be 2500 / 5000 = 0.5 exactly: a miss.
  assert refcoco_scores(records, predictions) == {'accuracy': 60.0, 'unparsable': 1}


def test_vsr_and_hateful_accuracy():
  vsr = [StatementRecord(i, IMAGES / 'x.jpg', 's', label) for i, label in
         enumerate([True, False, True])]
  assert vsr_scores(vsr, {0: 'True', 1: ' false <unk>', 2: 'maybe'}) == pytest.approx(
      {'accuracy': 200 / 3, 'other_answers': 1})
  memes = [StatementRecord(i, IMAGES / 'x.png', 't', label) for i, label in
           enumerate([True, False])]
  assert hateful_scores(memes, {0: 'Yes', 1: 'yes'}) == {'accuracy': 50.0, 'other_answers': 0}


def test_vizwiz_accuracy_without_normalization():
  answers = ('red', 'red', 'Red', 'blue', 'a red one') + ('unsuitable',) * 5
  records = [VizWizRecord(str(i), IMAGES / 'x.jpg', 'q', answers) for i in range(4)]
  # red: 3 exact (case-insensitive) -> 1; blue: 1 -> 1/3; 'the red' (no article
  # stripping) -> 0; unanswerable -> 0.
  got = vizwiz_scores(records, {'0': 'red', '1': 'blue', '2': 'the red', '3': 'unanswerable'})
  assert got == pytest.approx({'accuracy': 100 * (1 + 1 / 3) / 4})


def test_statement_and_vizwiz_readers(tmp_path):
  (tmp_path / 'test.jsonl').write_text(
      json.dumps({'image': '000000050403.jpg', 'caption': 'The bear is in front of the person.',
                  'label': 1, 'relation': 'in front of'}) + '\n')
  assert tasks.TASKS['vsr'].read(tmp_path, None, 'test') == [StatementRecord(
      0, tmp_path / 'images' / '000000050403.jpg', 'The bear is in front of the person.', True)]
  (tmp_path / 'dev.jsonl').write_text(
      json.dumps({'id': 42953, 'img': 'img/42953.png', 'label': 0, 'text': 'its their'}) + '\n'
      + json.dumps({'id': 23058, 'img': 'img/23058.png', 'label': 2, 'text': 'x'}) + '\n')
  with pytest.raises(AnnotationError, match=r"dev.jsonl: record line 2: field 'label': "
                     r'expected 0 or 1, got 2'):
    tasks.TASKS['hateful_memes'].read(tmp_path, None, 'dev')
  (tmp_path / 'val.json').write_text(json.dumps([{
      'image': 'VizWiz_val_00000000.jpg', 'question': 'What is this?', 'answerable': 1,
      'answer_type': 'other', 'answers': [{'answer': 'beef', 'answer_confidence': 'yes'}] * 10}]))
  assert tasks.TASKS['vizwiz'].read(tmp_path, None, 'val') == [VizWizRecord(
      'VizWiz_val_00000000.jpg', tmp_path / 'val' / 'VizWiz_val_00000000.jpg', 'What is this?',
      ('beef',) * 10)]


def test_iconqa_reader_and_choice_accuracy(tmp_path):
  from minigpt4_jax.evaluate.extra_readers import IconQARecord
  from minigpt4_jax.evaluate.metrics.exact import choice_scores
  records = tasks.TASKS['iconqa'].read(write_iconqa(tmp_path), None, 'val')
  folder = tmp_path / 'iconqa' / 'val' / 'choose_txt'
  assert records == [  # folder-name order
      IconQARecord('17', folder / '17' / 'image.png', 'Which shape is this?',
                   ('circle', 'square', 'triangle'), 1),
      IconQARecord('3', folder / '3' / 'image.png', 'How many dots?', ('two', 'five'), 0)]
  assert choice_scores(records, {'17': 'square', '3': 'five'}) == {'accuracy': 50.0}


def test_most_likely_choice_first_on_ties():
  from minigpt4_jax.evaluate.ranking import most_likely
  scores = {'a': -3.0, 'b': -1.0, 'c': -1.0}
  assert most_likely(lambda image, message, c: (scores[c], False), IMAGES, 'q', 'abc') == 1


def test_iconqa_end_to_end_ranks_by_the_harness_loglikelihood(tmp_path):
  from launch import evaluate
  from minigpt4_jax.evaluate.harness_model import HarnessModel
  from minigpt4_jax.bundled import TINY_CHECKPOINT
  data = write_iconqa(tmp_path / 'data')
  results = evaluate.main(['--ckpt', str(TINY_CHECKPOINT), '--task', 'iconqa', '--data', str(data),
                           '--out', str(tmp_path / 'out')])
  predictions = {json.loads(line)['sample_id']: json.loads(line)['prediction']
                 for line in (tmp_path / 'out' / 'predictions.jsonl').read_text().splitlines()}
  harness = HarnessModel.load(TINY_CHECKPOINT)
  records = tasks.TASKS['iconqa'].read(data, None, 'val')
  for record in records:
    message = tasks.human_message(record, 'minigptv2')
    scores = [harness.loglikelihood(record.image_path, message, c)[0] for c in record.choices]
    assert predictions[record.sample_id] == record.choices[int(np.argmax(scores))]
  hits = sum(predictions[r.sample_id] == r.choices[r.answer] for r in records)
  assert results['metrics'] == {'accuracy': 100 * hits / len(records)}
