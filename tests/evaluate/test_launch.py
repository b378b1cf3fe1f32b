"""launch.evaluate end to end: the bundled tiny checkpoint on tiny POPE files."""

import json

import numpy as np
import pytest
from PIL import Image

from minigpt4_jax.generate.chat import load_chat
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.bundled import TINY_CHECKPOINT
from tests.evaluate import official

MAX_NEW = 8


@pytest.fixture(scope='module')
def pope_dir(tmp_path_factory):
  """coco_pope_random.json with three questions about two images in val2014/."""
  data = tmp_path_factory.mktemp('pope')
  (data / 'val2014').mkdir()
  rng = np.random.default_rng(0)
  lines = official.pope_lines() + [
      {'question_id': 2, 'image': 'COCO_val2014_000000000007.jpg', 'image_id': 7,
       'text': 'Is there a person in the image?', 'label': 'yes'}]
  for name in {line['image'] for line in lines}:
    pixels = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(data / 'val2014' / name, quality=95)
  official.write_json_lines(data / 'coco_pope_random.json', lines)
  return data


def chat_answer(image, question: str, ckpt=TINY_CHECKPOINT) -> str:
  """The same question through the chat: one sample, no batch padding."""
  chat = load_chat(ckpt, config=GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False))
  chat.upload_image(image)
  chat.ask(question)
  return chat.answer()


def test_pope_end_to_end_and_resume(pope_dir, tmp_path, capsys, monkeypatch):
  from launch import evaluate
  argv = ['--ckpt', str(TINY_CHECKPOINT), '--task', 'pope', '--data', str(pope_dir),
          '--out', str(tmp_path), '--batch-size', '2', '--max-new-tokens', str(MAX_NEW)]
  results = evaluate.main(argv)
  rows = [json.loads(line) for line in (tmp_path / 'predictions.jsonl').read_text().splitlines()]
  assert [r['sample_id'] for r in rows] == [0, 1, 2]
  # Batched, left-padded answers equal the chat's one-by-one answers.
  image = pope_dir / 'val2014' / 'COCO_val2014_000000000007.jpg'
  assert rows[2]['prediction'] and rows[2]['prediction'] == chat_answer(image, 'Is there a person in the image?')
  assert set(results['metrics']) == {'accuracy', 'precision', 'recall', 'f1', 'yes_ratio'}
  assert results['config']['generation']['max_new_tokens'] == MAX_NEW
  assert results['config']['template'] == 'vicuna_v0'
  assert json.loads((tmp_path / 'results.json').read_text()) == results
  assert '| tiny_checkpoint | pope | random | question | 3 |' in capsys.readouterr().out

  # A rerun predicts nothing: every sample is in predictions.jsonl.
  monkeypatch.setattr(evaluate.Answerer, '__call__', lambda *a: pytest.fail('predicted again'))
  assert evaluate.main(argv)['metrics'] == results['metrics']


def test_pope_with_a_llava_checkpoint(pope_dir, tmp_path):
  """A LLaVA checkpoint evaluates through the same runner: template v1, padded images."""
  from launch import evaluate
  from minigpt4_jax.bundled import TINY_LLAVA_CHECKPOINT as TINY_LLAVA
  results = evaluate.main(['--ckpt', str(TINY_LLAVA), '--task', 'pope', '--data', str(pope_dir),
                           '--out', str(tmp_path), '--batch-size', '2',
                           '--max-new-tokens', str(MAX_NEW)])
  assert results['config']['template'] == 'v1' and results['num_samples'] == 3
  rows = [json.loads(line) for line in (tmp_path / 'predictions.jsonl').read_text().splitlines()]
  image = pope_dir / 'val2014' / 'COCO_val2014_000000000007.jpg'
  assert rows[2]['prediction'] == chat_answer(image, 'Is there a person in the image?', TINY_LLAVA)
