"""A resume whose settings build other arrays than the workdir's checkpoints hold (the
blocks stacked by ``model.scan_layers``, another ``train.trainable``) is refused in one
line naming the arrays and the changed setting; the intact steps are not taken for
damaged and moved aside, and the workdir's config.json is left as it was."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from minigpt4_jax.bundled import TINY_LLAVA_CHECKPOINT
from minigpt4_jax.checkpoint_layout import array_layout, layout_difference, structural_changes
from minigpt4_jax.errors import BadInput
from minigpt4_jax.workdir import DAMAGED_DIR, RUN_CONFIG, TrainCheckpoints, abstract_like
from tests.commands import REPO, run_module


def _per_layer(n: int) -> dict:
  return {'llm': {'layers': {str(i): {'kernel': jnp.full((2, 3), float(i))} for i in range(n)}}}


def _stacked(n: int) -> dict:
  return {'llm': {'layers': {'kernel': jnp.zeros((n, 2, 3))}}}


def test_layout_difference_names_missing_extra_and_reshaped_arrays():
  assert layout_difference(array_layout(_per_layer(2)), array_layout(_per_layer(2))) is None
  difference = layout_difference(array_layout(_per_layer(2)), array_layout(_stacked(2)))
  assert difference.startswith('2 stored arrays the run does not build (e.g. '
                               'llm/layers/0/kernel (2, 3), llm/layers/1/kernel (2, 3)); '
                               '1 built arrays not stored (e.g. llm/layers/kernel (2, 2, 3))')
  wider = {'llm': {'layers': {str(i): {'kernel': jnp.zeros((2, 4))} for i in range(2)}}}
  assert layout_difference(array_layout(_per_layer(2)), array_layout(wider)) == (
      '2 of other shapes (e.g. llm/layers/0/kernel stored (2, 3), built (2, 4), '
      'llm/layers/1/kernel stored (2, 3), built (2, 4))')


def test_structural_changes_are_model_fields_and_the_trainable_set():
  before = {'model': {'scan_layers': True, 'dtype': 'float32'}, 'train': {'lr': 1.0,
                                                                          'trainable': ['a']}}
  now = {'model': {'scan_layers': False, 'dtype': 'float32'}, 'train': {'lr': 2.0,
                                                                        'trainable': ['b']}}
  assert structural_changes(before, now) == ["model.scan_layers: True -> False",
                                             "train.trainable: ['a'] -> ['b']"]


def test_restore_of_other_arrays_is_refused_not_moved_aside(tmp_path):
  (tmp_path / RUN_CONFIG).write_text(json.dumps({'model': {'scan_layers': True}}))
  saved = TrainCheckpoints(tmp_path)
  saved.save(1, _stacked(2), {'mu': _stacked(2)}, {'epoch': 0}, {'step': 1})
  saved.wait()
  saved.close()
  resumed = TrainCheckpoints(tmp_path, run_config={'model': {'scan_layers': False}})
  with pytest.raises(BadInput) as refused:
    resumed.restore_newest_intact(abstract_like(_per_layer(2)),
                                  abstract_like({'mu': _per_layer(2)}))
  message = str(refused.value)
  assert message.startswith(f'{tmp_path / "checkpoints" / "1"}: step 1 holds other arrays than '
                            'this run builds (trainable: 1 stored arrays the run does not build')
  assert message.endswith(f'; {tmp_path / RUN_CONFIG} says model.scan_layers: True -> False: '
                          'resume with the settings that wrote it, or use another --workdir')
  assert '\n' not in message
  assert not (tmp_path / DAMAGED_DIR).exists() and resumed.latest_step() == 1
  # The same settings restore the step.
  step, restored = resumed.restore_newest_intact(abstract_like(_stacked(2)),
                                                 abstract_like({'mu': _stacked(2)}))
  assert step == 1
  jax.tree.map(np.testing.assert_array_equal, restored['trainable'], _stacked(2))
  resumed.close()


def test_resuming_a_scanned_workdir_unscanned_is_one_line_and_keeps_the_workdir(tmp_path):
  """Tiny LLaVA stage 2 trains the LLM's blocks: stacked in the checkpoint when scanned."""
  args = ['--config', f'{REPO}/configs/tiny_llava.py:stage2', '--workdir', str(tmp_path),
          f'--config.init_from={TINY_LLAVA_CHECKPOINT}', '--config.train.checkpoint_every=1',
          '--config.describe_images=()']
  first = run_module('launch.train', *args, '--config.train.steps=1',
                     '--config.model.scan_layers=True')
  assert first.returncode == 0, first.stderr[-3000:]
  config = (tmp_path / RUN_CONFIG).read_text()
  second = run_module('launch.train', *args, '--config.train.steps=2')
  assert second.returncode == 2, second.stderr[-3000:]
  error = [line for line in second.stderr.splitlines() if line.startswith('error: ')]
  assert len(error) == 1 and 'Traceback' not in second.stderr, second.stderr[-3000:]
  assert 'step 1 holds other arrays than this run builds' in error[0]
  assert 'model.scan_layers: True -> False' in error[0]
  assert not (tmp_path / DAMAGED_DIR).exists()
  assert (tmp_path / RUN_CONFIG).read_text() == config
  assert (tmp_path / 'checkpoints' / '1').is_dir()
