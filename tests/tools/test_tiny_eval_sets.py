"""The bundled tiny POPE, VQAv2 and RefCOCO sets are what their builder writes, in the layouts
``launch.evaluate`` reads, with every image present."""

import filecmp

from minigpt4_jax import grounding
from minigpt4_jax.evaluate.metrics.refcoco import refcoco_scores
from minigpt4_jax.evaluate.tasks import TASKS
from minigpt4_jax.tools.tiny_eval_sets import EVAL_DIR, write_eval_sets


def test_committed_sets_are_rebuilt_identically(tmp_path):
  write_eval_sets(tmp_path / 'eval')
  for name in ('coco_pope_random.json', 'v2_OpenEnded_mscoco_val2014_questions.json',
               'v2_mscoco_val2014_annotations.json', 'refcoco/refs(unc).p',
               'refcoco/instances.json'):
    assert filecmp.cmp(tmp_path / 'eval' / name, EVAL_DIR / name, shallow=False), name
  for images in ('val2014', 'train2014'):
    assert sorted(p.name for p in (tmp_path / 'eval' / images).iterdir()) == sorted(
        p.name for p in (EVAL_DIR / images).iterdir())


def test_tasks_read_the_sets():
  pope = TASKS['pope'].read(EVAL_DIR, None, 'random')
  assert len(pope) == 32 and sum(r.label == 'yes' for r in pope) == 16  # balanced, as POPE
  vqa = TASKS['vqav2'].read(EVAL_DIR, None, 'val2014')
  assert len(vqa) == 16 and all(len(set(r.answers)) == 1 and len(r.answers) == 10 for r in vqa)
  refs = TASKS['refcoco'].read(EVAL_DIR, None, 'val')
  # one ref per hand-drawn box; astronaut.jpg (256 x 256): 'a smiling woman' at (75, 8, 152, 95)
  assert len(refs) == 14 and (refs[0].sentence, refs[0].box_xywh) == ('a smiling woman',
                                                                      (75, 8, 77, 87))
  assert all(r.image_path.is_file() for r in pope + vqa + refs)


def test_refcoco_chance_is_what_one_box_for_every_ref_scores():
  """Chance on the tiny RefCOCO set: answering every ref with one hand-drawn box (its grid
  box) scores at most 5/14 (the cat, the launch towers, the motorcycle and the saucer
  overlap 5 refs), 16.8% for a box drawn at random; a trained tiny v2 must beat 35.7%."""
  refs = TASKS['refcoco'].read(EVAL_DIR, None, 'val')
  answers = [grounding.box_text(grounding.box_from_xywh(r.box_xywh, r.width, r.height))
             for r in refs]
  assert refcoco_scores(refs, {r.sample_id: a for r, a in zip(refs, answers)})['accuracy'] == 100
  accuracies = [refcoco_scores(refs, {r.sample_id: a for r in refs})['accuracy'] for a in answers]
  assert max(accuracies) == 100 * 5 / 14 and round(sum(accuracies) / len(accuracies), 1) == 16.8
