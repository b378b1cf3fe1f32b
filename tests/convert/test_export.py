"""Projector export to MiniGPT-4's .pth format, and back."""

import json

import jax.numpy as jnp
import numpy as np
import torch

import minigpt4_jax
from launch import convert as convert_cli
from minigpt4_jax.convert.export import export_projector, projector_arrays
from minigpt4_jax.train.checkpoints import TrainCheckpoints
from minigpt4_jax.train.model_init import RESOLVED_CONFIG
from minigpt4_jax.train.trainable import split_trainable
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
  model = minigpt4_jax.load(converted, dtype=jnp.float32)
  _, trainable, _ = split_trainable(model)
  ckpts = TrainCheckpoints(tmp_path / 'run')
  ckpts.save(10, trainable, trainable, {}, {})
  ckpts.wait()
  (tmp_path / 'run' / RESOLVED_CONFIG).write_text(json.dumps({}))

  convert_cli.main(['--export-projector', str(tmp_path / 'run'), '--out', str(tmp_path / 'a.pth')])
  export_projector(model, tmp_path / 'b.pth')
  a = torch.load(tmp_path / 'a.pth', weights_only=True)['model']
  b = torch.load(tmp_path / 'b.pth', weights_only=True)['model']
  kernel = np.asarray(model.projector.kernel[...])
  np.testing.assert_array_equal(a['llama_proj.weight'].numpy(), kernel.T)
  for key in a:
    assert torch.equal(a[key], b[key])
