"""The grain pipeline: determinism, resume, per-host slices, bad input, mixing."""

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.config import default_config
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.data.pipeline import make_train_iterator


def _cfg(**overrides):
  c = default_config()
  c.train_shards = (demo_paths().shards,)
  c.num_workers = 0
  c.update(overrides)
  return c


def _take(it, n):
  return [next(it) for _ in range(n)]


def _same(a, b):
  return np.array_equal(a['image'], b['image']) and list(a['text']) == list(b['text'])


def test_same_seed_same_batches_other_seed_differs():
  a = _take(make_train_iterator(_cfg(), global_batch_size=4, seed=3), 3)
  b = _take(make_train_iterator(_cfg(), global_batch_size=4, seed=3), 3)
  c = _take(make_train_iterator(_cfg(), global_batch_size=4, seed=4), 3)
  assert all(_same(x, y) for x, y in zip(a, b))
  assert not all(_same(x, y) for x, y in zip(a, c))
  assert a[0]['image'].shape == (4, 224, 224, 3) and a[0]['image'].dtype == np.uint8


@pytest.mark.parametrize('workers', [0, 2])
def test_resume_from_state_gives_the_same_next_batch(workers):
  reference = _take(make_train_iterator(_cfg(), global_batch_size=4, seed=0), 6)
  it = make_train_iterator(_cfg(num_workers=workers), global_batch_size=4, seed=0)
  first = _take(it, 3)  # crosses an epoch boundary (16 samples)... after 6 batches
  state = json.loads(json.dumps(it.get_state()))
  it.close()
  resumed = make_train_iterator(_cfg(num_workers=workers), global_batch_size=4, seed=0)
  resumed.set_state(state)
  rest = _take(resumed, 3)
  resumed.close()
  assert all(_same(x, y) for x, y in zip(first + rest, reference))


@pytest.mark.parametrize('hosts', [2, 3])
def test_host_slices_are_disjoint_and_cover_the_data(hosts):
  seen = []
  for host in range(hosts):
    it = make_train_iterator(_cfg(shuffle=False), global_batch_size=hosts, seed=0,
                             process_index=host, process_count=hosts, num_epochs=1)
    texts = []
    with pytest.raises(StopIteration):
      while True:
        texts += list(next(it)['text'])
    seen.append(texts)
  flat = [t for texts in seen for t in texts]
  assert len(flat) == len(set(flat)) == len(DEMO_IMAGES)
  assert set(flat) == {caption for _, caption, _ in DEMO_IMAGES}


def _jpeg(mode='RGB', size=(40, 30), fmt='JPEG') -> bytes:
  out = io.BytesIO()
  rng = np.random.default_rng(0)
  image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).convert(mode)
  image.save(out, format=fmt)
  return out.getvalue()


def _write_tar(path, members):
  with tarfile.open(path, 'w', format=tarfile.USTAR_FORMAT) as tar:
    for name, data in members:
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))


def test_bad_samples_are_skipped_and_counted(tmp_path):
  good = _jpeg()
  # Shard a: two good samples, then one whose tar ends mid-member.
  _write_tar(tmp_path / 'a.tar', [('g1.jpg', good), ('g1.txt', b'good one'),
                                  ('g2.jpg', good), ('g2.txt', b'good two'),
                                  ('cut.txt', b'cut short'), ('cut.jpg', good)])
  raw = (tmp_path / 'a.tar').read_bytes()
  (tmp_path / 'a.tar').write_bytes(raw[:raw.rindex(good[:64]) + 100])
  bad = [
      ('empty.jpg', b''), ('empty.txt', b'zero bytes'),
      ('trunc.jpg', good[:len(good) // 2]), ('trunc.txt', b'truncated jpeg'),
      ('junk.jpg', b'not an image at all'), ('junk.txt', b'garbage bytes'),
      ('latin.jpg', good), ('latin.txt', 'caf\xe9'.encode('latin-1')),
      ('nocap.jpg', good),
      ('badjson.jpg', good), ('badjson.json', b'{"url": "x"}'),
      ('blank.jpg', good), ('blank.txt', b'   '),
  ]
  converted = [  # odd colour modes are converted, not skipped
      ('gray.jpg', _jpeg('L')), ('gray.txt', b'a gray image'),
      ('cmyk.jpg', _jpeg('CMYK')), ('cmyk.txt', b'a cmyk image'),
      ('pal.png', _jpeg('P', fmt='PNG')), ('pal.txt', b'a palette image'),
      ('rgba.png', _jpeg('RGBA', fmt='PNG')), ('rgba.json', b'{"caption": "an rgba image"}'),
  ]
  _write_tar(tmp_path / 'b.tar', bad + converted + [('last.jpg', good), ('last.txt', b'last')])
  cfg = _cfg(train_shards=(f'{tmp_path}/{{a,b}}.tar',), shuffle=False)
  it = make_train_iterator(cfg, global_batch_size=1, seed=0)
  batches = _take(it, 2 + 4 + 1)  # every good or converted sample of one epoch
  texts = [b['text'][0] for b in batches]
  assert texts == ['good one', 'good two', 'a gray image', 'a cmyk image',
                   'a palette image', 'an rgba image', 'last']
  # cut (truncated tar member) + empty, trunc, junk, latin-1 text, no caption,
  # json without caption, blank caption = 8 of 15 samples (>= 10% of every kind)
  assert sum(int(b['skipped']) for b in batches) == 8
  assert all(np.isfinite(b['image']).all() for b in batches)


def test_missing_shard_or_empty_data_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='2 shard.s. missing, first: .*00006.tar'):
    make_train_iterator(_cfg(train_shards=(str(tmp_path / '{00006..00007}.tar'),)),
                        global_batch_size=2, seed=0)
  with pytest.raises(ValueError, match='train_shards is empty'):
    make_train_iterator(_cfg(train_shards=()), global_batch_size=2, seed=0)
  with pytest.raises(FileNotFoundError, match='filter_cap.json'):
    make_train_iterator(_cfg(kind='align', align_dir=str(tmp_path)), global_batch_size=2, seed=0)


def test_batches_mix_sources_by_weight():
  demo = demo_paths()
  cfg = _cfg(train_shards=(demo.shards, demo.shards.replace('00000..00003', '00000..00001')),
             weights=(3.0, 1.0), augment=False)
  it = make_train_iterator(cfg, global_batch_size=1, seed=0)
  sources = [int(next(it)['source']) for _ in range(400)]
  assert abs(sources.count(0) / 400 - 0.75) < 0.06


def test_align_folder_yields_raw_descriptions():
  cfg = _cfg(kind='align', align_dir=demo_paths().align_dir, clean_captions=False, shuffle=False)
  batch = next(make_train_iterator(cfg, global_batch_size=2, seed=0))
  assert list(batch['text']) == [d for _, _, d in DEMO_IMAGES[:2]]  # punctuation kept


def test_batches_gather_good_rows_across_chunks_and_resume_inside_one(tmp_path):
  """Chunks of 2 (the batch size) with bad rows: batches take the next chunk's rows,
  count the bad ones where they are met, and resume mid-chunk at each batch."""
  good, junk = _jpeg(), b'not an image'
  names = ['g0', 'b1', 'g2', 'g3', 'b4', 'b5', 'g6', 'g7', 'g8']  # 9 rows: a partial last chunk
  _write_tar(tmp_path / 'a.tar', [m for n in names for m in (
      (f'{n}.jpg', junk if n[0] == 'b' else good), (f'{n}.txt', n.encode()))])
  cfg = _cfg(train_shards=(str(tmp_path / 'a.tar'),), shuffle=False)

  def batches(start_state=None, count=3):
    it = make_train_iterator(cfg, global_batch_size=2, seed=0, num_epochs=1)
    if start_state is not None:
      it.set_state(json.loads(json.dumps(start_state)))
    taken = [next(it) for _ in range(count)]
    state = it.get_state()
    it.close()
    return [(list(b['text']), int(b['skipped'])) for b in taken], state

  reference, _ = batches()
  assert reference == [(['g0', 'g2'], 1), (['g3', 'g6'], 2), (['g7', 'g8'], 0)]
  for k in (1, 2):  # both states are mid-chunk: g3 and g7 are still to come
    first, state = batches(count=k)
    rest, _ = batches(state, 3 - k)
    assert first + rest == reference
