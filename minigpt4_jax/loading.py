"""The one loader: a converted checkpoint or a training workdir -> model, family,
tokenizer and chat template (``minigpt4_jax.load``), and the model a training run
starts from (``run_model``), which the trainer and the loader share.

A run's ``init_from`` is one of: '' (random towers of ``model.preset``: the tiny demo
and tests), a converted checkpoint (``python -m launch.convert``), or an earlier run's
workdir (its towers, found through its own recorded ``init_from``, plus its trained
parameters). Models are built abstractly first, so a 13B LLM is never materialised
unsharded on one device or twice in host memory.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax.sharding import Mesh
from transformers import PreTrainedTokenizerBase

from minigpt4_jax import checkpoint, families, sharding, workdir
from minigpt4_jax.bundled import TINY_TOKENIZER
from minigpt4_jax.families.base import Family
from minigpt4_jax.models import attention_kernels
from minigpt4_jax.models.configs import LoraConfig, ModelConfig
from minigpt4_jax.models.params import path_str, split_by_patterns
from minigpt4_jax.models.quantize import check_mode, quantize_int8, require_no_lora, set_weight
from minigpt4_jax.models.scanned_layers import unstack_layers
from minigpt4_jax.models.vlm import VisionLanguageModel
from minigpt4_jax.text.templates import Template, get_template
from minigpt4_jax.tokenizer import load_tokenizer

@dataclasses.dataclass
class RunModel:
  """The model a run starts from (sharded over the run's mesh) and its tokenizer files."""

  model: VisionLanguageModel
  tokenizer_dir: pathlib.Path


@dataclasses.dataclass
class Loaded:
  """What ``load`` returns: everything a user of a trained model needs."""

  model: VisionLanguageModel
  family: Family
  tokenizer: PreTrainedTokenizerBase
  template: Template  # the family's chat template for this architecture
  tokenizer_dir: pathlib.Path


def architecture(model_cfg: ml_collections.ConfigDict) -> ModelConfig:
  """The architecture for random init: the preset with the run's projector and connector."""
  cfg = dataclasses.replace(families.preset(model_cfg.preset), projector=model_cfg.projector)
  if model_cfg.connector and model_cfg.connector != cfg.connector:
    # The MiniGPT-4 paper's ablation (a): EVA's patches without the Q-Former.
    cfg = dataclasses.replace(cfg, connector=model_cfg.connector, qformer=None)
  return cfg


def random_model(cfg: ModelConfig, dtype, mesh: Mesh, seed: int,
                 remat: str = 'none') -> VisionLanguageModel:
  """Random weights, created by a jitted initializer directly in their shards."""
  def create() -> VisionLanguageModel:
    return VisionLanguageModel(cfg, dtype=dtype, param_dtype=dtype, remat=remat,
                               rngs=nnx.Rngs(seed))

  graphdef, abstract = nnx.split(nnx.eval_shape(create))
  state = jax.jit(lambda: nnx.split(create())[1],
                  out_shardings=sharding.state_shardings(abstract, mesh))()
  return nnx.merge(graphdef, state)


def lora_config(model_cfg: ml_collections.ConfigDict) -> LoraConfig | None:
  """The run's LoRA adapters (``model.lora_*``), or None where it trains none."""
  if model_cfg.lora_rank <= 0:
    return None
  targets = tuple(model_cfg.lora_targets) or LoraConfig(1, 1.0).targets
  return LoraConfig(model_cfg.lora_rank, model_cfg.lora_alpha, targets)


def run_model(config: ml_collections.ConfigDict, mesh: Mesh, *, dtype=None,
              remat: str | None = None, scan_layers: bool | None = None,
              quantize: str = 'none') -> RunModel:
  """The model (sharded over ``mesh``) and tokenizer directory a run starts from.

  ``dtype`` / ``remat`` / ``scan_layers`` default to the run's; an earlier workdir in
  the ``init_from`` chain is rebuilt with the caller's, not its own. ``quantize``
  ('int8': for inference) quantizes the towers as they are read and each trained
  kernel as it is restored. The blocks are stacked (``model.scan_layers``) last, once
  the per-layer model is whole: LoRA and the attention kernel are set per layer.
  """
  config = workdir.upgraded(config)
  if quantize != 'none':
    require_no_lora(lora_config(config.model))
  dtype = jnp.dtype(dtype or config.model.dtype)
  remat = config.model.remat if remat is None else remat
  scan_layers = config.model.get('scan_layers', False) if scan_layers is None else scan_layers
  source = pathlib.Path(config.init_from) if config.init_from else None
  if source is None:
    model = random_model(architecture(config.model), dtype, mesh, config.seed, remat)
    if quantize == 'int8':  # random towers: the tiny demo's, small enough to hold twice
      model = quantize_int8(model)
    tokenizer_dir = TINY_TOKENIZER
  elif workdir.is_workdir(source):
    earlier = workdir.upgraded(workdir.run_config(source))
    start = run_model(earlier, mesh, dtype=dtype, remat=remat, scan_layers=False,
                      quantize=quantize)
    model, tokenizer_dir = start.model, start.tokenizer_dir
    restore_trained(model, source, tuple(earlier.train.trainable), dtype, mesh,
                    scanned=earlier.model.get('scan_layers', False))
  elif checkpoint.is_complete(source):
    model = checkpoint.load(source, dtype=dtype, mesh=mesh, remat=remat, quantize=quantize)
    tokenizer_dir = checkpoint.tokenizer_dir(source)
  else:
    raise FileNotFoundError(
        f'init_from={str(source)!r} is neither a converted checkpoint ({checkpoint.CONFIG_FILE}) '
        f'nor a training workdir ({workdir.CHECKPOINTS}/ + {workdir.RUN_CONFIG})')
  rngs = nnx.Rngs(config.seed)
  model.replace_projector(config.model.projector, rngs=rngs)
  lora = lora_config(config.model)
  if lora is not None:  # a no-op where an earlier stage added them
    model.add_lora(lora, rngs=rngs)
  # Runs recorded before the field existed used the default.
  attention_kernels.set_implementation(model, config.model.get('attention', 'auto'))
  if config.model.tokenizer:
    tokenizer_dir = pathlib.Path(config.model.tokenizer)
  if scan_layers:
    model.scan_layers()
  return RunModel(model, tokenizer_dir)


def restore_trained(model: VisionLanguageModel, run_dir: pathlib.Path, trainable: tuple[str, ...],
                    dtype, mesh: Mesh, *, scanned: bool = False) -> None:
  """Puts the parameters a run trained (its latest step) into the per-layer ``model``
  (``set_weight``: int8 where ``model`` is). The restore target is the float model's,
  built abstractly: the run saved float parameters whatever ``model`` holds now, with
  its blocks stacked where it trained them scanned (``scanned``)."""
  def float_model() -> VisionLanguageModel:
    built = VisionLanguageModel(model.cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0))
    if scanned:
      built.scan_layers()
    return built

  _, trained, _ = split_by_patterns(nnx.eval_shape(float_model), trainable)
  target = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        trained, sharding.state_shardings(trained, mesh))
  restored = workdir.TrainCheckpoints(run_dir, read_only=True).restore_trainable(target)
  arrays = {path_str(path).removesuffix('/.value'): array
            for path, array in jax.tree_util.tree_leaves_with_path(restored)}
  for path, array in unstack_layers(arrays).items():
    set_weight(model, path, array)


def load(path: str | pathlib.Path, dtype=None, mesh: Mesh | None = None,
         quantize: str = 'none') -> Loaded:
  """A model to use (chat, evaluation, serving, export): a converted checkpoint, or a
  training workdir (its frozen towers plus the trained parameters of its latest step).

  Args:
    path: the checkpoint or workdir directory.
    dtype: the towers' dtype; default bfloat16 on accelerators, float32 on CPUs
      (where XLA emulates bf16 matmuls slowly). The projector stays float32.
    mesh: where to place the parameters (default: the first device).
    quantize: 'none' or 'int8' (``models.quantize.quantize_int8``'s weights, quantized
      while loading: the float model is never whole in memory).
  """
  check_mode(quantize)
  path = pathlib.Path(path)
  dtype = jnp.dtype(dtype or default_dtype())
  mesh = mesh or sharding.make_mesh(devices=jax.local_devices()[:1])
  if workdir.is_workdir(path):
    config = workdir.upgraded(workdir.run_config(path))
    config.init_from = str(path)
    start = run_model(config, mesh, dtype=dtype, remat='none', scan_layers=False,
                      quantize=quantize)
  elif checkpoint.is_complete(path):
    start = RunModel(checkpoint.load(path, dtype=dtype, mesh=mesh, quantize=quantize),
                     checkpoint.tokenizer_dir(path))
  else:
    raise FileNotFoundError(f'{path}: neither a converted checkpoint ({checkpoint.CONFIG_FILE}) '
                            f'nor a training workdir ({workdir.CHECKPOINTS}/ + {workdir.RUN_CONFIG})')
  family = families.family_of(start.model.cfg)
  return Loaded(start.model, family, load_tokenizer(start.tokenizer_dir),
                get_template(family.chat_template(start.model.cfg)), start.tokenizer_dir)


def model_config(path: str | pathlib.Path) -> ModelConfig:
  """The architecture of a converted checkpoint or a workdir, without loading weights."""
  path = pathlib.Path(path)
  if not workdir.is_workdir(path):
    return checkpoint.load_config(path)
  config = workdir.upgraded(workdir.run_config(path))
  if not config.init_from:
    cfg = architecture(config.model)
  else:
    cfg = model_config(config.init_from)
    cfg = dataclasses.replace(cfg, projector=config.model.projector)
  lora = lora_config(config.model)
  return cfg if lora is None or cfg.lora is not None else dataclasses.replace(cfg, lora=lora)


def default_dtype() -> jnp.dtype:
  """bf16 on accelerators; f32 on CPUs, where XLA emulates bf16 matmuls slowly."""
  return jnp.float32 if jax.default_backend() == 'cpu' else jnp.bfloat16
