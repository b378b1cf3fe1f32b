"""CHAIR: object mentions with the original's synonyms and rules, and the scores."""

import pytest

from minigpt4_jax.evaluate import readers
from minigpt4_jax.evaluate.metrics.chair import (SYNONYMS_FILE, caption_objects, chair_scores,
                                                 synonyms)
from tests.evaluate import official

COCO_NAMES_WITH_SPACES = ('traffic light', 'fire hydrant', 'stop sign', 'parking meter',
                          'sports ball', 'baseball bat', 'baseball glove', 'tennis racket',
                          'wine glass', 'hot dog', 'potted plant', 'dining table', 'cell phone',
                          'teddy bear', 'hair drier')


def test_synonym_file_has_the_80_categories_first_on_each_line():
  categories = [line.split(', ')[0] for line in SYNONYMS_FILE.read_text().splitlines()]
  assert len(set(categories)) == 80
  assert all(synonyms()[c] == c for c in categories)
  assert set(COCO_NAMES_WITH_SPACES) <= set(categories)


def categories(caption: str) -> list[str]:
  return [category for _, category in caption_objects(caption)]


@pytest.mark.parametrize('caption, expected', [
    ('Two baby birds on a branch.', ['bird']),               # not a person
    ('An adult elephant and a passenger train.', ['elephant', 'train']),
    ('A toilet seat.', ['toilet']),                          # not a chair
    ('The seat of the toilet is up.', ['toilet']),           # 'seat' dropped beside a toilet
    ('A seat by the window.', ['chair']),
    ('Teddy bears and hot dogs.', ['teddy bear', 'hot dog']),  # not a bear, not a dog
    ('Two wine glasses.', ['wine glass']),
    ('A man in a bow tie.', ['person', 'tie']),
    ('People, policemen and ladies.', ['person', 'person', 'person']),
    ('Doggies, puppies and buses.', ['dog', 'dog', 'bus']),
    ('Taxis and skis.', ['car', 'skis']),
    ('A sofa, a TV and a cellphone.', ['couch', 'tv', 'cell phone']),
    ('A motor bike.', []),  # the original's ' motor bike' entry (double space) never matches
])
def test_caption_objects(caption, expected):
  assert categories(caption) == expected


def test_scores(tmp_path):
  records = readers.read_chair(
      official.write_json(tmp_path / 'instances.json', official.coco_instances()),
      official.write_json(tmp_path / 'captions.json', official.coco_captions()), tmp_path)
  # Image 42: instances {dog, couch}; its references add remote -> {dog, couch, remote}.
  # Image 7: instances {person}; its reference adds frisbee -> {person, frisbee}.
  predictions = {42: 'A dog and a cat on a sofa with a remote.',  # 4 mentions, cat is wrong
                 7: 'A man throws a frisbee.'}                    # 2 mentions, none wrong
  assert chair_scores(records, predictions) == pytest.approx({
      'CHAIR_s': 50.0,                    # 1 of 2 captions
      'CHAIR_i': 100 / 6,                 # 1 of 6 mentions
      'length_words': (11 + 5) / 2})


def test_unknown_category_name(tmp_path):
  record = readers.ChairRecord(1, tmp_path / 'x.jpg', ('dog', 'unicorn'), ())
  with pytest.raises(ValueError, match=r"image 1: \['unicorn'\] are not COCO category names"):
    chair_scores([record], {1: 'A dog.'})
