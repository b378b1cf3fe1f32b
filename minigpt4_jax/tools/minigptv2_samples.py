"""MiniGPT-v2's training tasks as conversation samples, from the datasets' official files.

Offline builders, run once over the official files (``configs/minigptv2_stage3.py``
trains on what they write). Each returns LLaVA-style samples ``{"id", "image": path,
"conversations": [{"from": "human", "value": "<image>\\n[task] instruction"},
{"from": "gpt", "value": answer}]}``: the format ``data/llava.py`` reads and the text
package renders in the ``minigptv2`` template (``[INST] <Img><ImageHere></Img> [task] instruction  [/INST]``).
Boxes are written by ``minigpt4_jax.grounding`` exactly as the original
(Vision-CAIR/MiniGPT-4 d94738a ``minigpt4/datasets/datasets/``). Where the original
draws an instruction (and a VQA answer) at random on every access, a builder draws
once per sample from ``np.random.default_rng([seed, n])``.

  refcoco_samples     RefCOCO/+/g refs from the refer toolkit: [refer] phrase -> box,
                      [identify] box -> phrase (coco_dataset.py)
  vqa_samples         VQAv2 / OK-VQA questions + annotations: [vqa] (coco_vqa_datasets.py)
  flickr_grounded_samples  Flickr30k Entities (Sentences/*.txt + Annotations/*.xml):
                      [grounding] -> caption with <p>phrase</p> {box} (flickr.py)
"""

from __future__ import annotations

import collections
import json
import pathlib
import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Sequence

import numpy as np

from minigpt4_jax import grounding
from minigpt4_jax.data.transforms import blip_caption
from minigpt4_jax.evaluate.readers import read_vqa
from minigpt4_jax.evaluate.refcoco_reader import read_refs

Sample = dict[str, Any]

# coco_dataset.py:35-43 (ReferCOCODataset) and 100-108 (InvReferCOCODataset).
REFER_POOL = ('[refer] {}', '[refer] give me the location of {}', '[refer] where is {} ?',
              '[refer] from this image, tell me the location of {}', '[refer] the location of {} is',
              '[refer] could you tell me the location for {} ?',
              '[refer] where can I locate the {} ?')
IDENTIFY_POOL = ('[identify] {}', '[identify] what object is in this location {}',
                 '[identify] identify the object present at this location {}',
                 '[identify] what is it in {}', '[identify] describe this object in {}',
                 '[identify] this {} is', '[identify] the object in {} is')
# coco_vqa_datasets.py:38-41.
VQA_POOL = ('[vqa] {}', '[vqa] Based on the image, respond to this question with a short answer: {}')
# flickr.py:32-37 (GroundedDetailDataset).
GROUNDING_POOL = ('[grounding] please describe this image in details',
                  '[grounding] describe this image as detailed as possible',
                  '[grounding] summarize this image in details',
                  '[grounding] give a thorough description of what you see in this image')


def conversation(sample_id: str, image: str, instruction: str, answer: str) -> Sample:
  return {'id': sample_id, 'image': image,
          'conversations': [{'from': 'human', 'value': '<image>\n' + instruction},
                            {'from': 'gpt', 'value': answer}]}


def _pick(pool: Sequence[str], seed: int, n: int) -> str:
  return pool[int(np.random.default_rng([seed, n]).integers(len(pool)))]


def refcoco_samples(refs_path: str | pathlib.Path, instances_path: str | pathlib.Path,
                    task: str = 'refer', split: str = 'train', seed: int = 0) -> list[Sample]:
  """[refer]: the cleaned expression in, its box out; [identify]: the reverse. Image
  paths are instances.json's file names (COCO train2014)."""
  if task not in ('refer', 'identify'):
    raise ValueError(f'task={task!r}; expected "refer" or "identify"')
  samples = []
  for n, r in enumerate(read_refs(refs_path, instances_path, '', split)):
    box = grounding.box_text(grounding.box_from_xywh(r.box_xywh, r.width, r.height))
    sentence = blip_caption(r.sentence)
    if task == 'refer':
      instruction, answer = _pick(REFER_POOL, seed, n).format(sentence), box
    else:
      instruction, answer = _pick(IDENTIFY_POOL, seed, n).format(box), sentence
    samples.append(conversation(f'{task}-{r.sample_id}', str(r.image_path), instruction, answer))
  return samples


def vqa_samples(questions_path: str | pathlib.Path, annotations_path: str | pathlib.Path,
                seed: int = 0) -> list[Sample]:
  """[vqa]: one answer per question, drawn by annotator frequency and cleaned as the
  original (coco_vqa_datasets.py:61-71)."""
  samples = []
  for n, r in enumerate(read_vqa(questions_path, annotations_path, '')):
    counts = collections.Counter(r.answers)
    answers = list(counts)
    weights = np.array([counts[a] for a in answers], np.float64)
    answer = answers[int(np.random.default_rng([seed, n, 1]).choice(len(answers),
                                                                   p=weights / weights.sum()))]
    samples.append(conversation(f'vqa-{r.sample_id}', str(r.image_path),
                                _pick(VQA_POOL, seed, n).format(r.question), blip_caption(answer)))
  return samples


_ENTITY = re.compile(r'\[/EN#(\d+)/[^ \]]* ([^\]]*)\]')


def flickr_boxes(xml_path: str | pathlib.Path) -> tuple[int, int, dict[str, list[tuple]]]:
  """(width, height, entity id -> its boxes in pixel corners) of one Annotations/*.xml;
  an <object> may carry several entity <name>s, and a <nobndbox> object has no box."""
  root = ET.parse(xml_path).getroot()
  size = root.find('size')
  if size is None:
    raise ValueError(f'{xml_path}: no <size>')
  width, height = int(size.findtext('width')), int(size.findtext('height'))
  boxes: dict[str, list[tuple]] = collections.defaultdict(list)
  for obj in root.iter('object'):
    box = obj.find('bndbox')
    if box is None:
      continue
    corners = tuple(float(box.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
    for name in obj.iter('name'):
      boxes[name.text].append(corners)
  return width, height, dict(boxes)


def grounded_caption(sentence: str, width: int, height: int, boxes: dict[str, list[tuple]]) -> str:
  """A Flickr30k Entities sentence with each boxed phrase as ``<p>phrase</p> {..}``
  (several boxes joined by <delim>); phrases without a box stay plain text."""
  def replace(match: re.Match) -> str:
    entity, phrase = match.groups()
    if entity not in boxes:
      return phrase
    return grounding.phrase_text(phrase, [grounding.box_from_corners(*c, width, height)
                                          for c in boxes[entity]])
  return _ENTITY.sub(replace, sentence).strip()


def flickr_grounded_samples(flickr_dir: str | pathlib.Path, image_ids: Iterable[str],
                            seed: int = 0) -> list[Sample]:
  """[grounding]: the first sentence of each image with its phrases boxed; images are
  ``flickr30k-images/{id}.jpg``."""
  flickr_dir = pathlib.Path(flickr_dir)
  samples = []
  for n, image_id in enumerate(image_ids):
    width, height, boxes = flickr_boxes(flickr_dir / 'Annotations' / f'{image_id}.xml')
    sentences = (flickr_dir / 'Sentences' / f'{image_id}.txt').read_text(encoding='utf-8')
    first = sentences.splitlines()[0]
    samples.append(conversation(f'grounding-{image_id}', f'flickr30k-images/{image_id}.jpg',
                                _pick(GROUNDING_POOL, seed, n),
                                grounded_caption(first, width, height, boxes)))
  return samples


def write_samples(samples: Sequence[Sample], path: str | pathlib.Path) -> pathlib.Path:
  """A conversation JSON for ``data.llava_json`` (one file per mixture source)."""
  path = pathlib.Path(path)
  path.write_text(json.dumps(list(samples), ensure_ascii=False, indent=1), encoding='utf-8')
  return path
