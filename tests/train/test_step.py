"""The train step: what trains, what stays frozen, and that the numbers are right."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import torch
from flax import nnx

from minigpt4_jax import sharding
from minigpt4_jax.convert import tables
from minigpt4_jax.convert.assign import load_state_dict
from minigpt4_jax.data.transforms import normalize
from minigpt4_jax.models.params import path_str
from minigpt4_jax.families import preset
from minigpt4_jax.models import IMAGE_TOKEN_ID, VisionLanguageModel
from minigpt4_jax.train.loss import batch_nll_sum
from minigpt4_jax.train.optimizer import make_optimizer
from minigpt4_jax.train.step import make_loss_and_grad, make_train_step
from minigpt4_jax.train.trainable import split_trainable
from tests import reference
from tests.sharded_steps import run_sharded_steps

B, T = 8, 24


def _train_cfg(**overrides) -> ml_collections.ConfigDict:
  cfg = dict(lr=1e-3, min_lr=1e-4, warmup_lr=1e-5, warmup_steps=2, steps=10, b1=0.9,
             b2=0.999, weight_decay=0.05, clip_norm=0.0)
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def _batch(cfg, seed=0) -> dict[str, jnp.ndarray]:
  return {k: jnp.asarray(v) for k, v in reference.training_batch(cfg, B, T, seed=seed).items()}


def _model(cfg=None, seed=0) -> VisionLanguageModel:
  return VisionLanguageModel(cfg or preset('tiny'), rngs=nnx.Rngs(seed))


def _paths(state) -> set[str]:
  return set(_flat(state))


PROJECTOR = ('projector/.*',)
WITH_QFORMER = ('projector/.*', 'qformer/.*')  # the paper's ablation (c)


def _run_steps(model, patterns, steps=3, grad_accum=1):
  graphdef, trainable, frozen = split_trainable(model, patterns)
  tx, schedule = make_optimizer(_train_cfg())
  opt_state = tx.init(trainable)
  step_fn = jax.jit(make_train_step(graphdef, tx, schedule, grad_accum))
  batch = _batch(model.cfg)
  for i in range(steps):
    trainable, opt_state, metrics = step_fn(trainable, frozen, opt_state, batch, jnp.int32(i))
  return trainable, frozen, opt_state, metrics


def _flat(state) -> dict[str, np.ndarray]:
  """'a/b/c' -> array for every leaf (Variable wrappers' '.value' dropped)."""
  return {path_str(p).removesuffix('/.value'): np.asarray(v)
          for p, v in jax.tree_util.tree_leaves_with_path(state)}


def test_frozen_parameters_bit_identical_and_projector_moves():
  model = _model()
  before = _flat(nnx.state(model, nnx.Param))
  trainable, frozen, _, _ = _run_steps(model, PROJECTOR)
  after = {**_flat(trainable), **_flat(frozen)}
  assert after.keys() == before.keys()
  for path, old in before.items():
    if path.startswith('projector'):
      assert not np.array_equal(old, after[path]), path
    else:
      assert np.array_equal(old, after[path]), path


def test_optimizer_state_only_under_projector():
  trainable, _, opt_state, _ = _run_steps(_model(), PROJECTOR, steps=1)
  assert _paths(trainable) == {'projector/bias', 'projector/kernel'}
  shaped = [x for x in jax.tree.leaves(opt_state) if x.ndim > 0]
  assert sum(x.size for x in shaped) == 2 * sum(x.size for x in jax.tree.leaves(trainable))
  for keys in _flat(opt_state):
    assert 'vision' not in keys and 'llm' not in keys and 'qformer' not in keys, keys


def test_a_pattern_that_matches_nothing_is_an_error():
  with pytest.raises(ValueError, match="trainable pattern 'projektor/.*' matches no parameter"):
    split_trainable(_model(), ('projektor/.*',))


def test_train_qformer_ablation_changes_only_the_patterns():
  model = _model()
  _, default_trainable, default_frozen = split_trainable(model, PROJECTOR)
  _, trainable, frozen = split_trainable(model, WITH_QFORMER)
  qformer = {p for p in _paths(nnx.state(model, nnx.Param)) if p.startswith('qformer/')}
  assert _paths(trainable) == _paths(default_trainable) | qformer
  assert _paths(frozen) == _paths(default_frozen) - qformer
  trained, frozen_after, _, _ = _run_steps(_model(), WITH_QFORMER, steps=2)
  assert not np.array_equal(_flat(trained)['qformer/query_tokens'],
                            _flat(trainable)['qformer/query_tokens'])
  frozen_before = _flat(frozen)
  for path, leaf in _flat(frozen_after).items():
    assert np.array_equal(leaf, frozen_before[path]), path


def test_gradient_accumulation_equals_full_batch():
  full, *_ , m_full = _run_steps(_model(), PROJECTOR, steps=2, grad_accum=1)
  accum, *_, m_accum = _run_steps(_model(), PROJECTOR, steps=2, grad_accum=4)
  assert float(m_full['loss']) == pytest.approx(float(m_accum['loss']), rel=1e-6)
  for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(accum)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_uint8_images_are_normalised_in_the_step_as_on_the_host():
  """The pipeline sends uint8 crops and the jitted step CLIP-normalises them: the same
  pixels as transformers' CLIPImageProcessor, and the same loss as the float32 batch
  normalised on the host (what the pipeline sent before)."""
  from transformers import CLIPImageProcessor
  model = _model()
  batch = _batch(model.cfg)
  pixels = np.random.default_rng(5).integers(0, 256, batch['image'].shape, dtype=np.uint8)
  clip = CLIPImageProcessor(do_resize=False, do_center_crop=False)
  expected = clip(list(pixels), return_tensors='np').pixel_values.transpose(0, 2, 3, 1)
  in_jit = np.asarray(jax.jit(normalize)(jnp.asarray(pixels)))
  np.testing.assert_allclose(in_jit, expected, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(in_jit, normalize(pixels), rtol=1e-6, atol=1e-6)
  nll_sum = jax.jit(batch_nll_sum)  # the step's loss, compiled for each pixel dtype
  nll, count = nll_sum(model, {**batch, 'image': jnp.asarray(pixels)})
  host_nll, host_count = nll_sum(model, {**batch, 'image': jnp.asarray(normalize(pixels))})
  assert float(count) == float(host_count)
  assert float(nll) == pytest.approx(float(host_nll), rel=1e-6)


@pytest.mark.parametrize('logits_from', ['every position', 'the first target'])
def test_loss_and_projector_gradient_match_pytorch(tiny_with_reference_llm, logits_from):
  """Our masked-LM loss and projector gradient vs HF LlamaForCausalLM(labels=...), with
  logits for every position and only from the first supervised one on (as trained)."""
  model, hf_llama = tiny_with_reference_llm
  batch = _batch(model.cfg, seed=3)
  graphdef, trainable, frozen = split_trainable(model)
  first_target = 1 if logits_from == 'every position' else 1 + model.cfg.num_image_tokens
  (nll, count), grads = make_loss_and_grad(graphdef, first_target)(trainable, frozen, batch)

  features = torch.from_numpy(np.array(model.image_features(batch['image'])))
  proj = torch.nn.Linear(model.cfg.projector_in, model.cfg.llm.hidden)
  with torch.no_grad():
    proj.weight.copy_(torch.from_numpy(np.array(model.projector.kernel[...]).T))
    proj.bias.copy_(torch.from_numpy(np.array(model.projector.bias[...])))
  ids = torch.from_numpy(np.asarray(batch['input_ids'])).long()
  is_image = ids == IMAGE_TOKEN_ID
  embeds = hf_llama.model.embed_tokens(torch.where(is_image, 0, ids)).detach()
  embeds = embeds.masked_scatter(is_image[..., None], proj(features))
  labels = torch.where(torch.from_numpy(np.asarray(batch['target_mask'])) > 0, ids, -100)
  out = hf_llama(inputs_embeds=embeds,
                 attention_mask=torch.from_numpy(np.asarray(batch['attention_mask'])),
                 labels=labels)
  out.loss.backward()
  assert float(nll / count) == pytest.approx(out.loss.item(), rel=1e-5)
  ours = np.asarray(grads['projector']['kernel'][...]) / float(count)
  assert reference.max_rel_err(ours, proj.weight.grad.numpy().T) <= 1e-5
  assert reference.max_rel_err(np.asarray(grads['projector']['bias'][...]) / float(count),
                               proj.bias.grad.numpy()) <= 1e-5


@pytest.fixture(scope='module')
def tiny_with_reference_llm():
  cfg = preset('tiny')
  hf_llama = reference.llama(cfg.llm)
  model = _model(cfg)
  load_state_dict(model, tables.LLAMA_HF, reference.numpy_state(hf_llama), prefix='llm/')
  return model, hf_llama


def test_sharded_step_on_2x2x2_mesh_equals_single_device():
  assert jax.device_count() >= 8, 'tests/conftest.py forces 8 CPU devices'
  cfg = dataclasses.replace(preset('tiny'))
  single, *_, m_single = _run_steps(_model(cfg), WITH_QFORMER, steps=2)

  mesh = sharding.make_mesh(2, 2, 2)
  graphdef, trainable, frozen = split_trainable(_model(cfg), WITH_QFORMER)
  trainable, _, _, metrics = run_sharded_steps(graphdef, trainable, frozen, _train_cfg(),
                                               _batch(cfg), mesh, steps=2)
  # Really distributed: the fsdp/tensor axes split parameters across devices.
  assert any(len(x.sharding.device_set) == 8 and not x.sharding.is_fully_replicated
             for x in jax.tree.leaves(trainable))
  assert float(metrics['loss']) == pytest.approx(float(m_single['loss']), rel=1e-5)
  assert float(metrics['grad_norm']) == pytest.approx(float(m_single['grad_norm']), rel=1e-5)
  for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(trainable)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
