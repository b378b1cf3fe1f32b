"""The pipeline with a scripted describer and the stub endpoint: kept/dropped sets,
restarts that redo nothing, kills that lose at most the batch in flight, flaky fixes."""

import io
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from minigpt4_jax.curate.describe import Description
from minigpt4_jax.curate.fixers import EndpointConfig, OpenAIFixer
from minigpt4_jax.curate.pipeline import STATE, curate, folder_items, shard_items
from minigpt4_jax.curate.rules import DEFAULT_RULES, Rule
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.sources import AlignFolderSource
from tests.curate.stub_openai import StubOpenAI

GOOD = ('The photograph shows a {} on a wooden table near a bright window. The light falls '
        'from the left, and there is a small plant in a white pot behind it.')
# id -> (first answer, continue answer); the stub's fix of some of them is scripted below.
DESCRIPTIONS = {
    'apology': (GOOD.format('kettle'), ''),
    'cup': (GOOD.format('cup'), ''),
    'german': ('Das Bild zeigt eine Tasse auf einem Tisch neben einem hellen Fenster.', ''),
    'lamp': (GOOD.format('lamp'), 'It is switched off.'),
    'png_book': (GOOD.format('book'), ''),
    'repeat': (GOOD.format('vase'), GOOD.format('vase')),
    'short': ('A cup.', 'On a table.'),
}
FIXES = {'apology': "I'm sorry, I made a mistake. " + GOOD.format('kettle')}
KEPT = {'cup': GOOD.format('cup'), 'lamp': GOOD.format('lamp') + ' It is switched off.',
        'png_book': GOOD.format('book')}
DROPPED = {'apology': 'apology', 'broken': 'unreadable_image', 'german': 'non_english',
           'repeat': 'repeated_sentences', 'short': 'too_short'}


def _reply(paragraph: str) -> str:
  for item, fixed in FIXES.items():
    if paragraph == ' '.join(DESCRIPTIONS[item]).strip():
      return fixed
  return paragraph


@pytest.fixture
def images(tmp_path) -> pathlib.Path:
  folder = tmp_path / 'images'
  folder.mkdir()
  rng = np.random.default_rng(0)
  for name in DESCRIPTIONS:
    pixels = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    if name.startswith('png'):
      Image.fromarray(pixels).convert('RGBA').save(folder / f'{name}.png')
    else:
      Image.fromarray(pixels).save(folder / f'{name}.jpg')
  (folder / 'broken.jpg').write_bytes(b'not a jpeg')
  (folder / 'notes.txt').write_text('not an image')
  return folder


class ScriptedDescriber:
  """Describes from DESCRIPTIONS; raises (a kill) on call number ``die_on``."""

  def __init__(self, die_on: int | None = None):
    self.die_on, self.calls, self.described = die_on, 0, []

  def __call__(self, paths):
    self.calls += 1
    if self.calls == self.die_on:
      raise KeyboardInterrupt('killed')
    self.described += [p.stem for p in paths]
    return [Description(*DESCRIPTIONS[p.stem]) for p in paths]


def _fail(*args):
  pytest.fail('called on a finished run')


def _fixer(url, **overrides):
  config = dict(url=url, timeout_s=0.3, retries=3, backoff_s=0.01, workers=2)
  return OpenAIFixer(EndpointConfig(**{**config, **overrides}))


def _run(images, out, describe, fixer, rules=DEFAULT_RULES):
  return curate(folder_items(images), out, describe, fixer, rules, batch_size=2, progress=False)


def _review(out) -> dict[str, dict]:
  return {r['id']: r for r in map(json.loads, (out / 'review.jsonl').read_text().splitlines())}


def _check_outputs(out):
  review = _review(out)
  assert {i: r['fixed'] for i, r in review.items() if r['status'] == 'kept'} == KEPT
  assert {i: r['rule'] for i, r in review.items() if r['status'] == 'dropped'} == DROPPED
  assert review['lamp']['raw'] == GOOD.format('lamp')
  assert review['lamp']['continued'] == 'It is switched off.'
  assert review['apology']['fixed'] == FIXES['apology']
  source = AlignFolderSource(out)  # what configs/minigpt4_stage2.py reads
  assert {a['image_id']: a['caption'] for a in source.annotations} == KEPT
  assert {p.name for p in (out / 'image').iterdir()} == {f'{i}.jpg' for i in KEPT}
  assert all(not source[i]['error'] for i in range(len(source)))
  assert Image.open(out / 'image' / 'png_book.jpg').format == 'JPEG'
  page = (out / 'review.html').read_text()
  assert all(f'src="originals/{i}.jpg"' in page for i in review)
  assert '3 kept, 5 dropped' in page


def test_fix_and_filter_keep_and_drop_the_expected_items(images, tmp_path):
  with StubOpenAI(reply=_reply) as stub:
    counts = _run(images, tmp_path / 'out', ScriptedDescriber(), _fixer(stub.url))
  assert counts == {'kept': 3, 'dropped': 5, 'failed': 0, 'pending': 0}
  _check_outputs(tmp_path / 'out')
  assert len(stub.requests) == 7  # the unreadable image is never described or fixed


def test_restart_redoes_nothing_and_refilters(images, tmp_path):
  out = tmp_path / 'out'
  with StubOpenAI(reply=_reply) as stub:
    _run(images, out, ScriptedDescriber(), _fixer(stub.url))
  state = (out / STATE).read_bytes()
  # No describer, no endpoint: a finished run needs neither.
  counts = _run(images, out, _fail, _fixer('http://127.0.0.1:9/v1', retries=0))
  assert counts == {'kept': 3, 'dropped': 5, 'failed': 0, 'pending': 0}
  assert (out / STATE).read_bytes() == state
  _check_outputs(out)
  # New rules apply to the stored fixes without any model call.
  rules = [*DEFAULT_RULES, Rule('no_lamps', 'regex', {'pattern': 'lamp'})]
  assert _run(images, out, _fail, _fixer('http://127.0.0.1:9/v1'), rules)['kept'] == 2
  assert _review(out)['lamp']['rule'] == 'no_lamps'
  assert not (out / 'image' / 'lamp.jpg').exists()


def test_a_killed_run_resumes_where_it_stopped(images, tmp_path):
  out = tmp_path / 'out'
  killed = ScriptedDescriber(die_on=3)  # batches of 2: dies after 4 images
  with pytest.raises(KeyboardInterrupt):
    _run(images, out, killed, _fail)
  assert killed.described == ['apology', 'cup', 'german']  # 'broken' does not decode
  with open(out / STATE, 'ab') as f:
    f.write(b'{"id": "lamp", "where": "half a li')  # the kill cut a line short
  resumed = ScriptedDescriber()
  with StubOpenAI(reply=_reply) as stub:

    class DiesOnSecondBatch(OpenAIFixer):
      calls = 0

      def __call__(self, paragraphs):
        DiesOnSecondBatch.calls += 1
        if DiesOnSecondBatch.calls == 2:
          raise KeyboardInterrupt('killed while fixing')
        return super().__call__(paragraphs)

    fixer = DiesOnSecondBatch(EndpointConfig(url=stub.url, workers=1))
    fixer.batch_size = 4
    with pytest.raises(KeyboardInterrupt):
      _run(images, out, resumed, fixer)
    assert sorted(resumed.described) == ['lamp', 'png_book', 'repeat', 'short']
    assert len(stub.calls) == 4  # the first fix batch was stored, the second was lost
    _run(images, out, _fail, _fixer(stub.url))
    assert len(stub.requests) == 7 and all(n == 1 for n in stub.calls.values())
  _check_outputs(out)


def test_a_flaky_endpoint_loses_nothing(images, tmp_path):
  with StubOpenAI(reply=_reply, fail_first=3) as stub:  # 500, timeout, malformed, then good
    counts = _run(images, tmp_path / 'out', ScriptedDescriber(), _fixer(stub.url, retries=3))
  assert counts == {'kept': 3, 'dropped': 5, 'failed': 0, 'pending': 0}
  assert all(n == 4 for n in stub.calls.values())
  _check_outputs(tmp_path / 'out')


def test_a_dead_endpoint_keeps_items_for_the_next_run(images, tmp_path):
  out = tmp_path / 'out'
  with StubOpenAI(reply=_reply, fail_first=100, failures=('500',)) as stub:
    counts = _run(images, out, ScriptedDescriber(), _fixer(stub.url, retries=1))
  assert counts == {'kept': 0, 'dropped': 1, 'failed': 7, 'pending': 0}
  review = _review(out)
  assert review['cup']['status'] == 'failed' and 'HTTP 500' in review['cup']['error']
  assert review['cup']['raw'] == GOOD.format('cup')
  assert json.loads((out / 'filter_cap.json').read_text()) == {
      'annotations': []}
  with StubOpenAI(reply=_reply) as stub:  # back up: the next run fixes them, describes nothing
    counts = _run(images, out, _fail, _fixer(stub.url))
  assert counts == {'kept': 3, 'dropped': 5, 'failed': 0, 'pending': 0}
  assert _review(out)['cup']['error'] == ''
  _check_outputs(out)


def test_shard_items_read_the_demo_shards():
  items = shard_items(demo_paths().shards)
  assert len(items) == len({i.id for i in items}) > 0
  assert items[0].where.endswith(f'00000.tar:{items[0].id}')
  assert Image.open(io.BytesIO(items[0].read())).size


def test_folder_items_errors_name_the_folder(tmp_path):
  with pytest.raises(FileNotFoundError, match='missing: no such directory'):
    folder_items(tmp_path / 'missing')
  with pytest.raises(ValueError, match=f'{tmp_path}: no images'):
    folder_items(tmp_path)
  for name in ('a.jpg', 'a.png'):
    Image.new('RGB', (4, 4)).save(tmp_path / name)
  with pytest.raises(ValueError, match=r"1 image ids occur twice, e.g. \['a'\]"):
    folder_items(tmp_path)
