"""The benchmarks by name: where their files sit, how to ask, how to score.

``--data DIR`` holds each benchmark's files under their official names; images sit
in a folder beside them (``--images`` overrides it):

  task          files in DIR (default split)                           images
  vqav2         v2_OpenEnded_mscoco_{split}_questions.json,            DIR/{split}/
                v2_mscoco_{split}_annotations.json (val2014)
  okvqa         OpenEnded_mscoco_{split}_questions.json,               DIR/{split}/
                mscoco_{split}_annotations.json (val2014)
  aokvqa_mc     aokvqa_v1p0_{split}.json (val)                         DIR/{split}2017/
  gqa           {split}_balanced_questions.json (testdev)              DIR/images/
  coco_caption  dataset_coco.json, Karpathy's, split {split} (test)    DIR/ (+ its filepath)
  nocaps        nocaps_{split}_4500_captions.json (val)                DIR/{split}/
  chair         instances_{split}.json, captions_{split}.json (val2014) DIR/{split}/
  pope          coco_pope_{split}.json (random; popular, adversarial)  DIR/val2014/
  refcoco       refcoco/refs(unc).p + instances.json (val; testA,      DIR/train2014/
                testB); refcoco+ the same; refcocog refs(umd).p (val, test)
  vsr           {split}.jsonl (test, the zero-shot split)              DIR/images/
  vizwiz        {split}.json (val)                                     DIR/{split}/
  hateful_memes {split}.jsonl (dev)                                    DIR/ (its img/ paths)
  iconqa        iconqa/{split}/choose_txt/{id}/data.json (val)         beside each data.json
                (ranked: the most likely choice, no generation)

Generation defaults: greedy, one beam. Short-answer tasks get 20 new tokens (as
MiniGPT-4's batch ``generate``); descriptions get 300 (its ``Chat.answer``).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable, Mapping, Sequence

from minigpt4_jax.evaluate import readers
from minigpt4_jax.evaluate.extra_readers import read_hateful, read_iconqa, read_vizwiz, read_vsr
from minigpt4_jax.evaluate.metrics.aokvqa import aokvqa_scores
from minigpt4_jax.evaluate.metrics.captioning import caption_scores
from minigpt4_jax.evaluate.metrics.chair import chair_scores
from minigpt4_jax.evaluate.metrics.pope import pope_scores
from minigpt4_jax.evaluate.metrics.vqa import gqa_scores, vqa_scores
from minigpt4_jax.evaluate.metrics.exact import (choice_scores, hateful_scores, vizwiz_scores,
                                                  vsr_scores)
from minigpt4_jax.evaluate.metrics.refcoco import refcoco_scores
from minigpt4_jax.evaluate.refcoco_reader import read_refcoco
from minigpt4_jax.text.prompts import render_preset

Scores = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Task:
  """A benchmark.

  Attributes:
    read: (data dir, images dir or None for the default, split) -> records.
    score: (records, {sample_id: prediction}) -> metrics.
    prompt: the default prompt preset (``text.prompts.PRESETS``).
    ranked: answered by the most likely of the record's choices (``ranking.py``), not
      by generation.
  """

  name: str
  split: str
  read: Callable[[pathlib.Path, pathlib.Path | None, str], list[readers.Record]]
  score: Callable[[Sequence[Any], Mapping[Any, str]], Scores]
  prompt: str
  max_new_tokens: int
  ranked: bool = False


def images_or(images: pathlib.Path | None, default: pathlib.Path) -> pathlib.Path:
  return default if images is None else images


def vqav2_records(data, images, split):
  return readers.read_vqa(data / f'v2_OpenEnded_mscoco_{split}_questions.json',
                          data / f'v2_mscoco_{split}_annotations.json',
                          images_or(images, data / split))


def okvqa_records(data, images, split):
  return readers.read_vqa(data / f'OpenEnded_mscoco_{split}_questions.json',
                          data / f'mscoco_{split}_annotations.json',
                          images_or(images, data / split))


def aokvqa_records(data, images, split):
  return readers.read_aokvqa(data / f'aokvqa_v1p0_{split}.json',
                             images_or(images, data / f'{split}2017'))


def gqa_records(data, images, split):
  return readers.read_gqa(data / f'{split}_balanced_questions.json',
                          images_or(images, data / 'images'))


def coco_caption_records(data, images, split):
  return readers.read_karpathy(data / 'dataset_coco.json', images_or(images, data), split)


def nocaps_records(data, images, split):
  return readers.read_coco_captions(data / f'nocaps_{split}_4500_captions.json',
                                    images_or(images, data / split))


def chair_records(data, images, split):
  return readers.read_chair(data / f'instances_{split}.json', data / f'captions_{split}.json',
                            images_or(images, data / split))


def pope_records(data, images, split):
  return readers.read_pope(data / f'coco_pope_{split}.json', images_or(images, data / 'val2014'))


def refcoco_task(name: str, split: str) -> Task:
  def read(data, images, split):
    return read_refcoco(name, data, images_or(images, data / 'train2014'), split)
  return Task(name, split, read, refcoco_scores, 'minigptv2_refer', 20)


def vsr_records(data, images, split):
  return read_vsr(data / f'{split}.jsonl', images_or(images, data / 'images'))


def vizwiz_records(data, images, split):
  return read_vizwiz(data / f'{split}.json', images_or(images, data / split))


def iconqa_records(data, images, split):
  return read_iconqa(data / 'iconqa' / split / 'choose_txt')


def hateful_records(data, images, split):
  return read_hateful(data / f'{split}.jsonl', images_or(images, data))


TASKS: dict[str, Task] = {t.name: t for t in (
    Task('vqav2', 'val2014', vqav2_records, vqa_scores, 'llava', 20),
    Task('okvqa', 'val2014', okvqa_records, vqa_scores, 'llava', 20),
    Task('aokvqa_mc', 'val', aokvqa_records, aokvqa_scores, 'llava_mc', 20),
    Task('gqa', 'testdev', gqa_records, gqa_scores, 'llava', 20),
    Task('coco_caption', 'test', coco_caption_records, caption_scores, 'describe_short', 300),
    Task('nocaps', 'val', nocaps_records, caption_scores, 'describe_short', 300),
    Task('chair', 'val2014', chair_records, chair_scores, 'describe_short', 300),
    Task('pope', 'random', pope_records, pope_scores, 'question', 20),
    refcoco_task('refcoco', 'val'), refcoco_task('refcoco+', 'val'),
    refcoco_task('refcocog', 'val'),
    Task('vsr', 'test', vsr_records, vsr_scores, 'minigptv2_vsr', 20),
    Task('vizwiz', 'val', vizwiz_records, vizwiz_scores, 'minigptv2_vizwiz', 20),
    Task('hateful_memes', 'dev', hateful_records, hateful_scores, 'minigptv2_hateful', 20),
    Task('iconqa', 'val', iconqa_records, choice_scores, 'minigptv2', 20, ranked=True),
)}


def human_message(record: readers.Record, preset: str) -> str:
  """The text asked about the record's image (captioning records have no question)."""
  return render_preset(preset, getattr(record, 'question', ''), getattr(record, 'choices', ()))
