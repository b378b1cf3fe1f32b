"""RefCOCO, RefCOCO+ and RefCOCOg from the official refer toolkit files.

  DIR/refcoco/refs(unc).p    DIR/refcoco/instances.json     (splits val, testA, testB)
  DIR/refcoco+/refs(unc).p   DIR/refcoco+/instances.json    (val, testA, testB)
  DIR/refcocog/refs(umd).p   DIR/refcocog/instances.json    (val, test)

(lichengunc/refer ``refer.py``: ``refs(<splitBy>).p`` is a pickled list of refs
{ref_id, ann_id, image_id, split, sentences: [{sent_id, sent, raw, tokens}]};
``instances.json`` is COCO-format with the boxes and image sizes.) One record per
sentence, as MiniGPT-v2's ``eval_ref.py`` asks one question per sentence. The pickle
is read with an unpickler that builds only plain containers, so it cannot run code.
"""

from __future__ import annotations

import dataclasses
import pathlib
import pickle

from minigpt4_jax.evaluate.readers import (AnnotationError, PathLike, enumerated, get,
                                           get_list, load_json)

# dataset -> (folder, refer's splitBy)
DATASETS = {'refcoco': ('refcoco', 'unc'), 'refcoco+': ('refcoco+', 'unc'),
            'refcocog': ('refcocog', 'umd')}


@dataclasses.dataclass(frozen=True)
class RefRecord:
  """One referring expression and the box it refers to."""

  sample_id: int  # sent_id
  image_path: pathlib.Path
  sentence: str
  box_xywh: tuple[float, float, float, float]  # COCO pixels
  width: int
  height: int

  @property
  def question(self) -> str:  # what the prompt preset formats in
    return self.sentence


class _PlainUnpickler(pickle.Unpickler):
  def find_class(self, module, name):
    raise pickle.UnpicklingError(f'refuses to build {module}.{name}: only plain data expected')


def load_refs(path: PathLike) -> list:
  try:
    with open(path, 'rb') as f:
      refs = _PlainUnpickler(f).load()
  except pickle.UnpicklingError as err:
    raise AnnotationError(path, f'not a plain refer pickle ({err})') from None
  if not isinstance(refs, list):
    raise AnnotationError(path, f'expected a pickled list of refs, got {type(refs).__name__}')
  return refs


def read_refs(refs_path: PathLike, instances_path: PathLike, image_dir: PathLike,
              split: str) -> list[RefRecord]:
  """The sentences of ``split``'s refs, with their annotation's box and image size;
  images are ``image_dir/file_name`` (COCO train2014, from instances.json)."""
  instances = load_json(instances_path)
  images = {}
  for label, image in enumerated(get_list(instances, 'images', instances_path), 'id'):
    where = f'images {label}'
    images[get(image, 'id', int, instances_path, where)] = (
        get(image, 'file_name', str, instances_path, where),
        get(image, 'width', int, instances_path, where),
        get(image, 'height', int, instances_path, where))
  boxes = {}
  for label, ann in enumerated(get_list(instances, 'annotations', instances_path), 'id'):
    where = f'annotations {label}'
    box = get(ann, 'bbox', list, instances_path, where)
    if len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
      raise AnnotationError(instances_path, f'expected [x, y, w, h], got {box!r}', record=where,
                            field='bbox')
    boxes[get(ann, 'id', int, instances_path, where)] = tuple(float(v) for v in box)
  records = []
  for label, ref in enumerated(load_refs(refs_path), 'ref_id'):
    if get(ref, 'split', str, refs_path, label) != split:
      continue
    ann_id = get(ref, 'ann_id', int, refs_path, label)
    image_id = get(ref, 'image_id', int, refs_path, label)
    if ann_id not in boxes:
      raise AnnotationError(refs_path, f'no such annotation in {instances_path}', record=label,
                            field='ann_id')
    if image_id not in images:
      raise AnnotationError(refs_path, f'no such image in {instances_path}', record=label,
                            field='image_id')
    file_name, width, height = images[image_id]
    for j, sent in enumerate(get(ref, 'sentences', list, refs_path, label)):
      where = f'{label} sentence {j}'
      records.append(RefRecord(get(sent, 'sent_id', int, refs_path, where),
                               pathlib.Path(image_dir) / file_name,
                               get(sent, 'sent', str, refs_path, where), boxes[ann_id],
                               width, height))
  if not records:
    raise AnnotationError(refs_path, f'no refs of split {split!r}')
  return records


def read_refcoco(dataset: str, data: pathlib.Path, images: pathlib.Path, split: str
                 ) -> list[RefRecord]:
  """``dataset`` (refcoco, refcoco+, refcocog) from ``data``'s refer folders."""
  folder, split_by = DATASETS[dataset]
  return read_refs(data / folder / f'refs({split_by}).p', data / folder / 'instances.json',
                   images, split)
