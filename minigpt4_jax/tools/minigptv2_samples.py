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
  aokvqa_samples      A-OKVQA aokvqa_v1p0_train.json: [vqa], a direct answer (aok_vqa_datasets.py)
  gqa_samples         GQA train_balanced_questions.json: [vqa] (gqa_datasets.py)
  ocrvqa_samples      OCR-VQA dataset.json, its training split: [vqa] (ocrvqa_dataset.py)
  coco_caption_samples  Karpathy's dataset_coco.json, its train split: [caption]
                      (caption_datasets.py, COCOCaptionDataset)
  textcaps_samples    TextCaps_0.1_train.json: [caption] (text_caps.py)
  flickr_grounded_samples  Flickr30k Entities (Sentences/*.txt + Annotations/*.xml):
                      [grounding] -> caption with <p>phrase</p> {box} (flickr.py)
  flickr_caption_to_object_samples, flickr_phrase_to_object_samples  the authors'
                      filtered Flickr30k captiontobbox.json / phrasetobbox.json:
                      [detection] (flickr.py, CaptionToObject / PhraseToObject)
  refvg_samples       Visual Genome region_descriptions.json + image_data.json:
                      [refer] on regions under 16384 px^2 (vg_dataset.py)
  multitask_conversation_samples  the authors' multitask_conversation.json: multi-turn
                      conversations on COCO train2014 images (multitask_conversation.py)

Questions and answers are cleaned with ``blip_caption`` where the original's
``text_processor`` (blip_caption in train_configs/minigptv2_finetune.yaml) cleans them.
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
from minigpt4_jax.evaluate.readers import (AnnotationError, get, get_list, get_strings,
                                           load_json, load_json_list, read_aokvqa, read_gqa,
                                           read_karpathy, read_vqa)
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
# caption_datasets.py:90-106 (COCOCaptionDataset) and text_caps.py:34-50, the same 17,
# each asked as '[caption] {}' (caption_datasets.py:121, text_caps.py:72).
CAPTION_POOL = ('Briefly describe this image.', 'Provide a concise depiction of this image.',
                'Present a short description of this image.',
                'Summarize this image in a few words.', 'A short image caption:',
                'A short image description:', 'A photo of ', 'An image that shows ',
                'Write a short description for the image. ', 'Write a description for the photo.',
                'Provide a description of what is presented in the photo.',
                'Briefly describe the content of the image.',
                'Can you briefly explain what you see in the image?',
                'Could you use a few words to describe what you perceive in the photo?',
                'Please provide a short depiction of the picture.',
                'Using language, provide a short account of the image.',
                'Use a few words to illustrate what is happening in the picture.')
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


def _by_frequency(answers: Sequence[str], seed: int, n: int) -> str:
  """One of the annotators' answers, drawn with probability its share of them
  (coco_vqa_datasets.py:61-71, aok_vqa_datasets.py:62-72)."""
  counts = collections.Counter(answers)
  distinct = list(counts)
  weights = np.array([counts[a] for a in distinct], np.float64)
  return distinct[int(np.random.default_rng([seed, n, 1]).choice(len(distinct),
                                                                  p=weights / weights.sum()))]


def _vqa(sample_id: str, image: str, question: str, answer: str, seed: int, n: int) -> Sample:
  """A [vqa] sample, question and answer cleaned (coco_vqa_datasets.py:58, 90)."""
  return conversation(sample_id, image, _pick(VQA_POOL, seed, n).format(blip_caption(question)),
                      blip_caption(answer))


def vqa_samples(questions_path: str | pathlib.Path, annotations_path: str | pathlib.Path,
                seed: int = 0) -> list[Sample]:
  """[vqa]: one answer per question, drawn by annotator frequency."""
  return [_vqa(f'vqa-{r.sample_id}', str(r.image_path), r.question,
               _by_frequency(r.answers, seed, n), seed, n)
          for n, r in enumerate(read_vqa(questions_path, annotations_path, ''))]


def aokvqa_samples(path: str | pathlib.Path, seed: int = 0) -> list[Sample]:
  """[vqa] on A-OKVQA: one of the ten direct answers by frequency (the choices are not
  used); images are COCO 2017's ``{image_id:012d}.jpg``."""
  return [_vqa(f'aokvqa-{r.sample_id}', str(r.image_path), r.question,
               _by_frequency(r.direct_answers, seed, n), seed, n)
          for n, r in enumerate(read_aokvqa(path, ''))]


def gqa_samples(path: str | pathlib.Path, seed: int = 0) -> list[Sample]:
  """[vqa] on GQA, its one (short) answer; images are ``{imageId}.jpg``."""
  return [_vqa(f'gqa-{r.sample_id}', str(r.image_path), r.question, r.answer, seed, n)
          for n, r in enumerate(read_gqa(path, ''))]


OCRVQA_TRAIN = 1  # dataset.json's split: 1 train, 2 validation, 3 test (ocrvqa_dataset.py:39)


def ocrvqa_samples(path: str | pathlib.Path, seed: int = 0) -> list[Sample]:
  """[vqa] on OCR-VQA's training split: ``{book id: {imageURL, questions, answers,
  split, ...}}``, one sample per question; the image is the id plus imageURL's extension."""
  doc = load_json(path)
  if not isinstance(doc, dict):
    raise AnnotationError(path, 'expected a JSON object keyed by book id')
  samples = []
  for book, row in doc.items():
    label = f'id={book!r}'
    if get(row, 'split', int, path, label) != OCRVQA_TRAIN:
      continue
    questions = get_strings(row, 'questions', path, label)
    answers = get_strings(row, 'answers', path, label)
    if len(questions) != len(answers):
      raise AnnotationError(path, f'{len(questions)} questions but {len(answers)} answers',
                            record=label, field='answers')
    image = book + pathlib.PurePosixPath(get(row, 'imageURL', str, path, label)).suffix
    for j, (question, answer) in enumerate(zip(questions, answers)):
      samples.append(_vqa(f'ocrvqa-{book}-{j}', image, question, answer, seed, len(samples)))
  return samples


def _caption(sample_id: str, image: str, caption: str, seed: int, n: int) -> Sample:
  return conversation(sample_id, image, f'[caption] {_pick(CAPTION_POOL, seed, n)}',
                      blip_caption(caption))


def coco_caption_samples(karpathy_path: str | pathlib.Path, seed: int = 0) -> list[Sample]:
  """[caption] on COCO: one sample per caption of Karpathy's train split (the
  original keeps the train2014 images of LAVIS's karpathy train file, which is that
  split: caption_datasets.py:77-80); images by file name."""
  samples = []
  for r in read_karpathy(karpathy_path, '', split='train'):
    for j, caption in enumerate(r.references):
      samples.append(_caption(f'caption-{r.sample_id}-{j}', r.image_path.name, caption, seed,
                              len(samples)))
  return samples


def textcaps_samples(path: str | pathlib.Path, seed: int = 0) -> list[Sample]:
  """[caption] on TextCaps: ``{"data": [{image_id, caption_str, ...}]}``, one sample per
  entry; images are ``{image_id}.jpg``."""
  samples = []
  for n, row in enumerate(get_list(load_json(path), 'data', path)):
    label = f'data #{n}'
    image_id = get(row, 'image_id', str, path, label)
    samples.append(_caption(f'textcaps-{n}', f'{image_id}.jpg',
                            get(row, 'caption_str', str, path, label), seed, n))
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


def flickr_caption_to_object_samples(path: str | pathlib.Path) -> list[Sample]:
  """[detection] caption -> its phrases with boxes: captiontobbox.json's ``[{image_id,
  caption, output}]``, both verbatim (flickr.py:68-113, CaptionToObjectDataset)."""
  samples = []
  for n, row in enumerate(load_json_list(path)):
    label = f'#{n}'
    image_id = str(get(row, 'image_id', (int, str), path, label))
    samples.append(conversation(f'caption_to_object-{n}', f'flickr30k-images/{image_id}.jpg',
                                f"[detection] {get(row, 'caption', str, path, label)}",
                                get(row, 'output', str, path, label)))
  return samples


def flickr_phrase_to_object_samples(path: str | pathlib.Path) -> list[Sample]:
  """[detection] phrase -> ``<p>phrase</p> {box}``: phrasetobbox.json's ``[{image_id,
  phrase, bbox}]``, ``bbox`` already box text (flickr.py:117-159, PhraseToObjectDataset)."""
  samples = []
  for n, row in enumerate(load_json_list(path)):
    label = f'#{n}'
    image_id = str(get(row, 'image_id', (int, str), path, label))
    phrase = get(row, 'phrase', str, path, label)
    samples.append(conversation(f'phrase_to_object-{n}', f'flickr30k-images/{image_id}.jpg',
                                f'[detection] {phrase}',
                                f"<p>{phrase}</p> {get(row, 'bbox', str, path, label)}"))
  return samples


VG_MAX_AREA = 16384  # vg_dataset.py:31-32: only regions smaller than this (px^2), as OFA


def refvg_samples(regions_path: str | pathlib.Path, images_path: str | pathlib.Path,
                  seed: int = 0) -> list[Sample]:
  """[refer] on Visual Genome regions (vg_dataset.py): region_descriptions.json's
  ``[{id, regions: [{x, y, width, height, phrase, ...}]}]``, each region smaller than
  ``VG_MAX_AREA`` one sample; image_data.json gives each image's size and its folder
  (the url's last two parts, ``VG_100K/1.jpg``; the original opens the image for its size)."""
  images = {}
  for n, image in enumerate(load_json_list(images_path)):
    label = f'#{n}'
    image_id = get(image, 'image_id', int, images_path, label)
    images[image_id] = ('/'.join(get(image, 'url', str, images_path, label).split('/')[-2:]),
                        get(image, 'width', int, images_path, label),
                        get(image, 'height', int, images_path, label))
  samples = []
  for n, entry in enumerate(load_json_list(regions_path)):
    for j, region in enumerate(get(entry, 'regions', list, regions_path, f'#{n}')):
      label = f'#{n} region {j}'
      xywh = [get(region, k, (int, float), regions_path, label) for k in ('x', 'y', 'width', 'height')]
      if xywh[2] * xywh[3] >= VG_MAX_AREA:
        continue
      image_id = get(region, 'image_id', int, regions_path, label)
      if image_id not in images:
        raise AnnotationError(regions_path, f'image {image_id} is not in {images_path}',
                              record=label, field='image_id')
      image, width, height = images[image_id]
      box = grounding.box_text(grounding.box_from_xywh(xywh, width, height))
      sentence = blip_caption(get(region, 'phrase', str, regions_path, label))
      samples.append(conversation(f'refvg-{image_id}-{j}', image,
                                  _pick(REFER_POOL, seed, len(samples)).format(sentence), box))
  return samples


def multitask_conversation_samples(path: str | pathlib.Path) -> list[Sample]:
  """The authors' multi-task conversations (``[{id, conversations: [{from, value}]}]``
  on ``COCO_train2014_{id}.jpg``), turns as given; the first question loses its
  ``<image>`` and newlines as the original strips them (multitask_conversation.py:51)."""
  samples = []
  for n, row in enumerate(load_json_list(path)):
    label = f'#{n}'
    image_id = str(get(row, 'id', (int, str), path, label))
    turns = get(row, 'conversations', list, path, label)
    if len(turns) < 2 or len(turns) % 2:
      raise AnnotationError(path, f'{len(turns)} turns; expected question, answer pairs',
                            record=label, field='conversations')
    first = get(turns[0], 'value', str, path, label).replace('<image>', '').replace('\n', '')
    rest = [{'from': get(t, 'from', str, path, label), 'value': get(t, 'value', str, path, label)}
            for t in turns[1:]]
    samples.append({'id': f'multitask-{image_id}-{n}', 'image': f'COCO_train2014_{image_id}.jpg',
                    'conversations': [{'from': 'human', 'value': '<image>\n' + first.strip()},
                                      *rest]})
  return samples


def write_samples(samples: Sequence[Sample], path: str | pathlib.Path) -> pathlib.Path:
  """A conversation JSON for ``data.llava_json`` (one file per mixture source)."""
  path = pathlib.Path(path)
  path.write_text(json.dumps(list(samples), ensure_ascii=False, indent=1), encoding='utf-8')
  return path
