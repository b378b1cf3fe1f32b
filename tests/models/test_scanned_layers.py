"""Scanned blocks (models/scanned_layers.py, ``model.scan_layers``): the stack holds
exactly the per-layer parameters, the per-layer <-> stacked path boundary round-trips
(through checkpoint.save / load too), both vision towers and the whole model give the
per-layer logits, LoRA with dropout gives the per-layer model's loss and gradients, and a
cached forward is refused; the real-size MiniGPT-4 configs scan. The LLM's loss and
gradients under each remat policy: tests/models/test_remat.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import minigpt4_stage1, minigpt4_stage2, tiny
from minigpt4_jax import checkpoint
from minigpt4_jax.families import preset
from minigpt4_jax.models.configs import LoraConfig
from minigpt4_jax.models.llama import KVCache, Llama
from minigpt4_jax.models.lora import apply_lora, with_dropout
from minigpt4_jax.models.params import param_table
from minigpt4_jax.models.scanned_layers import stack_layers, unstack_layers
from minigpt4_jax.models.vlm import IMAGE_TOKEN_ID, VisionLanguageModel
from minigpt4_jax.sharding import make_mesh

CFG = preset('tiny')  # float32 (tests/conftest.py: highest matmul precision)
B, T = 2, 12


def _arrays(model, prefix: str = '') -> dict[str, np.ndarray]:
  return {prefix + p: np.asarray(v[...]) for p, v in param_table(model).items()}


def _llm(scanned: bool) -> Llama:
  llm = Llama(CFG.llm, rngs=nnx.Rngs(0))
  if scanned:
    llm.scan_layers()
  return llm


def test_stack_holds_the_per_layer_parameters_and_the_boundary_round_trips():
  per_layer = _arrays(_llm(False), 'llm/')
  stacked = _arrays(_llm(True), 'llm/')
  assert 'llm/layers/mlp/up_proj/kernel' in stacked
  assert stacked['llm/layers/mlp/up_proj/kernel'].shape == (CFG.llm.num_layers, 64, 128)
  assert not any(p.startswith('llm/layers/0/') for p in stacked)
  for name, got in (('unstacked', unstack_layers(stacked)), ('stacked', stack_layers(per_layer))):
    want = per_layer if name == 'unstacked' else stacked
    assert sorted(got) == sorted(want), name
    for p in want:
      np.testing.assert_array_equal(np.asarray(got[p]), want[p], err_msg=f'{name} {p}')


def test_a_missing_layer_is_named():
  arrays = {'llm/layers/0/attn/q_proj/kernel': np.zeros(2), 'llm/layers/2/attn/q_proj/kernel':
            np.zeros(2)}
  with pytest.raises(ValueError, match=r'llm/layers/N/attn/q_proj/kernel is missing layers \[1\]'):
    stack_layers(arrays)


def test_stacked_parameters_get_an_unsharded_leading_layers_axis():
  mesh = make_mesh(fsdp=2, tensor=2, devices=jax.devices()[:4])
  specs = {p: s.spec for p, s in checkpoint.param_shardings(_llm(True), mesh).items()}
  assert specs['layers/mlp/up_proj/kernel'] == jax.P(None, 'fsdp', 'tensor')
  assert specs['layers/input_norm/weight'] == jax.P(None, None)
  assert specs['embed_tokens/embedding'] == jax.P('tensor', 'fsdp')


@pytest.mark.parametrize('family', ['tiny', 'tiny_llava'])  # EVA + Q-Former; CLIP
def test_the_scanned_model_gives_the_per_layer_logits(family):
  cfg = preset(family)
  model = VisionLanguageModel(cfg, rngs=nnx.Rngs(0))
  size = cfg.vision.image_size
  pixels = jax.random.normal(jax.random.key(0), (B, size, size, 3))
  ids = jnp.concatenate([jnp.full((B, cfg.num_image_tokens), IMAGE_TOKEN_ID),
                         jnp.ones((B, 5), jnp.int32)], axis=1)
  forward = nnx.jit(lambda model: model(ids, pixels))  # eager, the ViT's ops dispatch one by one
  want = np.asarray(forward(model))
  model.scan_layers()
  assert model.vision.scanned and model.llm.scanned
  np.testing.assert_allclose(np.asarray(forward(model)), want, rtol=1e-5,
                             atol=1e-6 * np.abs(want).max())


def test_a_saved_scanned_model_loads_per_layer(tmp_path):
  model = VisionLanguageModel(CFG, rngs=nnx.Rngs(0))
  want = _arrays(model)
  model.scan_layers()
  checkpoint.save(model, tmp_path / 'ckpt', None)
  groups = sorted(p.name for p in (tmp_path / 'ckpt' / checkpoint.PARAMS_DIR).iterdir())
  for tower, depth in (('llm_layers', CFG.llm.num_layers), ('vision_blocks', CFG.vision.depth)):
    assert [g for g in groups if g.startswith(tower)] == [f'{tower}_{i:03d}' for i in range(depth)]
  loaded = _arrays(checkpoint.load(tmp_path / 'ckpt', jnp.float32))
  assert sorted(loaded) == sorted(want)
  for p in want:
    np.testing.assert_array_equal(loaded[p], want[p], err_msg=p)


def _lora_llm(scanned: bool) -> Llama:
  llm = Llama(CFG.llm, rngs=nnx.Rngs(0))
  apply_lora(llm, LoraConfig(rank=4, alpha=8.0), rngs=nnx.Rngs(1))
  for i, (path, variable) in enumerate(param_table(llm).items()):
    if path.endswith('lora_b'):  # zero at init: make the adapters count
      variable.set_value(0.1 * jax.random.normal(jax.random.key(i), variable.shape))
  if scanned:
    llm.scan_layers()
  return llm


def test_lora_with_dropout_gives_the_per_layer_loss_and_gradients():
  ids = jax.random.randint(jax.random.key(1), (B, T), 0, CFG.llm.vocab_size)
  row_keys = jax.random.split(jax.random.key(2), B)

  def value_and_grads(scanned):
    graphdef, lora, rest = nnx.split(_lora_llm(scanned), nnx.All(nnx.Param, _is_lora), ...)

    def loss(lora):
      llm = nnx.merge(graphdef, lora, rest)
      with_dropout(llm, 0.5, row_keys)
      logits = llm(ids)[:, :-1]
      return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), ids[:, 1:, None], -1))

    value, grads = jax.jit(jax.value_and_grad(loss))(lora)
    return float(value), {f'llm/{p}': np.asarray(v) for p, v in
                          ((('/'.join(map(str, path))), var[...])
                           for path, var in nnx.to_flat_state(grads))}

  want_value, want = value_and_grads(False)
  value, got = value_and_grads(True)
  got = unstack_layers(got)
  assert value == pytest.approx(want_value, rel=1e-6)
  assert sorted(got) == sorted(want) and any('lora_a' in p for p in want)
  for p in want:
    np.testing.assert_allclose(got[p], want[p], rtol=1e-5, atol=1e-6 * np.abs(want[p]).max(),
                               err_msg=p)


def _is_lora(path, value) -> bool:
  del value
  return str(path[-1]).startswith('lora_')


def test_a_cached_forward_is_refused():
  with pytest.raises(ValueError, match='^model.scan_layers is for training'):
    _llm(True)(jnp.ones((1, 3), jnp.int32), cache=KVCache.empty(CFG.llm, 1, 8))


@pytest.mark.parametrize('stage', [minigpt4_stage1, minigpt4_stage2])
def test_real_size_minigpt4_configs_scan_with_dots_and_the_tiny_demo_stays_per_layer(stage):
  """The scanned 'dots' step compiles about twice as fast in fewer temporaries at 7B/13B
  (BENCHMARKS.md); the tiny demo's 2 layers gain nothing from a scan."""
  for llm in ('vicuna7b', 'vicuna13b', 'llama2_7b', 'vicuna7b,train_qformer'):
    model = stage.get_config(llm).model
    assert (model.scan_layers, model.remat) == (True, 'dots'), llm
  for c in (tiny.get_config('stage1'), tiny.get_config('stage2'), stage.get_config('tiny')):
    assert (c.model.scan_layers, c.model.remat) == (False, 'none')
