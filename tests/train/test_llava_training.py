"""LLaVA training: the trainable filter decides the trained set; the stage-2 step on 8
fake CPU devices (FSDP, rematerialised LLM blocks) equals the single-device one."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from minigpt4_jax import families, sharding
from minigpt4_jax.models.params import path_str
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.configs import LoraConfig
from minigpt4_jax.models.lora import LoRALinear
from minigpt4_jax.train.step import make_loss_and_grad
from minigpt4_jax.train.trainable import split_trainable
from tests import reference
from tests.sharded_steps import run_sharded_steps
from tests import reference_llava as llava_ref

B, T = 8, 32


def _cfg():
  return llava_ref.tiny()


def _train_cfg(**overrides) -> ml_collections.ConfigDict:
  cfg = dict(lr=2e-3, min_lr=0.0, warmup_lr=0.0, warmup_steps=1, steps=10, b1=0.9, b2=0.999,
             weight_decay=0.0, clip_norm=0.0)
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def _batch(cfg, seed=0) -> dict[str, np.ndarray]:
  """BOS, one text token, the image, then text."""
  return reference.training_batch(cfg, B, T, image_start=2, seed=seed)


def _flat(state) -> dict[str, np.ndarray]:
  return {path_str(p).removesuffix('/.value'): np.asarray(v)
          for p, v in jax.tree_util.tree_leaves_with_path(state)}


STAGE1 = families.get('llava').stage_trainable('stage1')
STAGE2 = families.get('llava').stage_trainable('stage2')
STAGE2_LORA = families.get('llava').stage_trainable('stage2_lora')


def _model(remat: str = 'none') -> VisionLanguageModel:
  return VisionLanguageModel(_cfg(), remat=remat, rngs=nnx.Rngs(0))


def _steps(model, mesh, steps=2, patterns=STAGE1):
  graphdef, trainable, frozen = split_trainable(model, patterns)
  return run_sharded_steps(graphdef, trainable, frozen, _train_cfg(), _batch(model.cfg), mesh,
                           steps)


def test_stage1_filter_trains_projector_only():
  model = _model()
  _, trainable, _ = split_trainable(model)
  assert {p.split('/')[0] for p in _flat(trainable)} == {'projector'}
  _, stage2, frozen2 = split_trainable(model, STAGE2)
  assert {p.split('/')[0] for p in _flat(stage2)} == {'projector', 'llm'}
  assert {p.split('/')[0] for p in _flat(frozen2)} == {'vision'}


def test_stage2_fsdp_remat_step_equals_single_device_and_vision_stays():
  assert jax.device_count() >= 8, 'tests/conftest.py forces 8 CPU devices'
  before = _flat(nnx.state(_model(), nnx.Param))
  one = sharding.make_mesh(devices=jax.devices()[:1])
  single, _, _, m_single = _steps(_model(), one, patterns=STAGE2)

  fsdp = sharding.make_mesh(data=1, fsdp=8)
  # A policy that offloads: its saved tensors go to host memory and back, sharded.
  trainable, frozen, opt_state, metrics = _steps(_model('mlp_offloaded'), fsdp, patterns=STAGE2)
  # Parameters, and with them the AdamW moments, really are split over fsdp.
  embed = trainable['llm']['embed_tokens']['embedding'][...]
  assert len(embed.sharding.device_set) == 8 and not embed.sharding.is_fully_replicated
  mu = [x for x in jax.tree.leaves(opt_state) if x.shape == embed.shape]
  assert mu and all(not x.sharding.is_fully_replicated for x in mu)

  assert float(metrics['loss']) == pytest.approx(float(m_single['loss']), rel=1e-5)
  assert float(metrics['grad_norm']) == pytest.approx(float(m_single['grad_norm']), rel=1e-5)
  got, want = _flat(trainable), _flat(single)
  assert got.keys() == want.keys()
  # Adam divides by |g|: where a gradient is ~0 a reduction-order difference moves
  # the update, so parameters agree to 1% of one step (lr) rather than to 1e-5.
  lr = _train_cfg().lr
  for path in want:
    np.testing.assert_allclose(got[path], want[path], rtol=1e-5, atol=0.01 * lr, err_msg=path)
    assert not np.array_equal(got[path], before[path]) or path.endswith('norm/weight'), path
  for path, leaf in _flat(frozen).items():  # the vision tower, bit for bit
    assert path.startswith('vision/') and np.array_equal(leaf, before[path]), path


@pytest.mark.parametrize('patterns', [STAGE1, STAGE2], ids=['stage1', 'stage2'])
def test_remat_gives_the_same_gradients(patterns):
  """Also where the blocks are frozen (stage 1): only the projector's gradient flows
  back through the rematerialised blocks."""
  model = _model('full')
  graphdef, trainable, frozen = split_trainable(model, patterns)
  batch = {k: jnp.asarray(v) for k, v in _batch(model.cfg).items()}
  jaxpr = jax.make_jaxpr(make_loss_and_grad(graphdef))(trainable, frozen, batch)
  assert str(jaxpr).count('remat2[') == model.cfg.llm.num_layers  # one remat per block
  one = sharding.make_mesh(devices=jax.devices()[:1])
  a = _steps(_model(), one, steps=1, patterns=patterns)[3]
  b = _steps(_model('full'), one, steps=1, patterns=patterns)[3]
  assert float(a['grad_norm']) == pytest.approx(float(b['grad_norm']), rel=1e-6)


def test_lora_starts_equal_and_trains_only_adapters():
  model = _model()
  batch = {k: jnp.asarray(v) for k, v in _batch(model.cfg).items()}
  base_logits = model(batch['input_ids'], batch['image'], batch['attention_mask'])
  before = _flat(nnx.state(model, nnx.Param))
  model.add_lora(LoraConfig(4, 8.0), rngs=nnx.Rngs(0))
  assert isinstance(model.llm.layers[0].attn.q_proj, LoRALinear)
  assert isinstance(model.llm.layers[1].mlp.down_proj, LoRALinear)
  after_apply = _flat(nnx.state(model, nnx.Param))
  # Base weights keep their paths; only adapters are new.
  assert set(before) <= set(after_apply)
  assert all(p.endswith(('lora_a', 'lora_b')) for p in set(after_apply) - set(before))
  np.testing.assert_allclose(model(batch['input_ids'], batch['image'], batch['attention_mask']),
                             base_logits, rtol=1e-6, atol=1e-6)  # lora_b starts at zero

  trainable, frozen, _, _ = _steps(model, sharding.make_mesh(devices=jax.devices()[:1]),
                                   patterns=STAGE2_LORA)
  trained = _flat(trainable)
  assert {p.split('/')[0] for p in trained} == {'projector', 'llm'}
  assert all(p.startswith('projector/') or p.endswith(('lora_a', 'lora_b')) for p in trained)
  assert any(p.endswith('lora_b') and np.any(v != 0) for p, v in trained.items())
  for path, leaf in _flat(frozen).items():
    assert np.array_equal(leaf, before[path]), path


def test_stage2_filter_is_the_only_difference():
  """Same model, same step code: stage 1 and 2 differ in what the filter selects."""
  cfg = _cfg()
  assert dataclasses.replace(cfg) == cfg
  s1, f1, _, _ = _steps(_model(), sharding.make_mesh(devices=jax.devices()[:1]), steps=1)
  assert set(_flat(s1)) == {p for p in _flat(nnx.state(_model(), nnx.Param))
                            if p.startswith('projector/')}
  assert not any(p.startswith('projector/') for p in _flat(f1))


def test_configs_carry_llava15_hyperparameters():
  from configs import llava_stage1, llava_stage2
  s1, s2 = llava_stage1.get_config(), llava_stage2.get_config()
  lora = llava_stage2.get_config('v15_13b,lora')
  assert (s1.train.lr, s1.train.batch_size, s1.train.steps, s1.train.warmup_steps) == (
      1e-3, 256, 2181, 66)
  assert (s2.train.lr, s2.train.batch_size, s2.train.steps, s2.train.warmup_steps) == (
      2e-5, 128, 5198, 156)
  assert s1.train.weight_decay == s2.train.weight_decay == s1.train.min_lr == 0.0
  assert (s1.text.template, s2.text.template) == ('plain', 'v1')
  assert (s1.data.image_transform, s2.data.image_transform) == ('center_crop', 'pad')
  # The same model trains in both (the remat policy only sets what the backward keeps).
  assert {**s1.model.to_dict(), 'remat': None} == {**s2.model.to_dict(), 'remat': None}
  assert (tuple(s1.train.trainable), tuple(s2.train.trainable)) == (STAGE1, STAGE2)
  # 7B stage 2 keeps the MLP's outputs, 16 rows at a time; 13B recomputes whole blocks.
  assert (s1.model.remat, s1.train.grad_accum) == ('full', 1)
  assert (s2.model.remat, s2.train.grad_accum) == ('mlp', 8)
  assert (s2.mesh.data, s2.mesh.fsdp) == (1, -1)
  assert (lora.model.remat, lora.train.grad_accum) == ('full', 1)
  assert (lora.model.lora_rank, lora.model.lora_alpha, lora.train.lr) == (128, 256.0, 2e-4)
  assert tuple(lora.train.trainable) == STAGE2_LORA
  assert lora.model.preset == 'llava_v15_13b'
