"""launch.curate end to end: the bundled tiny checkpoint describes the demo images, the
stub endpoint fixes them, and launch.train's stage 2 trains on the folder it writes."""

import itertools
import json
import os
import pathlib
import subprocess
import sys

import pytest

from configs.tiny import DESCRIBED
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.bundled import TINY_CHECKPOINT
from tests.curate.stub_openai import StubOpenAI

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGES = pathlib.Path(demo_paths().align_dir) / 'image'
LIMIT = 16  # all the demo images
CAPTION = ('The photograph shows {} objects on a wooden table near a bright window, and the '
           'light falls softly from the left side of the frame.')


def _fixes():
  """Every third answer is an apology; the others differ (numbered), or the
  duplicate-caption rule would drop them."""
  replies = itertools.count()

  def fix(paragraph):
    del paragraph
    reply = next(replies)
    return 'I apologize.' if reply % 3 == 0 else CAPTION.format(reply)
  return fix


def test_curate_then_train_stage2(tmp_path):
  from launch import curate
  out = tmp_path / 'align'
  argv = ['--ckpt', str(TINY_CHECKPOINT), '--images', str(IMAGES), '--out', str(out),
          '--limit', str(LIMIT), '--batch-size', '4', '--max-new-tokens', '8', '--no-progress',
          '--fixer', 'openai', '--fixer-model', 'stub', '--fixer-timeout', '5']
  with StubOpenAI(reply=_fixes(), fail_first=1, failures=('500',)) as stub:
    counts = curate.main(argv + ['--fixer-url', stub.url, '--fixer-backoff', '0.01'])
  assert counts == {'kept': 10, 'dropped': 6, 'failed': 0, 'pending': 0}
  # The stub fails the first request for each distinct paragraph once; each is retried.
  paragraphs = {r['messages'][0]['content'] for r in stub.requests}
  assert len(stub.requests) == LIMIT + len(paragraphs)
  rows = [json.loads(line) for line in (out / 'review.jsonl').read_text().splitlines()]
  assert [r['id'] for r in rows] == sorted(p.stem for p in IMAGES.glob('*.jpg'))[:LIMIT]
  # 8 new tokens are always under 80: every description went on with "Continue".
  assert all(r['raw'] and r['continued'] for r in rows)
  kept = {r['id']: r['fixed'] for r in rows if r['status'] == 'kept'}
  assert all(c.startswith('The photograph shows ') for c in kept.values())
  assert [r['rule'] for r in rows if r['status'] == 'dropped'] == ['apology'] * 6
  annotations = json.loads((out / 'filter_cap.json').read_text())['annotations']
  assert {a['image_id']: a['caption'] for a in annotations} == kept

  # A rerun: nothing described or fixed again (the endpoint is gone).
  assert curate.main(argv + ['--fixer-url', 'http://127.0.0.1:9/v1']) == counts
  with pytest.raises(ValueError, match='max_new_tokens.*use another output folder'):
    curate.main([*argv, '--max-new-tokens', '9', '--fixer-url', 'http://127.0.0.1:9/v1'])

  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=1',
             PYTHONPATH=str(REPO))
  result = subprocess.run(
      [sys.executable, '-m', 'launch.train', '--config', 'configs/tiny.py:stage2',
       '--workdir', str(tmp_path / 'stage2'), f'--config.init_from={TINY_CHECKPOINT}',
       f'--config.data.align_dir={out}', '--config.train.steps=2',
       '--config.train.log_every=1'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  logged = [json.loads(line) for line in (tmp_path / 'stage2' / 'metrics.jsonl').read_text()
            .splitlines()]
  assert [m['step'] for m in logged] == [1, 2]
  # It ends by describing configs/tiny.py's photographs through the chat API.
  assert 'Describe this image in detail.' in result.stdout
  assert all(f'  {name}.jpg: ' in result.stdout for name in DESCRIBED), result.stdout


def test_help_and_bad_arguments(capsys):
  from launch import curate
  with pytest.raises(SystemExit):
    curate.parse_args(['--help'])
  assert 'Continue' in capsys.readouterr().out
  with pytest.raises(SystemExit):
    curate.parse_args(['--ckpt', 'x', '--images', 'y', '--out', 'z', '--fixer', 'openai'])
  assert '--fixer openai needs --fixer-url' in capsys.readouterr().err
