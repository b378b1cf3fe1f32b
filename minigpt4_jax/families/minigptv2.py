"""MiniGPT-v2 (arXiv 2310.09478; Vision-CAIR/MiniGPT-4 at d94738a, ``minigpt4/models/minigpt_v2.py``).

The Llama-2 MiniGPT-4 path at 448 px: EVA ViT-g (39 blocks) on a 32x32 patch grid,
its 16x16 position embeddings resized bicubically at load (``eva_vit.py:429-436``),
ln_vision never loaded (identity), CLS dropped, 4 raster-consecutive tokens
concatenated -> 256 tokens of 5632 -> ``llama_proj`` -> Llama-2-7b-chat, adapted by
LoRA (r 64, alpha 16, q_proj and v_proj; ``minigpt_v2.py:36-39``).

The released checkpoint (``torch.load(f)['model']``) holds ``llama_proj.*`` and the
adapters under ``llama_model.base_model.model.model.layers.N.self_attn.{q,v}_proj.
lora_{A,B}.weight`` (peft 0.2.0; later peft adds ``.default.``), and probably the
rotary ``inv_freq`` buffers the runner's saver keeps. The original loads it with
``strict=False``; this converter accounts for every key. Adapters are merged into
the frozen weights (W + scale * B @ A) unless ``--keep-lora``: then the checkpoint's
``ModelConfig.lora`` records them and every loader builds them.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
from typing import Any, Mapping

import jax
import numpy as np

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import architecture, peft_lora, tables
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.convert.convert import Plan, Read, write_plan
from minigpt4_jax.convert.export import parameter_arrays, write_torch
from minigpt4_jax.convert.pos_embed import resize_pos_embed
from minigpt4_jax.convert.tables import Layout, linear_weight, rule
from minigpt4_jax.convert.torch_io import tensor_shapes, torch_module, weight_files
from minigpt4_jax.families.base import Family
from minigpt4_jax.families.registry import register
from minigpt4_jax.models import configs
from minigpt4_jax.models.configs import EvaVitConfig, LoraConfig, ModelConfig
from minigpt4_jax.models.vlm import VisionLanguageModel
from minigpt4_jax.tokenizer import TOKENIZER_FILES

NAME = 'minigptv2'
IMAGE_SIZE = 448

# peft LoraConfig(r=64, lora_alpha=16, lora_dropout=0.05, target_modules=[q_proj, v_proj]).
LORA = LoraConfig(rank=64, alpha=16.0, targets=('q_proj', 'v_proj'))
TINY_LORA = LoraConfig(rank=8, alpha=2.0, targets=LORA.targets)  # the same scale, 0.25
# Its lora_dropout, a training setting (model.lora_dropout), not part of the architecture.
LORA_DROPOUT = 0.05


def _config(vision: EvaVitConfig, llm: configs.LlamaConfig, lora: LoraConfig | None) -> ModelConfig:
  return ModelConfig(family=NAME, vision=vision, connector='patch_group', qformer=None, llm=llm,
                     lora=lora)


PRESETS = {
    'minigptv2_7b': _config(dataclasses.replace(configs.eva_vit_g, image_size=IMAGE_SIZE),
                            configs.llama2_7b, LORA),
    'minigptv2_tiny': _config(dataclasses.replace(configs.tiny_vit, image_size=IMAGE_SIZE),
                              configs.tiny_llm, TINY_LORA),
}

# Stage 3 (and 2) train LoRA and llama_proj; the ViT, ln_vision and the base LLM stay
# frozen (minigpt_v2.py: freeze_vit, lora on the LLM, llama_proj trainable).
TRAINABLE = {'stage3': ('projector/.*', r'llm/.*/lora_[ab]')}

# The demo samples (demo_v2.py:550-556: top_p 0.9, repetition_penalty 1.05, temperature
# slider at 0.6, 500 new tokens).
CHAT_DEFAULTS = {'max_new_tokens': 500, 'do_sample': True, 'top_p': 0.9, 'temperature': 0.6,
                 'repetition_penalty': 1.05}

# Task identifiers (arXiv 2310.09478 Table 1) and the text the demo's shortcut buttons
# put after some of them (demo_v2.py:498-506).
TASKS = ('grounding', 'refer', 'detection', 'identify', 'vqa', 'caption')
_SHORTCUT_TEXT = {'grounding': 'describe this image in detail', 'identify': 'what is this'}


def task_prompt(task: str | None, text: str) -> str:
  """``[task] text`` (plain ``text`` for free chat, ``task`` None); an empty ``text``
  takes the demo's shortcut text, e.g. ``[grounding] describe this image in detail``."""
  if task is None:
    return text
  if task not in TASKS:
    raise ValueError(f'unknown task {task!r}; known: {", ".join(TASKS)}')
  text = text.strip() or _SHORTCUT_TEXT.get(task, '')
  return f'[{task}] {text}'.strip()


def chat_template(cfg: ModelConfig) -> str:
  del cfg  # CONV_VISION_minigptv2 for every MiniGPT-v2
  return 'minigptv2'


# --- the released checkpoint's key table ---------------------------------------------

LLAMA_PREFIX = 'llama_model.' + peft_lora.PEFT_LLAMA_PREFIX
_INV_FREQ = re.escape(LLAMA_PREFIX) + r'\d+\.self_attn\.rotary_emb\.inv_freq'
_PROJECTOR_RULES = (rule(r'llama_proj\.weight', 'projector/kernel', transform=linear_weight),
                    rule(r'llama_proj\.bias', 'projector/bias'))


def checkpoint_layout(targets: tuple[str, ...] = LORA.targets) -> Layout:
  """minigptv2_checkpoint.pth['model']: llama_proj and the LoRA factors in both peft
  namings; the rotary ``inv_freq`` buffers (recomputed from rope_theta) are unused."""
  return Layout('minigptv2_checkpoint',
                _PROJECTOR_RULES + peft_lora.lora_rules(LLAMA_PREFIX, targets),
                unused=(_INV_FREQ,))


def _eva_at(image_size: int, patch_size: int) -> Layout:
  """eva_vit_g.pth with its position embeddings resized to ``image_size``'s grid."""
  grid = image_size // patch_size
  resize = rule(r'pos_embed', 'vision/pos_embed', transform=lambda x: (resize_pos_embed(x, grid),))
  return dataclasses.replace(tables.EVA_LAVIS, rules=(resize,) + tables.EVA_LAVIS.rules)


@dataclasses.dataclass(frozen=True)
class Sources:
  """The files to convert, as given on the command line."""

  vision: pathlib.Path                    # eva_vit_g.pth (BLIP-2's, 224 px)
  llm: pathlib.Path                       # Llama-2-7b-chat-hf
  checkpoint: pathlib.Path | None = None  # minigptv2_checkpoint.pth (omit: fresh projector)
  merge_lora: bool = True                 # W + scale * B @ A; False keeps the adapters
  lora_alpha: float = LORA.alpha          # not in the file: minigpt_v2.yaml's 16
  image_size: int = IMAGE_SIZE
  vision_heads: int | None = None         # for widths other than EVA-g's


def _vision(src: Sources) -> tuple[EvaVitConfig, Read]:
  shapes = tensor_shapes(src.vision)
  vision, blocks = architecture.eva_from_lavis(shapes, str(src.vision), src.vision_heads)
  if src.image_size % vision.patch_size:
    raise ConversionError(f'--image-size {src.image_size} is not a multiple of the patch '
                          f'size {vision.patch_size} of {src.vision}')
  # As MiniGPT-4, the file's last block (EVA-CLIP-g's 40th) is built nowhere.
  layout = _eva_at(src.image_size, vision.patch_size).also_unused(rf'blocks\.{blocks - 1}\..*')
  vision = dataclasses.replace(vision, image_size=src.image_size)
  return vision, Read(str(src.vision), (src.vision,), layout, ('vision/',))


def _check_projector(shapes: Mapping[str, tuple[int, ...]], cfg: ModelConfig, source: str) -> None:
  found = architecture.required_shape(shapes, 'llama_proj.weight', source)
  if found != (cfg.llm.hidden, cfg.projector_in):
    raise ConversionError(f'{source}: llama_proj.weight has shape {found}, expected '
                          f'{(cfg.llm.hidden, cfg.projector_in)} (4 x the ViT width -> the LLM width)')


def plan(src: Sources) -> Plan:
  """What to read, and the architecture (with the adapters it keeps) those files describe."""
  vision, vision_read = _vision(src)
  cfg = _config(vision, architecture.llama_from_dir(src.llm), None)
  tokenizer_files = tuple(checkpoint.tokenizer_files(src.llm))
  if not tokenizer_files:  # checked before hours of conversion, not after
    raise FileNotFoundError(f'{src.llm}: no tokenizer files ({", ".join(TOKENIZER_FILES)})')
  llm_files = tuple(weight_files(src.llm))
  if src.checkpoint is None:
    return Plan((vision_read, Read(str(src.llm), llm_files, tables.LLAMA_HF, ('llm/',))), cfg,
                tokenizer_files)
  file = str(src.checkpoint)
  shapes = tensor_shapes(src.checkpoint)
  _check_projector(shapes, cfg, file)
  rank = peft_lora.lora_rank(shapes, file)
  if rank is None:
    raise ConversionError(f'{file}: no LoRA factors (*.lora_A.weight / *.lora_A.default.weight); '
                          f'is it a MiniGPT-v2 checkpoint?')
  lora = LoraConfig(rank, src.lora_alpha, LORA.targets)
  layout = checkpoint_layout(lora.targets)
  expected = peft_lora.lora_paths(cfg.llm.num_layers, lora.targets)
  if src.merge_lora:
    adapters = peft_lora.read_adapters(file, layout, expected)
    projector_only = layout.also_unused(*(r.pattern for r in
                                          peft_lora.lora_rules(LLAMA_PREFIX, lora.targets)))
    reads = (Read(file, (src.checkpoint,), projector_only, ('projector/',)), vision_read,
             Read(str(src.llm), llm_files, peft_lora.merging(tables.LLAMA_HF, adapters, lora.scale),
                  ('llm/',)))
    return Plan(reads, cfg, tokenizer_files)
  # Kept: the small checkpoint first, so each LLM layer's group completes (and is
  # written) as soon as its base weights arrive.
  reads = (Read(file, (src.checkpoint,), layout, ('projector/', *sorted(expected))), vision_read,
           Read(str(src.llm), llm_files, tables.LLAMA_HF, ('llm/',)))
  return Plan(reads, dataclasses.replace(cfg, lora=lora), tokenizer_files)


def add_convert_arguments(group: argparse._ArgumentGroup) -> None:
  group.add_argument('--checkpoint', type=pathlib.Path,
                     help='minigptv2_checkpoint.pth (llama_proj + LoRA); omit: a fresh projector')
  group.add_argument('--keep-lora', action='store_true',
                     help='keep the LoRA adapters (to train on) instead of merging them')
  group.add_argument('--lora-alpha', type=float, default=LORA.alpha,
                     help="LoRA alpha (not stored in the file; the original's 16)")
  group.add_argument('--image-size', type=int, default=IMAGE_SIZE,
                     help='input size; the position embeddings are resized to its grid')


def convert(args: argparse.Namespace, out_dir: pathlib.Path, dtype: str, *, seed: int,
            overwrite: bool) -> ModelConfig:
  """``launch.convert --family minigptv2``: ``--vision``, ``--vision-heads`` and ``--llm``
  are shared flags."""
  if args.vision is None or args.llm is None:
    raise ConversionError('--family minigptv2 needs --vision (eva_vit_g.pth) and --llm')
  if args.projector is not None:
    raise ConversionError('--family minigptv2 reads llama_proj from --checkpoint, not --projector')
  return write_plan(plan(Sources(vision=args.vision, llm=args.llm, checkpoint=args.checkpoint,
                                 merge_lora=not args.keep_lora, lora_alpha=args.lora_alpha,
                                 image_size=args.image_size, vision_heads=args.vision_heads)),
                    out_dir, dtype, seed=seed, overwrite=overwrite)


def at_image_size(model: VisionLanguageModel, image_size: int) -> VisionLanguageModel:
  """``model`` (in place) run at ``image_size``: its position embeddings resized to the
  new patch grid as EVA's ``interpolate_pos_embed`` does at load (eva_vit.py:429-436),
  e.g. a 224-px Llama-2 MiniGPT-4 checkpoint at MiniGPT-v2's 448."""
  vision = model.cfg.vision
  if image_size % vision.patch_size:
    raise ValueError(f'image size {image_size} is not a multiple of the patch size '
                     f'{vision.patch_size}')
  old = model.vision.pos_embed[...]
  resized = resize_pos_embed(np.asarray(old, np.float32), image_size // vision.patch_size)
  model.vision.pos_embed.set_value(jax.device_put(resized.astype(old.dtype), old.sharding))
  vision = dataclasses.replace(vision, image_size=image_size)
  model.cfg = dataclasses.replace(model.cfg, vision=vision)
  model.vision.cfg = vision
  return model


# --- export back to the original format -------------------------------------------------

_OUR_LORA = re.compile(r'llm/layers/(\d+)/attn/(\w+)/lora_([ab])')
EXPORTED = ('projector/.*', r'llm/.*/lora_[ab]')  # what the original's checkpoint holds


def original_state(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
  """``{'model': {...}}`` as the original saves it (peft 0.2.0 names, float32), from our
  ``path -> array`` of the projector and adapters."""
  if 'projector/kernel' not in arrays or 'projector/bias' not in arrays:
    raise ConversionError('no linear projector (projector/kernel, projector/bias) to export')
  state = {'llama_proj.weight': arrays['projector/kernel'].T,
           'llama_proj.bias': arrays['projector/bias']}
  for path, array in arrays.items():
    match = _OUR_LORA.fullmatch(path)
    if match:
      layer, proj, factor = match.groups()
      state[f'{LLAMA_PREFIX}{layer}.self_attn.{proj}.lora_{factor.upper()}.weight'] = array.T
  if not any('lora_' in k for k in state):
    raise ConversionError('no LoRA adapters to export: they were merged at conversion '
                          '(convert with --keep-lora to keep them)')
  torch = torch_module()
  return {'model': {k: torch.from_numpy(np.array(v, np.float32)) for k, v in state.items()}}


def export_trained(source: str | pathlib.Path, out_path: Any) -> None:
  """``source``'s (checkpoint with kept adapters, or training workdir) projector and
  adapters as the original's ``minigptv2_checkpoint.pth``, atomically."""
  write_torch(original_state(parameter_arrays(source, EXPORTED)), out_path)


FAMILY = register(Family(
    name=NAME, title='MiniGPT-v2', presets=PRESETS, chat_template=chat_template,
    image_transform='resize', trainable=TRAINABLE, chat_defaults=CHAT_DEFAULTS,
    add_convert_arguments=add_convert_arguments, convert=convert,
    export_trained=export_trained, tasks=TASKS, task_prompt=task_prompt))
