"""Weight-only int8 (qwix): kernels really are int8 in memory with per-output-channel
absmax scales, each weight within half a step of its float value, and the quantized
matmuls equal float matmuls with the dequantized kernels (activations untouched).
``load(..., quantize='int8')``, which quantizes each kernel as its checkpoint group (or
its trained value) arrives, gives every parameter, int8 values and scales included,
equal to ``quantize_int8`` applied to the whole float model after a plain load."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from minigpt4_jax.loading import load
from minigpt4_jax.models.params import param_table, split_by_patterns
from minigpt4_jax.models.quantize import quantize_int8
from minigpt4_jax.train.config import base_config
from minigpt4_jax.workdir import CHECKPOINTS, RUN_CONFIG, TrainCheckpoints

ASSETS = pathlib.Path(__file__).resolve().parents[2] / 'minigpt4_jax' / 'assets'
TINY = ASSETS / 'tiny_checkpoint'


@pytest.fixture(scope='module')
def models():
  """(float model, its vision tower and LLM before quantization, int8 model)."""
  model = load(TINY, jnp.float32).model
  vision, llm = model.vision, model.llm
  return vision, llm, quantize_int8(model)


def linears(module: nnx.Module) -> dict[str, nnx.Linear]:
  return {'/'.join(map(str, path)): m for path, m in nnx.iter_modules(module)
          if isinstance(m, nnx.Linear)}


def int8_parts(linear: nnx.Linear) -> tuple[np.ndarray, np.ndarray]:
  """(qvalue int8[in, out], scale float[1, out]) of a quantized Linear's kernel."""
  array = linear.kernel.array
  return np.asarray(array.qvalue[...]), np.asarray(array.scale[...])


@pytest.mark.parametrize('tower', ['vision', 'llm'])
def test_every_matmul_weight_is_int8_in_memory(models, tower):
  float_tower = models[0 if tower == 'vision' else 1]
  quantized = getattr(models[2], tower)
  floats, ints = linears(float_tower), linears(quantized)
  assert floats.keys() == ints.keys() and len(ints) >= 6
  for name, linear in ints.items():
    qvalue, scale = int8_parts(linear)
    assert qvalue.dtype == np.int8 and qvalue.shape == floats[name].kernel.shape, name
    assert scale.shape == (1, qvalue.shape[1]), name
  kernel_bytes = sum(np.asarray(m.kernel[...]).nbytes for m in floats.values())
  assert sum(int8_parts(m)[0].nbytes for m in ints.values()) * 4 == kernel_bytes


@pytest.mark.parametrize('tower', ['vision', 'llm'])
def test_each_weight_is_within_half_a_step(models, tower):
  float_tower = models[0 if tower == 'vision' else 1]
  floats = linears(float_tower)
  for name, linear in linears(getattr(models[2], tower)).items():
    w = np.asarray(floats[name].kernel[...], np.float64)
    qvalue, scale = int8_parts(linear)
    # qwix's symmetric int8 range is [-127.5, 127.5] before rounding
    # (qwix/_src/core/numerics.py, get_symmetric_bound: qmax + 0.5).
    np.testing.assert_allclose(scale[0], np.abs(w).max(axis=0) / 127.5, rtol=1e-6, err_msg=name)
    # Half a step, plus the f32 rounding of w / scale (up to 128 units) before rounding.
    bound = scale * (0.5 + 128 * np.finfo(np.float32).eps)
    assert np.all(np.abs(qvalue * scale.astype(np.float64) - w) <= bound), name


def dequantized(float_module: nnx.Module, quantized: nnx.Module) -> nnx.Module:
  """A float copy of ``float_module`` whose kernels are qvalue * scale."""
  out = nnx.clone(float_module)
  ints = linears(quantized)
  for name, linear in linears(out).items():
    qvalue, scale = int8_parts(ints[name])
    linear.kernel[...] = jnp.asarray(qvalue.astype(np.float32) * scale)
  return out


def test_int8_forward_equals_dequantized_float_forward(models):
  vision, llm, model = models
  ids = jnp.asarray(np.random.default_rng(0).integers(3, 1000, size=(2, 12)), jnp.int32)
  np.testing.assert_allclose(np.asarray(model.llm(input_ids=ids)),
                             np.asarray(dequantized(llm, model.llm)(input_ids=ids)),
                             rtol=1e-5, atol=1e-5)
  pixels = jnp.asarray(np.random.default_rng(1).normal(size=(1, 224, 224, 3)), jnp.float32)
  np.testing.assert_allclose(np.asarray(model.vision(pixels)),
                             np.asarray(dequantized(vision, model.vision)(pixels)),
                             rtol=1e-5, atol=1e-5)


def assert_same_parameters(streamed: nnx.Module, reference: nnx.Module) -> None:
  ours, theirs = param_table(streamed), param_table(reference)
  assert ours.keys() == theirs.keys()
  assert sum(v.dtype == jnp.int8 for v in ours.values()) >= 12
  for path, variable in ours.items():
    assert variable.dtype == theirs[path].dtype, path
    np.testing.assert_array_equal(np.asarray(variable[...]), np.asarray(theirs[path][...]),
                                  err_msg=path)


def test_quantized_while_loading_equals_quantize_int8(models):
  assert_same_parameters(load(TINY, jnp.float32, quantize='int8').model, models[2])


def test_quantized_while_loading_llava():
  llava = ASSETS / 'tiny_llava_checkpoint'
  assert_same_parameters(load(llava, jnp.float32, quantize='int8').model,
                         quantize_int8(load(llava, jnp.float32).model))


def test_quantized_while_loading_a_workdir_with_trained_kernels(tmp_path):
  """A run that trained LLM and ViT kernels: those come from its step, quantized there."""
  trainable = ('projector/.*', 'llm/layers/1/mlp/.*', 'vision/blocks/0/attn/.*')
  model = load(TINY, jnp.float32).model
  _, trained, _ = split_by_patterns(model, trainable)
  trained = jax.tree.map(lambda x: x * 1.5 + 0.01, trained)  # differs from the checkpoint
  checkpoints = TrainCheckpoints(tmp_path)
  checkpoints.save(3, trained, trained, {}, {})
  checkpoints.wait()
  checkpoints.close()
  config = base_config()
  config.init_from = str(TINY)
  config.train.trainable = trainable
  (tmp_path / RUN_CONFIG).write_text(config.to_json())
  nnx.update(model, trained)
  assert_same_parameters(load(tmp_path, jnp.float32, quantize='int8').model, quantize_int8(model))


def test_lora_adapters_are_refused_before_loading(tmp_path):
  config = base_config()
  config.init_from = str(TINY)
  config.model.lora_rank = 2
  (tmp_path / RUN_CONFIG).write_text(config.to_json())
  (tmp_path / CHECKPOINTS).mkdir()  # no step: the refusal comes before any restore
  with pytest.raises(ValueError, match='not supported for a model with LoRA adapters'):
    load(tmp_path, quantize='int8')


def test_an_unknown_mode_is_an_error():
  with pytest.raises(ValueError, match="--quantize 'int4'"):
    load(TINY, quantize='int4')
