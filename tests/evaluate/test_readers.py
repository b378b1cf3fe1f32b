"""Each reader on tiny files in the official layout, and the errors bad files raise."""

import pathlib

import pytest

from minigpt4_jax.evaluate import readers
from minigpt4_jax.evaluate.readers import AnnotationError
from tests.evaluate import official

IMAGES = pathlib.Path('/images')


def assert_names(read, path, record: str | None, field: str | None) -> None:
  """``read()`` raises an AnnotationError about ``path`` whose record label contains
  ``record`` and whose field is ``field``."""
  with pytest.raises(AnnotationError) as info:
    read()
  err = info.value
  assert err.path == str(path) and str(path) in str(err)
  assert (record is None and err.record is None) or record in err.record
  assert err.field == field
  if field:
    assert repr(field) in str(err)


@pytest.fixture
def vqa_paths(tmp_path):
  return (official.write_json(tmp_path / 'q.json', official.vqa_questions()),
          official.write_json(tmp_path / 'a.json', official.vqa_annotations()))


def test_vqa(vqa_paths):
  records = readers.read_vqa(*vqa_paths, IMAGES)
  assert [r.sample_id for r in records] == [420, 421, 70]
  first = records[0]
  assert first == readers.VQARecord(420, 42, IMAGES / 'COCO_val2014_000000000042.jpg',
                                    'Is the dog asleep?', tuple(official.TEN_YES), 'yes/no',
                                    'is the')
  assert records[2].answers == ('frisbee',) * 4 + ('disc',) * 6


def test_vqa_missing_field_names_file_record_and_field(vqa_paths):
  questions = official.vqa_questions()
  del questions['questions'][1]['question']
  official.write_json(vqa_paths[0], questions)
  assert_names(lambda: readers.read_vqa(*vqa_paths, IMAGES),
               vqa_paths[0], 'question_id=421', 'question')


def test_vqa_annotation_of_unknown_question(vqa_paths):
  annotations = official.vqa_annotations()
  annotations['annotations'][2]['question_id'] = 999
  official.write_json(vqa_paths[1], annotations)
  assert_names(lambda: readers.read_vqa(*vqa_paths, IMAGES),
               vqa_paths[1], '#2 (question_id=999)', 'question_id')


def test_vqa_annotation_about_another_image(vqa_paths):
  annotations = official.vqa_annotations()
  annotations['annotations'][0]['image_id'] = 7
  official.write_json(vqa_paths[1], annotations)
  assert_names(lambda: readers.read_vqa(*vqa_paths, IMAGES),
               vqa_paths[1], 'question_id=420', 'image_id')


def test_vqa_question_without_annotation(vqa_paths):
  annotations = official.vqa_annotations()
  annotations['annotations'].pop(1)
  official.write_json(vqa_paths[1], annotations)
  assert_names(lambda: readers.read_vqa(*vqa_paths, IMAGES), vqa_paths[0], 'question_id=421', None)


def test_vqa_wrong_type_names_field(vqa_paths):
  annotations = official.vqa_annotations()
  annotations['annotations'][1]['answers'][3]['answer'] = 2
  official.write_json(vqa_paths[1], annotations)
  assert_names(lambda: readers.read_vqa(*vqa_paths, IMAGES), vqa_paths[1], 'answer 3', 'answer')


def test_malformed_json_names_file_and_position(vqa_paths):
  vqa_paths[0].write_text('{"questions": [1, 2,]}')
  with pytest.raises(AnnotationError,
                     match=r'q\.json: malformed JSON at line 1 column 21: Expecting value'):
    readers.read_vqa(*vqa_paths, IMAGES)


def test_aokvqa(tmp_path):
  path = official.write_json(tmp_path / 'aokvqa_v1p0_val.json', official.aokvqa())
  first, second = readers.read_aokvqa(path, IMAGES)
  assert first.sample_id == '22MexNkBPpdZGX6sxbxVBH'
  assert first.image_path == IMAGES / '000000299207.jpg'
  assert first.choices[first.correct_choice_idx] == 'cab'
  assert len(first.direct_answers) == 10 and not first.difficult_direct_answer
  assert second.difficult_direct_answer


def test_aokvqa_choice_index_out_of_range(tmp_path):
  rows = official.aokvqa()
  rows[1]['correct_choice_idx'] = 4
  path = official.write_json(tmp_path / 'a.json', rows)
  assert_names(lambda: readers.read_aokvqa(path, IMAGES),
               path, "#1 (question_id='2fvnb2Xy3Ue8h8HL7ASC9e')", 'correct_choice_idx')


def test_aokvqa_flag_must_be_bool(tmp_path):
  rows = official.aokvqa()
  rows[0]['difficult_direct_answer'] = 0
  path = official.write_json(tmp_path / 'a.json', rows)
  assert_names(lambda: readers.read_aokvqa(path, IMAGES), path, '#0', 'difficult_direct_answer')


def test_gqa(tmp_path):
  path = official.write_json(tmp_path / 'testdev_balanced_questions.json', official.gqa())
  records = readers.read_gqa(path, IMAGES)
  assert records == [
      readers.GQARecord('201307251', 'n161313', IMAGES / 'n161313.jpg', 'Is it overcast?', 'no'),
      readers.GQARecord('20968379', 'n288870', IMAGES / 'n288870.jpg',
                        'Who is wearing the dress?', 'woman')]


def test_gqa_missing_image_id(tmp_path):
  doc = official.gqa()
  del doc['20968379']['imageId']
  path = official.write_json(tmp_path / 'g.json', doc)
  assert_names(lambda: readers.read_gqa(path, IMAGES), path, "'20968379'", 'imageId')


def test_coco_captions(tmp_path):
  path = official.write_json(tmp_path / 'captions_val2014.json', official.coco_captions())
  records = readers.read_coco_captions(path, IMAGES)
  assert records == [
      readers.CaptionRecord(42, IMAGES / 'COCO_val2014_000000000042.jpg',
                            ('A dog sleeping on a couch.',
                             'A puppy asleep on a sofa next to a remote.')),
      readers.CaptionRecord(7, IMAGES / 'COCO_val2014_000000000007.jpg',
                            ('A man throwing a frisbee in a park.',))]


def test_caption_of_unknown_image(tmp_path):
  doc = official.coco_captions()
  doc['annotations'][1]['image_id'] = 8
  path = official.write_json(tmp_path / 'c.json', doc)
  assert_names(lambda: readers.read_coco_captions(path, IMAGES),
               path, 'annotations #1 (id=2)', 'image_id')


def test_image_without_captions(tmp_path):
  doc = official.coco_captions()
  doc['annotations'].pop(1)
  path = official.write_json(tmp_path / 'c.json', doc)
  assert_names(lambda: readers.read_coco_captions(path, IMAGES), path, 'images #1 (id=7)', None)


def test_karpathy_keeps_one_split(tmp_path):
  path = official.write_json(tmp_path / 'dataset_coco.json', official.karpathy())
  assert readers.read_karpathy(path, IMAGES) == [readers.CaptionRecord(
      42, IMAGES / 'val2014' / 'COCO_val2014_000000000042.jpg', ('A dog.', 'A puppy.'))]
  assert [r.sample_id for r in readers.read_karpathy(path, IMAGES, 'train')] == [9]


def test_chair(tmp_path):
  instances = official.write_json(tmp_path / 'instances_val2014.json', official.coco_instances())
  captions = official.write_json(tmp_path / 'captions_val2014.json', official.coco_captions())
  dog_image, man_image = readers.read_chair(instances, captions, IMAGES)
  assert dog_image == readers.ChairRecord(
      42, IMAGES / 'COCO_val2014_000000000042.jpg', ('couch', 'dog'),
      ('A dog sleeping on a couch.', 'A puppy asleep on a sofa next to a remote.'))
  assert man_image.objects == ('person',)


def test_chair_unknown_category(tmp_path):
  doc = official.coco_instances()
  doc['annotations'][3]['category_id'] = 99
  instances = official.write_json(tmp_path / 'i.json', doc)
  captions = official.write_json(tmp_path / 'c.json', official.coco_captions())
  assert_names(lambda: readers.read_chair(instances, captions, IMAGES),
               instances, 'annotations #3 (id=103)', 'category_id')


def test_pope(tmp_path):
  path = official.write_json_lines(tmp_path / 'coco_pope_random.json', official.pope_lines())
  assert readers.read_pope(path, IMAGES) == [
      readers.POPERecord(0, IMAGES / 'COCO_val2014_000000000042.jpg',
                         'Is there a dog in the image?', 'yes'),
      readers.POPERecord(1, IMAGES / 'COCO_val2014_000000000042.jpg',
                         'Is there a zebra in the image?', 'no')]


def test_pope_malformed_line(tmp_path):
  path = tmp_path / 'p.json'
  path.write_text('{"question_id": 0, "image": "x.jpg", "text": "?", "label": "yes"}\n'
                  '{"question_id": 1, "image": "x.jpg",\n')
  assert_names(lambda: readers.read_pope(path, IMAGES), path, 'line 2', None)


def test_pope_bad_label(tmp_path):
  rows = official.pope_lines()
  rows[1]['label'] = 'No'
  path = official.write_json_lines(tmp_path / 'p.json', rows)
  assert_names(lambda: readers.read_pope(path, IMAGES), path, 'line 2', 'label')
