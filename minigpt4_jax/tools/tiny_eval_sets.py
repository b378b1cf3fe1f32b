"""Writes tiny POPE and VQAv2 sets of the demo photographs in the official formats
(``minigpt4_jax/data/demo/eval``), so ``launch.evaluate`` runs on the tiny default:

  DIR/coco_pope_random.json                       POPE: one present, one absent object
  DIR/v2_OpenEnded_mscoco_val2014_questions.json  VQAv2: one question per photograph,
  DIR/v2_mscoco_val2014_annotations.json            its ten answers all the same
  DIR/val2014/COCO_val2014_{i:012d}.jpg           the photographs under COCO names
  DIR/refcoco/refs(unc).p, instances.json         RefCOCO (refer toolkit): split val, one
  DIR/train2014/COCO_train2014_{i:012d}.jpg         ref per hand-drawn box of the six boxed
                                                    photographs (tools/minigptv2_demo.py)

Questions and answers come from ``data/demo_questions.py`` and the boxes from
``minigptv2_demo.DEMO_BOXES`` (the texts the tiny LLM
was pretrained on carry them too: these sets show the towers carry the photograph
to the LLM, not that it generalises).

  python -m minigpt4_jax.tools.tiny_eval_sets   # deterministic output
"""

from __future__ import annotations

import json
import pathlib
import pickle
import shutil

from PIL import Image

from minigpt4_jax.bundled import DEMO, demo_paths
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_questions import DEMO_FACTS, absent_objects, pope_question
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.tools.minigptv2_demo import DEMO_BOXES

EVAL_DIR = DEMO / 'eval'
SUBTYPE = 'val2014'
REFER_SUBTYPE = 'train2014'  # RefCOCO's images are COCO train2014's


def coco_name(image_id: int, subtype: str = SUBTYPE) -> str:
  return f'COCO_{subtype}_{image_id:012d}.jpg'


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


def refcoco_files(sizes: dict[str, tuple[int, int]]) -> tuple[list[dict], dict]:
  """(refs, instances) of the refer toolkit's RefCOCO: per hand-drawn box one ref of split
  val, its phrase the sentence, its corners an [x, y, w, h] annotation; ``sizes`` maps a
  boxed photograph to its (width, height)."""
  ids = image_ids()
  images, annotations, refs = [], [], []
  for name, (_, boxes) in DEMO_BOXES.items():
    image_id = ids[name]
    width, height = sizes[name]
    images.append({'id': image_id, 'file_name': coco_name(image_id, REFER_SUBTYPE),
                   'width': width, 'height': height})
    for phrase, (x1, y1, x2, y2) in boxes:
      ann_id = len(annotations) + 1
      annotations.append({'id': ann_id, 'image_id': image_id, 'category_id': 1,
                          'bbox': [x1, y1, x2 - x1, y2 - y1]})
      refs.append({'ref_id': ann_id, 'ann_id': ann_id, 'image_id': image_id, 'split': 'val',
                   'category_id': 1, 'sent_ids': [ann_id],
                   'sentences': [{'sent_id': ann_id, 'sent': phrase, 'raw': phrase,
                                  'tokens': phrase.split()}]})
  return refs, {'images': images, 'annotations': annotations,
                'categories': [{'id': 1, 'name': 'object'}]}


def write_refcoco(out: pathlib.Path, source: pathlib.Path) -> None:
  (out / REFER_SUBTYPE).mkdir(parents=True)
  (out / 'refcoco').mkdir()
  sizes = {}
  for name in DEMO_BOXES:
    shutil.copyfile(source / f'{name}.jpg', out / REFER_SUBTYPE / coco_name(image_ids()[name],
                                                                           REFER_SUBTYPE))
    with Image.open(source / f'{name}.jpg') as image:
      sizes[name] = image.size
  refs, instances = refcoco_files(sizes)
  with open(out / 'refcoco' / 'refs(unc).p', 'wb') as f:
    pickle.dump(refs, f, protocol=2)  # refer's files are Python 2 pickles
  (out / 'refcoco' / 'instances.json').write_text(json.dumps(instances, indent=1) + '\n',
                                                  encoding='utf-8')


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
  write_refcoco(out, source)


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_eval_sets', __doc__)
  write_eval_sets()
  print(f'wrote {EVAL_DIR}')
