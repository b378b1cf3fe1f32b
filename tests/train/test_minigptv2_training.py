"""configs/tiny_minigptv2.py trains: LoRA on q/v and the projector move, everything else
stays, the loss falls on the demo grounding samples, and the workdir loads as MiniGPT-v2."""

import json

import jax
import jax.numpy as jnp
import numpy as np

import minigpt4_jax
from configs import tiny_minigptv2
from minigpt4_jax.loading import run_model
from minigpt4_jax.models.params import param_table
from minigpt4_jax.sharding import make_mesh
from minigpt4_jax.train.loop import train_and_evaluate


def test_tiny_v2_config_trains_lora_and_projector(tmp_path):
  c = tiny_minigptv2.get_config().unlock()
  c.train.update(steps=6, batch_size=8, log_every=1, checkpoint_every=6)
  config = c.lock()
  assert config.data.image_size == 448 and config.text.template == 'minigptv2'
  start = {p: np.asarray(v[...]) for p, v in param_table(run_model(config, make_mesh(devices=jax.devices()[:1])).model).items()}
  train_and_evaluate(config, tmp_path / 'run')
  losses = [json.loads(line)['loss'] for line in
            (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
  assert len(losses) == 6 and all(np.isfinite(losses)) and losses[-1] < losses[0]

  loaded = minigpt4_jax.load(tmp_path / 'run', dtype=jnp.float32)
  assert loaded.family.name == 'minigptv2' and loaded.template.name == 'minigptv2'
  assert loaded.model.cfg.lora.targets == ('q_proj', 'v_proj')
  trained = {p: np.asarray(v[...]) for p, v in param_table(loaded.model).items()}
  assert set(trained) == set(start)
  moved = {p for p in start if not np.array_equal(start[p], trained[p])}
  expected = {p for p in start if p.startswith('projector/') or p.endswith(('/lora_a', '/lora_b'))}
  assert moved == expected and any('/q_proj/lora_b' in p for p in moved)
  assert not any('k_proj/lora' in p for p in start)  # q and v only
