"""Readers for the other benchmarks the MiniGPT-v2 paper reports, in their official layouts.

  read_vsr        VSR (cambridgeltl/visual-spatial-reasoning; HF cambridgeltl/vsr_zeroshot):
                  ``{split}.jsonl`` lines {image, caption, label 0/1, relation}
  read_vizwiz     VizWiz VQA: ``{split}.json``, a list of {image, question, answers[10]
                  {answer, answer_confidence}, answerable, answer_type}
  read_hateful    Hateful Memes: ``{split}.jsonl`` lines {id, img ('img/01235.png'),
                  label 0/1, text}
"""

from __future__ import annotations

import dataclasses
import pathlib

from minigpt4_jax.evaluate.readers import (AnnotationError, PathLike, enumerated, get,
                                           load_json, load_json_list, load_json_lines)


@dataclasses.dataclass(frozen=True)
class StatementRecord:
  """A statement about an image that is true or false (VSR), or a meme's text and
  whether it is hateful (Hateful Memes); ``question`` is what the prompt formats in."""

  sample_id: int | str
  image_path: pathlib.Path
  question: str
  label: bool


@dataclasses.dataclass(frozen=True)
class VizWizRecord:
  sample_id: str  # the image file name: VizWiz has one question per image
  image_path: pathlib.Path
  question: str
  answers: tuple[str, ...]


def _label(row, key: str, path: PathLike, record: str) -> bool:
  value = get(row, key, int, path, record)
  if value not in (0, 1):
    raise AnnotationError(path, f'expected 0 or 1, got {value!r}', record=record, field=key)
  return bool(value)


def read_vsr(path: PathLike, image_dir: PathLike) -> list[StatementRecord]:
  """VSR: one record per line, numbered by line (VSR has no ids); images are
  ``image_dir/image`` (COCO 2017 file names)."""
  return [StatementRecord(n, pathlib.Path(image_dir) / get(row, 'image', str, path, label),
                          get(row, 'caption', str, path, label), _label(row, 'label', path, label))
          for n, (label, row) in enumerate(load_json_lines(path))]


def read_hateful(path: PathLike, image_dir: PathLike) -> list[StatementRecord]:
  """Hateful Memes: images are ``image_dir/img`` (``img`` holds 'img/<id>.png')."""
  return [StatementRecord(get(row, 'id', int, path, label),
                          pathlib.Path(image_dir) / get(row, 'img', str, path, label),
                          get(row, 'text', str, path, label), _label(row, 'label', path, label))
          for label, row in load_json_lines(path)]


def read_vizwiz(path: PathLike, image_dir: PathLike) -> list[VizWizRecord]:
  records = []
  for label, row in enumerated(load_json_list(path, 'questions'), 'image'):
    image = get(row, 'image', str, path, label)
    answers = tuple(get(a, 'answer', str, path, f'{label} answer {j}')
                    for j, a in enumerate(get(row, 'answers', list, path, label)))
    records.append(VizWizRecord(image, pathlib.Path(image_dir) / image,
                                get(row, 'question', str, path, label), answers))
  return records


@dataclasses.dataclass(frozen=True)
class IconQARecord:
  sample_id: str  # the question folder's name
  image_path: pathlib.Path
  question: str
  choices: tuple[str, ...]
  answer: int  # index into choices


def read_iconqa(split_dir: PathLike) -> list[IconQARecord]:
  """IconQA's ``choose_txt`` questions (lupantech/IconQA: ``iconqa/{split}/choose_txt/
  {id}/data.json`` {question, choices, answer (index), ...} beside ``image.png``), in
  folder-name order."""
  split_dir = pathlib.Path(split_dir)
  if not split_dir.is_dir():
    raise AnnotationError(split_dir, 'no such folder (expected iconqa/{split}/choose_txt)')
  records = []
  for folder in sorted(p for p in split_dir.iterdir() if p.is_dir()):
    path, label = folder / 'data.json', folder.name
    row = load_json(path)
    choices = tuple(get(row, 'choices', list, path, label))
    answer = get(row, 'answer', int, path, label)
    if not all(isinstance(c, str) for c in choices) or not 0 <= answer < len(choices):
      raise AnnotationError(path, f'answer {answer} is not an index into the choices {choices}',
                            record=label, field='answer')
    records.append(IconQARecord(folder.name, folder / 'image.png',
                                get(row, 'question', str, path, label), choices, answer))
  return records
