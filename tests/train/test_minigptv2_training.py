"""configs/tiny_minigptv2.py trains: LoRA on q/v and the projector move, everything else
stays, the loss on the demo grounding samples starts low (the bundled parts are pretrained
on them), the workdir loads as MiniGPT-v2, and it grounds: the tiny RefCOCO above chance
with every answer a box, and launch.chat's [grounding] answer names the photograph's
phrases with boxes."""

import io
import json

import jax
import jax.numpy as jnp
import numpy as np

import minigpt4_jax
from configs import tiny_minigptv2
from launch import chat, evaluate
from minigpt4_jax import grounding
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.loading import run_model
from minigpt4_jax.models.params import param_table
from minigpt4_jax.sharding import make_mesh
from minigpt4_jax.tools.minigptv2_demo import DEMO_BOXES
from minigpt4_jax.tools.tiny_eval_sets import EVAL_DIR
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
  # The bundled parts already know these samples (6.7 from random parts, README).
  assert len(losses) == 6 and all(np.isfinite(losses)) and max(losses) < 0.5, losses

  loaded = minigpt4_jax.load(tmp_path / 'run', dtype=jnp.float32)
  assert loaded.family.name == 'minigptv2' and loaded.template.name == 'minigptv2'
  assert loaded.model.cfg.lora.targets == ('q_proj', 'v_proj')
  trained = {p: np.asarray(v[...]) for p, v in param_table(loaded.model).items()}
  assert set(trained) == set(start)
  moved = {p for p in start if not np.array_equal(start[p], trained[p])}
  expected = {p for p in start if p.startswith('projector/') or p.endswith(('/lora_a', '/lora_b'))}
  assert moved == expected and any('/q_proj/lora_b' in p for p in moved)
  assert not any('k_proj/lora' in p for p in start)  # q and v only

  # The best single box per photograph scores 35.7% on these 14 refs
  # (tests/tools/test_tiny_eval_sets.py).
  metrics = evaluate.main(['--ckpt', str(tmp_path / 'run'), '--task', 'refcoco', '--data',
                           str(EVAL_DIR), '--out', str(tmp_path / 'eval')])['metrics']
  assert metrics['unparsable'] == 0 and metrics['accuracy'] > 35.7, metrics

  out = io.StringIO()
  chat.main(['--ckpt', str(tmp_path / 'run'), '--image', f'{demo_paths().image_dir}/astronaut.jpg',
             '--task', 'grounding', '--prompt', '', '--greedy', '--max-new-tokens', '120'], out)
  answer = out.getvalue().splitlines()[0]
  phrases = [phrase for phrase, _ in DEMO_BOXES['astronaut'][1]]
  assert [g.phrase for g in grounding.parse_grounded(answer)] == phrases, answer
