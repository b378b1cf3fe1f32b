"""Projector export to MiniGPT-4's .pth format, and back."""

import jax.numpy as jnp
import numpy as np
import torch

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax import families
from minigpt4_jax.convert.export import projector_arrays
from minigpt4_jax.models.params import param_table
from minigpt4_jax.train.config import base_config
from minigpt4_jax.train.trainable import split_trainable
from minigpt4_jax.workdir import RUN_CONFIG, TrainCheckpoints
from tests.convert import layouts


def test_export_then_reimport_is_bit_exact(release, converted, tmp_path):
  convert_cli.main(['--export-projector', str(converted), '--out', str(tmp_path / 'p.pth')])
  exported = torch.load(tmp_path / 'p.pth', weights_only=True)['model']
  assert set(exported) == {'llama_proj.weight', 'llama_proj.bias'}
  assert exported['llama_proj.weight'].dtype == torch.float32
  assert torch.equal(exported['llama_proj.weight'], release.proj.weight.detach())
  assert torch.equal(exported['llama_proj.bias'], release.proj.bias.detach())

  args = layouts.cli_args(release, tmp_path / 'again')
  args[args.index('--projector') + 1] = str(tmp_path / 'p.pth')
  convert_cli.main(args)
  first, again = projector_arrays(converted), projector_arrays(tmp_path / 'again')
  for name in ('kernel', 'bias'):
    assert first[name].tobytes() == again[name].tobytes()


def test_export_from_a_training_workdir_and_a_model(converted, tmp_path):
  model = minigpt4_jax.load(converted, dtype=jnp.float32).model
  _, trainable, _ = split_trainable(model)
  ckpts = TrainCheckpoints(tmp_path / 'run')
  ckpts.save(10, trainable, trainable, {}, {})
  ckpts.wait()
  run_config = base_config()
  run_config.init_from = str(converted)
  (tmp_path / 'run' / RUN_CONFIG).write_text(run_config.to_json())

  convert_cli.main(['--export-projector', str(tmp_path / 'run'), '--out', str(tmp_path / 'a.pth')])
  families.family_of(model.cfg).export_projector(
      {p: np.asarray(v[...]) for p, v in param_table(model.projector).items()}, tmp_path / 'b.pth')
  a = torch.load(tmp_path / 'a.pth', weights_only=True)['model']
  b = torch.load(tmp_path / 'b.pth', weights_only=True)['model']
  kernel = np.asarray(model.projector.kernel[...])
  np.testing.assert_array_equal(a['llama_proj.weight'].numpy(), kernel.T)
  for key in a:
    assert torch.equal(a[key], b[key])
