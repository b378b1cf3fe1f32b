"""Every task through ``launch.evaluate`` with the bundled tiny checkpoint, on tiny
files in the official layouts (the readers' and metrics' own tests check values)."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from minigpt4_jax.evaluate.tasks import TASKS
from minigpt4_jax.bundled import TINY_CHECKPOINT
from tests.evaluate import official, official_v2


def write_files(task: str, data: pathlib.Path) -> None:
  """The task's annotation files under their official names in ``data``."""
  if task in ('vqav2', 'okvqa'):
    prefix = 'v2_' if task == 'vqav2' else ''
    official.write_json(data / f'{prefix}OpenEnded_mscoco_val2014_questions.json',
                        official.vqa_questions())
    official.write_json(data / f'{prefix}mscoco_val2014_annotations.json',
                        official.vqa_annotations())
  elif task == 'aokvqa_mc':
    official.write_json(data / 'aokvqa_v1p0_val.json', official.aokvqa())
  elif task == 'gqa':
    official.write_json(data / 'testdev_balanced_questions.json', official.gqa())
  elif task == 'coco_caption':
    official.write_json(data / 'dataset_coco.json', official.karpathy())
  elif task == 'nocaps':
    official.write_json(data / 'nocaps_val_4500_captions.json', official.coco_captions())
  elif task == 'chair':
    official.write_json(data / 'instances_val2014.json', official.coco_instances())
    official.write_json(data / 'captions_val2014.json', official.coco_captions())
  elif task == 'pope':
    official.write_json_lines(data / 'coco_pope_random.json', official.pope_lines())
  elif task in official_v2.WRITERS:
    official_v2.WRITERS[task](data)
  else:
    raise AssertionError(f'no tiny files for task {task}')


@pytest.mark.parametrize('task', sorted(TASKS))
def test_task_end_to_end(task, tmp_path, capsys):
  from launch import evaluate
  data = tmp_path / 'data'
  data.mkdir()
  write_files(task, data)
  records = TASKS[task].read(data, None, TASKS[task].split)
  rng = np.random.default_rng(0)
  for path in {r.image_path for r in records}:  # images where the task looks for them
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)

  out = tmp_path / 'out'
  results = evaluate.main(['--ckpt', str(TINY_CHECKPOINT), '--task', task, '--data', str(data),
                           '--out', str(out), '--batch-size', '2', '--max-new-tokens', '4'])
  predictions = [json.loads(line) for line in (out / 'predictions.jsonl').read_text().splitlines()]
  assert sorted(p['sample_id'] for p in predictions) == sorted(r.sample_id for r in records)
  assert results['num_samples'] == len(records) and results['metrics']
  assert all(np.isfinite(v) for v in results['metrics'].values() if isinstance(v, float))
  row = f'| tiny_checkpoint | {task} | {TASKS[task].split} | {TASKS[task].prompt} |'
  assert row in capsys.readouterr().out
