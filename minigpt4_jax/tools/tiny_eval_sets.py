"""Writes tiny POPE and VQAv2 sets of the demo photographs in the official formats
(``minigpt4_jax/data/demo/eval``), so ``launch.evaluate`` runs on the tiny default:

  DIR/coco_pope_random.json                       POPE: one present, one absent object
  DIR/v2_OpenEnded_mscoco_val2014_questions.json  VQAv2: one question per photograph,
  DIR/v2_mscoco_val2014_annotations.json            its ten answers all the same
  DIR/val2014/COCO_val2014_{i:012d}.jpg           the photographs under COCO names

Questions and answers come from ``data/demo_questions.py`` (the texts the tiny LLM
was pretrained on carry them too: these sets show the towers carry the photograph
to the LLM, not that it generalises).

  python -m minigpt4_jax.tools.tiny_eval_sets   # deterministic output
"""

from __future__ import annotations

import json
import pathlib
import shutil

from minigpt4_jax.bundled import DEMO, demo_paths
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_questions import DEMO_FACTS, absent_objects, pope_question
from minigpt4_jax.data.demo_texts import DEMO_IMAGES

EVAL_DIR = DEMO / 'eval'
SUBTYPE = 'val2014'


def coco_name(image_id: int) -> str:
  return f'COCO_{SUBTYPE}_{image_id:012d}.jpg'


def image_ids() -> dict[str, int]:
  """Demo photograph name -> its COCO-style id (1-based, in ``DEMO_IMAGES`` order)."""
  return {name: i + 1 for i, (name, _, _) in enumerate(DEMO_IMAGES)}


def pope_rows() -> list[dict]:
  """POPE's JSON lines: per photograph its object (yes), then another's (no)."""
  rows = []
  for name, image_id in image_ids().items():
    for obj, label in ((DEMO_FACTS[name].pope_object, 'yes'), (absent_objects(name, 1)[0], 'no')):
      rows.append({'question_id': len(rows) + 1, 'image': coco_name(image_id),
                   'text': pope_question(obj), 'label': label})
  return rows


def vqa_files() -> tuple[dict, dict]:
  """(questions, annotations) documents of VQAv2's val2014 layout."""
  header = {'info': {'description': 'minigpt4-jax tiny VQA set of the demo photographs'},
            'license': {'name': 'scikit-image sample data licences'}, 'data_type': 'mscoco',
            'data_subtype': SUBTYPE}
  questions, annotations = [], []
  for name, image_id in image_ids().items():
    facts = DEMO_FACTS[name]
    question_id = image_id * 10
    questions.append({'image_id': image_id, 'question': facts.question, 'question_id': question_id})
    annotations.append({
        'question_id': question_id, 'image_id': image_id, 'answer_type': 'other',
        'question_type': ' '.join(facts.question.lower().split()[:2]),
        'multiple_choice_answer': facts.answer,
        'answers': [{'answer': facts.answer, 'answer_confidence': 'yes', 'answer_id': k + 1}
                    for k in range(10)]})
  return ({**header, 'task_type': 'Open-Ended', 'questions': questions},
          {**header, 'annotations': annotations})


def write_eval_sets(out: pathlib.Path = EVAL_DIR) -> None:
  if out.exists():
    shutil.rmtree(out)
  (out / SUBTYPE).mkdir(parents=True)
  source = pathlib.Path(demo_paths().image_dir)
  for name, image_id in image_ids().items():
    shutil.copyfile(source / f'{name}.jpg', out / SUBTYPE / coco_name(image_id))
  (out / 'coco_pope_random.json').write_text(
      ''.join(json.dumps(r) + '\n' for r in pope_rows()), encoding='utf-8')
  questions, annotations = vqa_files()
  (out / f'v2_OpenEnded_mscoco_{SUBTYPE}_questions.json').write_text(
      json.dumps(questions, indent=1) + '\n', encoding='utf-8')
  (out / f'v2_mscoco_{SUBTYPE}_annotations.json').write_text(
      json.dumps(annotations, indent=1) + '\n', encoding='utf-8')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_eval_sets', __doc__)
  write_eval_sets()
  print(f'wrote {EVAL_DIR}')
