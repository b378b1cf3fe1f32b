"""The converted-checkpoint format: save/load, sharded restore, atomic writes."""

import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax import checkpoint, sharding
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.models.params import param_table
from tests.convert import layouts


def test_save_then_load_keeps_every_parameter(converted, tokenizer_dir, tmp_path):
  model = minigpt4_jax.load(converted, dtype=jnp.float32).model
  checkpoint.save(model, tmp_path / 'ckpt', tokenizer_dir, dtype=jnp.bfloat16)
  assert checkpoint.load_config(tmp_path / 'ckpt') == model.cfg
  assert (checkpoint.tokenizer_dir(tmp_path / 'ckpt') / 'tokenizer.model').is_file()
  loaded = param_table(minigpt4_jax.load(tmp_path / 'ckpt', dtype=jnp.float32).model)
  for path, var in param_table(model).items():
    # Towers stored in bf16; the projector as trained (f32), bit for bit.
    expected = var[...] if path.startswith('projector/') else var[...].astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(loaded[path][...]),
                                  np.asarray(expected, np.float32), err_msg=path)


def test_load_into_a_mesh_shards_and_matches(release, converted):
  mesh = sharding.make_mesh(data=1, fsdp=2, tensor=4)  # the 8 fake CPU devices
  model = minigpt4_jax.load(converted, dtype=jnp.float32, mesh=mesh).model
  up = model.llm.layers[0].mlp.up_proj.kernel[...]
  assert up.sharding.spec == jax.sharding.PartitionSpec('fsdp', 'tensor')
  assert len(up.addressable_shards) == 8
  assert layouts.logits_error(release, model) <= 1e-5


_KILLED_WRITER = textwrap.dedent('''
    import os, signal, sys
    import numpy as np
    from minigpt4_jax.checkpoint import CheckpointWriter
    writer = CheckpointWriter(sys.argv[1])
    writer.write_group('llm_layers_000', {'llm/layers/0/input_norm/weight': np.ones(4)})
    os.kill(os.getpid(), signal.SIGKILL)  # dies mid-conversion, no cleanup
''')


def test_killed_write_is_not_a_checkpoint(tmp_path):
  run = subprocess.run([sys.executable, '-c', _KILLED_WRITER, str(tmp_path / 'ckpt')])
  assert run.returncode == -9
  assert not (tmp_path / 'ckpt').exists()
  [partial] = tmp_path.glob('.ckpt.partial-*')  # left behind, hidden, never complete
  assert not checkpoint.is_complete(partial)
  with pytest.raises(FileNotFoundError, match=r'no config.json; not a \(complete\) converted'):
    checkpoint.load(partial)


def test_failed_overwrite_keeps_the_old_checkpoint(release, converted, tmp_path):
  shutil.copytree(converted, tmp_path / 'ckpt')
  before = checkpoint.read_group(tmp_path / 'ckpt', 'vision_blocks_000')
  # A bad last ViT block fails after earlier groups were already written.
  bad = layouts.write_edited_eva(release, tmp_path / 'eva.pth', lambda s: s.__setitem__(
      'blocks.1.mlp.fc1.weight', torch.zeros(3, 3)))
  args = layouts.cli_args(release, tmp_path / 'ckpt') + ['--overwrite']
  args[args.index('--vision') + 1] = str(bad)
  with pytest.raises(ConversionError, match='blocks.1.mlp.fc1.weight'):
    convert_cli.main(args)
  assert checkpoint.is_complete(tmp_path / 'ckpt')
  after = checkpoint.read_group(tmp_path / 'ckpt', 'vision_blocks_000')
  assert all(np.array_equal(before[p], after[p]) for p in before)
  assert not list(tmp_path.glob('.ckpt.*'))
