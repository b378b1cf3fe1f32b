"""Tiny files in the official layouts of MiniGPT-v2's benchmarks (RefCOCO's refer
toolkit pickle + instances.json, VSR, Hateful Memes, VizWiz, IconQA's choose_txt)."""

import json
import pathlib
import pickle

import numpy as np
from PIL import Image

from minigpt4_jax.evaluate.refcoco_reader import DATASETS


def write_refcoco(root: pathlib.Path, refs: list, dataset: str = 'refcoco') -> pathlib.Path:
  name, split_by = DATASETS[dataset]
  folder = root / name
  folder.mkdir(parents=True)
  with open(folder / f'refs({split_by}).p', 'wb') as f:
    pickle.dump(refs, f, protocol=2)  # refer's files are Python 2 pickles
  instances = {
      'images': [{'id': 7, 'file_name': 'COCO_train2014_000000000007.jpg', 'width': 200,
                  'height': 100}],
      'annotations': [{'id': 70, 'image_id': 7, 'bbox': [20, 10, 100, 50], 'category_id': 1}],
      'categories': [{'id': 1, 'name': 'dog'}]}
  (folder / 'instances.json').write_text(json.dumps(instances))
  return root


def ref(split: str, sents: list[tuple[int, str]], ann_id: int = 70) -> dict:
  return {'ref_id': 1, 'ann_id': ann_id, 'image_id': 7, 'split': split, 'category_id': 1,
          'file_name': 'COCO_train2014_000000000007_70.jpg', 'sent_ids': [s for s, _ in sents],
          'sentences': [{'sent_id': s, 'sent': t, 'raw': t.upper(), 'tokens': t.split()}
                        for s, t in sents]}


def write_iconqa(root: pathlib.Path) -> pathlib.Path:
  rng = np.random.default_rng(0)
  for qid, (question, choices, answer) in {
      '17': ('Which shape is this?', ['circle', 'square', 'triangle'], 1),
      '3': ('How many dots?', ['two', 'five'], 0)}.items():
    folder = root / 'iconqa' / 'val' / 'choose_txt' / qid
    folder.mkdir(parents=True)
    (folder / 'data.json').write_text(json.dumps({
        'question': question, 'choices': choices, 'answer': answer, 'ques_type': 'choose_txt',
        'grade': 'grade1', 'label': 'shape'}))
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), np.uint8)).save(folder / 'image.png')
  return root


def write_vsr(root: pathlib.Path) -> None:
  (root / 'test.jsonl').write_text(''.join(json.dumps(
      {'image': f'00000005040{i}.jpg', 'caption': f'The bear is {rel} the person.', 'label': i % 2,
       'relation': rel}) + '\n' for i, rel in enumerate(('in front of', 'behind'))))


def write_hateful(root: pathlib.Path) -> None:
  (root / 'dev.jsonl').write_text(''.join(json.dumps(
      {'id': i, 'img': f'img/{i}.png', 'label': i % 2, 'text': t}) + '\n'
      for i, t in enumerate(('its their', 'a meme'))))


def write_vizwiz(root: pathlib.Path) -> None:
  (root / 'val.json').write_text(json.dumps([{
      'image': f'VizWiz_val_0000000{i}.jpg', 'question': 'What is this?', 'answerable': 1,
      'answer_type': 'other', 'answers': [{'answer': a, 'answer_confidence': 'yes'}] * 10}
      for i, a in enumerate(('beef', 'soup'))]))


# task -> writer of its tiny files under the data folder
WRITERS = {
    **{name: lambda d, name=name: write_refcoco(
        d, [ref('val', [(1, 'left dog'), (2, 'dog on the left')])], name) for name in DATASETS},
    'vsr': write_vsr, 'hateful_memes': write_hateful, 'vizwiz': write_vizwiz,
    'iconqa': write_iconqa,
}
