"""configs/tiny_llava.py trains both LLaVA stages end to end (shortened), and the
stage-2 workdir loads for chat."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from configs import tiny_llava
from launch import convert as convert_cli
from minigpt4_jax import families
from minigpt4_jax.loading import load
from minigpt4_jax.train import loop


def _losses(workdir) -> list[float]:
  lines = (workdir / 'metrics.jsonl').read_text().splitlines()
  return [json.loads(line)['loss'] for line in lines]


def _short(arg: str, steps: int, **fields):
  c = tiny_llava.get_config(arg).unlock()
  c.train.steps, c.train.log_every, c.train.checkpoint_every = steps, 5, steps
  for k, v in fields.items():
    setattr(c.train, k, v)
  return c.lock()


def test_tiny_llava_stage1_then_stage2(tmp_path):
  stage1 = _short('stage1', 10)
  loop.train_and_evaluate(stage1, str(tmp_path / 's1'))
  assert len(_losses(tmp_path / 's1')) == 2
  # The trained projector goes back to LLaVA's own format.
  convert_cli.main(['--export-projector', str(tmp_path / 's1'),
                    '--out', str(tmp_path / 'mm_projector.bin')])
  exported = torch.load(tmp_path / 'mm_projector.bin', weights_only=True)
  assert sorted(exported) == [f'model.mm_projector.{i}.{p}' for i in (0, 2)
                              for p in ('bias', 'weight')]

  stage2 = _short('stage2', 15).unlock()
  stage2.init_from = str(tmp_path / 's1')
  stage2 = stage2.lock()
  loop.train_and_evaluate(stage2, str(tmp_path / 's2'))
  losses = _losses(tmp_path / 's2')
  assert np.isfinite(losses).all() and losses[-1] < losses[0], losses  # the LLM learns

  trained = load(tmp_path / 's2', jnp.float32)
  assert trained.family.name == 'llava' and trained.template.name == 'v1'
  assert trained.model.llm.embed_tokens.embedding.dtype == jnp.float32


def test_tiny_llava_lora_stage2_reloads_its_adapters_and_trains_the_same_scanned(tmp_path):
  def config(steps: int, scan: bool):
    c = _short('stage2', steps, log_every=1).unlock()
    c.init_from = str(tiny_llava.TINY_LLAVA_CHECKPOINT)
    c.model.lora_rank, c.model.lora_alpha, c.model.lora_dropout = 4, 8.0, 0.05
    c.model.scan_layers = scan  # with stage 2's remat 'full' and FSDP mesh
    c.train.trainable = families.get('llava').stage_trainable('stage2_lora')
    return c.lock()

  loop.train_and_evaluate(config(3, scan=False), str(tmp_path / 'lora'))
  model = load(tmp_path / 'lora', jnp.float32).model
  lora_b = np.asarray(model.llm.layers[0].attn.q_proj.lora_b[...])
  assert lora_b.shape == (4, model.cfg.llm.num_heads * model.cfg.llm.head_dim)
  assert np.any(lora_b != 0)  # trained adapters restored, not fresh zeros

  # The blocks stacked under lax.scan (model.scan_layers): "killed" after step 2, resumed;
  # the same losses, and its stacked adapters load per layer.
  loop.train_and_evaluate(config(2, scan=True), str(tmp_path / 'scanned'))
  loop.train_and_evaluate(config(3, scan=True), str(tmp_path / 'scanned'))
  assert _losses(tmp_path / 'scanned') == pytest.approx(_losses(tmp_path / 'lora'), rel=1e-5)
  scanned = load(tmp_path / 'scanned', jnp.float32).model
  for i in range(model.cfg.llm.num_layers):
    np.testing.assert_allclose(np.asarray(scanned.llm.layers[i].attn.q_proj.lora_b[...]),
                               np.asarray(model.llm.layers[i].attn.q_proj.lora_b[...]),
                               rtol=1e-5, atol=1e-7)
