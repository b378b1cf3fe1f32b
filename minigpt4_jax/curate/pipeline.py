"""The curation run: describe -> fix -> filter -> write, resumable at every step.

Items are images with a stable id (a file's stem, a shard sample's key). Each step
records its result in ``OUT/state.jsonl`` before the next starts, so a rerun after a
kill describes only the images never described and fixes only those never fixed (or
whose fix failed); filtering and writing are redone every run from the state, with
the current rules. Split over processes (``share``), each describes and fixes
every N-th image into its own OUT/state.process-K-of-N.jsonl (and resumes it);
process 0 then filters and writes the outputs from all of them.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pathlib
import re
from typing import Callable, Iterator, Sequence, TypeVar

from PIL import Image
from tqdm import tqdm

from minigpt4_jax.atomic import write_atomically
from minigpt4_jax.curate.describe import Description
from minigpt4_jax.curate.fixers import Fixer
from minigpt4_jax.curate.output import ORIGINALS, write_outputs
from minigpt4_jax.curate.rules import Rule
from minigpt4_jax.curate.store import ItemState, Store
from minigpt4_jax.data.sources import IMAGE_EXTENSIONS, TarShardSource, read_member
from minigpt4_jax.distributed import WorkShare
from minigpt4_jax.errors import BadInput
from minigpt4_jax.inputs import require_dir

# image paths -> their descriptions (``Describer`` or a stand-in)
DescribeFn = Callable[[Sequence[pathlib.Path]], list[Description]]
STATE = 'state.jsonl'
T = TypeVar('T')


@dataclasses.dataclass(frozen=True)
class Item:
  id: str
  where: str                  # where the image came from, for the review
  read: Callable[[], bytes]   # the encoded image


def _safe_id(name: str) -> str:
  """A file-name-safe id: the output is ``image/{id}.jpg``."""
  return re.sub(r'[^A-Za-z0-9._-]', '_', name).strip('.') or '_'


def _unique(items: list[Item], where: str) -> list[Item]:
  counts = collections.Counter(i.id for i in items)
  clashes = sorted(i for i, n in counts.items() if n > 1)
  if clashes:
    raise ValueError(f'{where}: {len(clashes)} image ids occur twice, e.g. {clashes[:3]} '
                     '(ids are file stems / shard keys and name the output images)')
  return items


def folder_items(directory: str | pathlib.Path) -> list[Item]:
  """The images of a folder (not recursive), sorted by name."""
  directory = require_dir(directory, 'image folder')
  paths = sorted(p for p in directory.iterdir()
                 if p.is_file() and p.suffix.lower().lstrip('.') in IMAGE_EXTENSIONS)
  if not paths:
    raise BadInput(f'{directory}: no images ({", ".join(IMAGE_EXTENSIONS)})')
  return _unique([Item(_safe_id(p.stem), str(p), p.read_bytes) for p in paths], str(directory))


def shard_items(patterns: str | Sequence[str]) -> list[Item]:
  """The images of webdataset shards (captions are not needed), in shard order."""
  source = TarShardSource(patterns)
  items = []
  for s in source.samples:
    shard = source.shards[s.shard]
    items.append(Item(_safe_id(s.key), f'{shard}:{s.key}',
                      lambda path=shard, m=s.image: read_member(path, m)))
  return _unique(items, str(patterns))


def save_original(data: bytes, path: pathlib.Path) -> None:
  """The image as a JPEG (as bytes if it is one already); raises if it does not decode."""
  image = Image.open(io.BytesIO(data))
  image.load()
  if image.format == 'JPEG' and image.mode == 'RGB':
    write_atomically(path, lambda f: f.write(data))
  else:
    write_atomically(path, lambda f: image.convert('RGB').save(f, 'JPEG', quality=95))


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
  for start in range(0, len(items), size):
    yield list(items[start:start + size])


def describe_all(items: Sequence[Item], out_dir: pathlib.Path, store: Store, describe: DescribeFn,
                 batch_size: int, progress: bool = True) -> None:
  """Describes every item the store has not seen, one batch at a time."""
  originals = out_dir / ORIGINALS
  originals.mkdir(parents=True, exist_ok=True)
  todo = [i for i in items if i.id not in store.items]
  with tqdm(total=len(todo), desc='describe', unit='img', disable=not progress) as bar:
    for batch in batches(todo, batch_size):
      ready, states = [], []
      for item in batch:
        try:
          save_original(item.read(), originals / f'{item.id}.jpg')
          ready.append(item)
        except (OSError, ValueError, EOFError, Image.DecompressionBombError) as err:
          states.append(ItemState(item.id, item.where, 'unreadable',
                                  error=f'{type(err).__name__}: {err}'))
      if ready:
        descriptions = describe([originals / f'{i.id}.jpg' for i in ready])
        states += [ItemState(i.id, i.where, 'described', d.raw, d.continued)
                   for i, d in zip(ready, descriptions)]
      store.append(states)
      bar.update(len(batch))


def fix_all(items: Sequence[Item], store: Store, fixer: Fixer, progress: bool = True) -> None:
  """Fixes every described item not fixed yet, failed ones included."""
  todo = [store.items[i.id] for i in items
          if store.items[i.id].stage in ('described', 'fix_failed')]
  with tqdm(total=len(todo), desc='fix', unit='text', disable=not progress) as bar:
    for batch in batches(todo, fixer.batch_size):
      results = fixer([s.description for s in batch])
      store.append(dataclasses.replace(s, stage='fix_failed' if r.error else 'fixed',
                                       fixed=r.text, error=r.error)
                   for s, r in zip(batch, results))
      bar.update(len(batch))


def curate(items: Sequence[Item], out_dir: str | pathlib.Path, describe: DescribeFn,
           fixer: Fixer, rules: Sequence[Rule], *, batch_size: int,
           progress: bool = True, share: WorkShare = WorkShare()) -> dict[str, int] | None:
  """Runs (or resumes) the pipeline over ``items``; returns the count per status
  (None on processes other than 0, which only describe and fix their share)."""
  out_dir = pathlib.Path(out_dir)
  store = Store(out_dir / share.file_name(STATE))
  mine = share.take(items)
  describe_all(mine, out_dir, store, describe, batch_size, progress)
  fix_all(mine, store, fixer, progress)
  share.wait_for_all(f'curate {out_dir}')
  if not share.is_main:
    return None
  states = {item_id: state for name in share.file_names(STATE)
            for item_id, state in Store(out_dir / name).items.items()}
  rows = write_outputs(out_dir, [states[i.id] for i in items], rules)
  counts = collections.Counter(r['status'] for r in rows)
  return {s: counts[s] for s in ('kept', 'dropped', 'failed', 'pending')}
