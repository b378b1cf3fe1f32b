"""Readers for the official annotation files of each benchmark, one function per format.

Each reader returns typed, frozen records in file order. ``sample_id`` is the id the
benchmark scores by (question id, or image id for captioning), ``image_path`` is
where the image should be (not checked: reading 40k file headers would cost more
than the run it protects). A malformed file raises ``AnnotationError`` naming the
file, the record (position, and id when it has one) and the field.

  read_vqa           VQAv2 / OK-VQA: ``*_questions.json`` + ``*_annotations.json``
  read_aokvqa        A-OKVQA: ``aokvqa_v1p0_{split}.json``
  read_gqa           GQA: ``{split}_balanced_questions.json``
  read_coco_captions COCO / NoCaps caption files (``captions_val2014.json``,
                     ``nocaps_val_4500_captions.json``)
  read_karpathy      Karpathy's ``dataset_coco.json`` (one split of it)
  read_chair         CHAIR: COCO ``instances_*.json`` + ``captions_*.json``
  read_pope          POPE: ``coco_pope_{random,popular,adversarial}.json`` (JSON lines)
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Iterator, Mapping

from minigpt4_jax.errors import BadInput
from minigpt4_jax.inputs import require_file

PathLike = str | pathlib.Path


class AnnotationError(BadInput):
  """An annotation file that does not have the official layout (a ValueError)."""

  def __init__(self, path: PathLike, problem: str, *, record: str | None = None,
               field: str | None = None):
    where = [str(path)] + ([f'record {record}'] if record else []) + (
        [f'field {field!r}'] if field else [])
    super().__init__(': '.join(where + [problem]))
    self.path, self.record, self.field = str(path), record, field


@dataclasses.dataclass(frozen=True)
class VQARecord:
  """A VQAv2 / OK-VQA question; ``answers`` are the annotators' raw answers (10)."""

  sample_id: int  # question_id
  image_id: int
  image_path: pathlib.Path
  question: str
  answers: tuple[str, ...]
  answer_type: str  # 'yes/no', 'number' or 'other' (OK-VQA: 'other')
  question_type: str


@dataclasses.dataclass(frozen=True)
class AOKVQARecord:
  """An A-OKVQA question (train/val files: test has no answers)."""

  sample_id: str  # question_id
  image_id: int
  image_path: pathlib.Path
  question: str
  choices: tuple[str, ...]
  correct_choice_idx: int
  direct_answers: tuple[str, ...]
  difficult_direct_answer: bool


@dataclasses.dataclass(frozen=True)
class GQARecord:
  sample_id: str  # the question id (the key in the file)
  image_id: str
  image_path: pathlib.Path
  question: str
  answer: str


@dataclasses.dataclass(frozen=True)
class CaptionRecord:
  sample_id: int  # image id
  image_path: pathlib.Path
  references: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ChairRecord:
  """An image with its annotated COCO categories (names) and reference captions."""

  sample_id: int  # image id
  image_path: pathlib.Path
  objects: tuple[str, ...]
  references: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class POPERecord:
  sample_id: int  # question_id
  image_path: pathlib.Path
  question: str
  label: str  # 'yes' or 'no'


Record = VQARecord | AOKVQARecord | GQARecord | CaptionRecord | ChairRecord | POPERecord


# --- Field access that names what is wrong ------------------------------------------------

def load_json(path: PathLike) -> Any:
  require_file(path, 'annotation file')
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except json.JSONDecodeError as err:
    raise AnnotationError(path, f'malformed JSON at line {err.lineno} column {err.colno}: '
                          f'{err.msg}') from None


def load_json_list(path: PathLike, of: str = '') -> list:
  """A JSON file whose top level must be a list (of ``of``, for the message)."""
  rows = load_json(path)
  if not isinstance(rows, list):
    raise AnnotationError(path, f'expected a JSON list of {of}' if of else 'expected a JSON list')
  return rows


def load_json_lines(path: PathLike) -> list[tuple[str, Any]]:
  """(record label 'line N', object) for each non-empty line."""
  rows = []
  require_file(path, 'annotation file')
  with open(path, encoding='utf-8') as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        rows.append((f'line {n}', json.loads(line)))
      except json.JSONDecodeError as err:
        raise AnnotationError(path, f'malformed JSON at column {err.colno}: {err.msg}',
                              record=f'line {n}') from None
  return rows


def record_label(index: int, obj: Any, id_key: str) -> str:
  """'#3 (question_id=42)': the position, and the id when the record has one."""
  if isinstance(obj, dict) and id_key in obj:
    return f'#{index} ({id_key}={obj[id_key]!r})'
  return f'#{index}'


def get(obj: Any, key: str, kind: type | tuple[type, ...], path: PathLike, record: str) -> Any:
  """``obj[key]``, checked to be of ``kind`` (a bool is not an int here)."""
  if not isinstance(obj, dict):
    raise AnnotationError(path, f'expected a JSON object, got {type(obj).__name__}', record=record)
  if key not in obj:
    raise AnnotationError(path, 'missing', record=record, field=key)
  value = obj[key]
  kinds = kind if isinstance(kind, tuple) else (kind,)
  if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
    names = ' or '.join(k.__name__ for k in kinds)
    raise AnnotationError(path, f'expected {names}, got {type(value).__name__} {value!r}',
                          record=record, field=key)
  return value


def get_strings(obj: Any, key: str, path: PathLike, record: str) -> tuple[str, ...]:
  values = get(obj, key, list, path, record)
  if not all(isinstance(v, str) for v in values):
    raise AnnotationError(path, f'expected a list of strings, got {values!r}', record=record,
                          field=key)
  return tuple(values)


def get_list(obj: Any, key: str, path: PathLike) -> list:
  """A top-level list such as ``questions`` or ``annotations``."""
  if not isinstance(obj, dict) or not isinstance(obj.get(key), list):
    raise AnnotationError(path, f'expected a top-level object with a {key!r} list', field=key)
  return obj[key]


def enumerated(rows: list, id_key: str) -> Iterator[tuple[str, Any]]:
  return ((record_label(i, row, id_key), row) for i, row in enumerate(rows))


# --- Readers -------------------------------------------------------------------------------

def read_vqa(questions_path: PathLike, annotations_path: PathLike,
             image_dir: PathLike) -> list[VQARecord]:
  """VQAv2 (``v2_OpenEnded_mscoco_val2014_questions.json`` + ``v2_mscoco_val2014_annotations.json``)
  or OK-VQA (``OpenEnded_mscoco_val2014_questions.json`` + ``mscoco_val2014_annotations.json``).

  Images are ``image_dir/COCO_{data_subtype}_{image_id:012d}.jpg`` (``data_subtype``
  from the questions file, e.g. ``val2014``). Every question needs exactly one
  annotation for the same image, and every annotation a question.
  """
  questions_doc = load_json(questions_path)
  subtype = get(questions_doc, 'data_subtype', str, questions_path, 'header')
  questions = {}
  for label, q in enumerated(get_list(questions_doc, 'questions', questions_path), 'question_id'):
    qid = get(q, 'question_id', int, questions_path, label)
    if qid in questions:
      raise AnnotationError(questions_path, 'duplicate id', record=label, field='question_id')
    questions[qid] = (get(q, 'image_id', int, questions_path, label),
                      get(q, 'question', str, questions_path, label))

  annotations = {}
  rows = get_list(load_json(annotations_path), 'annotations', annotations_path)
  for label, a in enumerated(rows, 'question_id'):
    qid = get(a, 'question_id', int, annotations_path, label)
    if qid not in questions:
      raise AnnotationError(annotations_path, 'no such question in ' + str(questions_path),
                            record=label, field='question_id')
    if get(a, 'image_id', int, annotations_path, label) != questions[qid][0]:
      raise AnnotationError(annotations_path, f'the question is about image {questions[qid][0]}',
                            record=label, field='image_id')
    answers = tuple(get(ans, 'answer', str, annotations_path, f'{label} answer {j}')
                    for j, ans in enumerate(get(a, 'answers', list, annotations_path, label)))
    annotations[qid] = (answers, get(a, 'answer_type', str, annotations_path, label),
                        get(a, 'question_type', str, annotations_path, label))

  records = []
  for i, (qid, (image_id, question)) in enumerate(questions.items()):
    if qid not in annotations:
      raise AnnotationError(questions_path, f'no annotation in {annotations_path}',
                            record=f'#{i} (question_id={qid})')
    answers, answer_type, question_type = annotations[qid]
    records.append(VQARecord(
        qid, image_id, pathlib.Path(image_dir) / f'COCO_{subtype}_{image_id:012d}.jpg',
        question, answers, answer_type, question_type))
  return records


def read_aokvqa(path: PathLike, image_dir: PathLike) -> list[AOKVQARecord]:
  """``aokvqa_v1p0_{train,val}.json``: a list of questions on COCO 2017 images
  (``image_dir/{image_id:012d}.jpg``, as A-OKVQA's ``get_coco_path``)."""
  records = []
  for label, row in enumerated(load_json_list(path, 'questions'), 'question_id'):
    image_id = get(row, 'image_id', int, path, label)
    choices = get_strings(row, 'choices', path, label)
    correct = get(row, 'correct_choice_idx', int, path, label)
    if not 0 <= correct < len(choices):
      raise AnnotationError(path, f'{correct} is not an index into {len(choices)} choices',
                            record=label, field='correct_choice_idx')
    records.append(AOKVQARecord(
        get(row, 'question_id', str, path, label), image_id,
        pathlib.Path(image_dir) / f'{image_id:012d}.jpg', get(row, 'question', str, path, label),
        choices, correct, get_strings(row, 'direct_answers', path, label),
        get(row, 'difficult_direct_answer', bool, path, label)))
  return records


def read_gqa(path: PathLike, image_dir: PathLike) -> list[GQARecord]:
  """``testdev_balanced_questions.json``: {question id: {imageId, question, answer, ...}};
  images are ``image_dir/{imageId}.jpg``."""
  doc = load_json(path)
  if not isinstance(doc, dict):
    raise AnnotationError(path, 'expected a JSON object keyed by question id')
  records = []
  for i, (qid, row) in enumerate(doc.items()):
    label = f'#{i} (id={qid!r})'
    image_id = get(row, 'imageId', str, path, label)
    records.append(GQARecord(qid, image_id, pathlib.Path(image_dir) / f'{image_id}.jpg',
                             get(row, 'question', str, path, label),
                             get(row, 'answer', str, path, label)))
  return records


def coco_images(doc: Any, path: PathLike) -> dict[int, str]:
  """image id -> file_name from a COCO-format file's ``images``."""
  images = {}
  for label, image in enumerated(get_list(doc, 'images', path), 'id'):
    image_id = get(image, 'id', int, path, f'images {label}')
    if image_id in images:
      raise AnnotationError(path, 'duplicate id', record=f'images {label}', field='id')
    images[image_id] = get(image, 'file_name', str, path, f'images {label}')
  return images


def coco_captions(doc: Any, path: PathLike, images: Mapping[int, str]) -> dict[int, list[str]]:
  """image id -> its captions, in file order; every caption's image must be listed."""
  captions: dict[int, list[str]] = {image_id: [] for image_id in images}
  for label, ann in enumerated(get_list(doc, 'annotations', path), 'id'):
    image_id = get(ann, 'image_id', int, path, f'annotations {label}')
    if image_id not in captions:
      raise AnnotationError(path, 'no such image', record=f'annotations {label}', field='image_id')
    captions[image_id].append(get(ann, 'caption', str, path, f'annotations {label}'))
  return captions


def read_coco_captions(path: PathLike, image_dir: PathLike) -> list[CaptionRecord]:
  """A COCO-format caption file (COCO ``captions_val2014.json``, NoCaps
  ``nocaps_val_4500_captions.json``): one record per image, ``image_dir/file_name``.
  An image without captions cannot be scored and is an error."""
  doc = load_json(path)
  images = coco_images(doc, path)
  records = []
  for i, (image_id, refs) in enumerate(coco_captions(doc, path, images).items()):
    if not refs:
      raise AnnotationError(path, 'image has no captions', record=f'images #{i} (id={image_id})')
    records.append(CaptionRecord(image_id, pathlib.Path(image_dir) / images[image_id], tuple(refs)))
  return records


def read_karpathy(path: PathLike, image_dir: PathLike, split: str = 'test') -> list[CaptionRecord]:
  """Karpathy's ``dataset_coco.json`` (images with ``split``, ``filepath``,
  ``filename``, ``cocoid`` and ``sentences[].raw``), keeping one split; images are
  ``image_dir/filepath/filename``."""
  records = []
  for label, image in enumerated(get_list(load_json(path), 'images', path), 'cocoid'):
    if get(image, 'split', str, path, label) != split:
      continue
    refs = tuple(get(s, 'raw', str, path, f'{label} sentence {j}')
                 for j, s in enumerate(get(image, 'sentences', list, path, label)))
    if not refs:
      raise AnnotationError(path, 'no sentences', record=label, field='sentences')
    records.append(CaptionRecord(
        get(image, 'cocoid', int, path, label),
        pathlib.Path(image_dir) / get(image, 'filepath', str, path, label)
        / get(image, 'filename', str, path, label), refs))
  return records


def read_chair(instances_path: PathLike, captions_path: PathLike,
               image_dir: PathLike) -> list[ChairRecord]:
  """CHAIR's ground truth for every image of the instances file: the names of its
  annotated categories and its reference captions (Rohrbach et al. use both)."""
  instances = load_json(instances_path)
  images = coco_images(instances, instances_path)
  names = {}
  for label, cat in enumerated(get_list(instances, 'categories', instances_path), 'id'):
    names[get(cat, 'id', int, instances_path, f'categories {label}')] = get(
        cat, 'name', str, instances_path, f'categories {label}')
  objects: dict[int, set[str]] = {image_id: set() for image_id in images}
  for label, ann in enumerated(get_list(instances, 'annotations', instances_path), 'id'):
    where = f'annotations {label}'
    image_id = get(ann, 'image_id', int, instances_path, where)
    category = get(ann, 'category_id', int, instances_path, where)
    if image_id not in objects:
      raise AnnotationError(instances_path, 'no such image', record=where, field='image_id')
    if category not in names:
      raise AnnotationError(instances_path, 'no such category', record=where, field='category_id')
    objects[image_id].add(names[category])

  # Captions must be of images the instances file lists (the same split).
  captions = coco_captions(load_json(captions_path), captions_path, images)
  return [ChairRecord(image_id, pathlib.Path(image_dir) / file_name,
                      tuple(sorted(objects[image_id])), tuple(captions[image_id]))
          for image_id, file_name in images.items()]


def read_pope(path: PathLike, image_dir: PathLike) -> list[POPERecord]:
  """``coco_pope_*.json``: JSON lines of {question_id, image, text, label} (POPE's
  files also carry ``image_id``, unused); images are ``image_dir/image``."""
  records = []
  for label, row in load_json_lines(path):
    answer = get(row, 'label', str, path, label)
    if answer not in ('yes', 'no'):
      raise AnnotationError(path, f"expected 'yes' or 'no', got {answer!r}", record=label,
                            field='label')
    records.append(POPERecord(get(row, 'question_id', int, path, label),
                              pathlib.Path(image_dir) / get(row, 'image', str, path, label),
                              get(row, 'text', str, path, label), answer))
  return records
