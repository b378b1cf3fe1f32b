"""Writes tiny random checkpoints in the released files' original layouts.

The LAVIS key names are the transformers ones renamed back (transformers ``convert_blip_2_original_to_pytorch.py``), so the
converted model can be compared against the transformers modules they came from.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from safetensors.torch import save_file
from transformers import Blip2Config

from minigpt4_jax.models.configs import ModelConfig
from tests import reference

_VISION_RENAMES = (
    (r'embeddings\.class_embedding', 'cls_token'),
    (r'embeddings\.position_embedding', 'pos_embed'),
    (r'embeddings\.patch_embedding\.', 'patch_embed.proj.'),
    (r'encoder\.layers\.(\d+)\.layer_norm([12])\.', r'blocks.\1.norm\2.'),
    (r'encoder\.layers\.(\d+)\.self_attn\.qkv\.weight', r'blocks.\1.attn.qkv.weight'),
    (r'encoder\.layers\.(\d+)\.self_attn\.projection\.', r'blocks.\1.attn.proj.'),
    (r'encoder\.layers\.(\d+)\.mlp\.', r'blocks.\1.mlp.'),
)
_QFORMER_RENAMES = (
    (r'layernorm\.', 'Qformer.bert.embeddings.LayerNorm.'),
    (r'encoder\.layer\.(\d+)\.attention\.attention\.', r'Qformer.bert.encoder.layer.\1.attention.self.'),
    (r'encoder\.layer\.(\d+)\.crossattention\.attention\.', r'Qformer.bert.encoder.layer.\1.crossattention.self.'),
    (r'encoder\.layer\.', 'Qformer.bert.encoder.layer.'),
)


def _rename(key: str, renames) -> str:
  for pattern, replacement in renames:
    new, n = re.subn('^' + pattern, replacement, key)
    if n:
      return new
  raise KeyError(key)


@dataclasses.dataclass
class TinyRelease:
  """The tiny reference modules and the files written from them."""
  cfg: ModelConfig
  vision: torch.nn.Module
  qformer: torch.nn.Module | None
  query_tokens: torch.Tensor | None
  llama: torch.nn.Module
  proj: torch.nn.Linear
  eva_file: pathlib.Path
  blip2_file: pathlib.Path | None
  llm_dir: pathlib.Path
  projector_file: pathlib.Path


def eva_lavis_state(vision) -> dict[str, torch.Tensor]:
  """eva_vit_g.pth layout, plus one extra final block as in EVA-CLIP-g's 40."""
  out = {}
  for key, value in vision.state_dict().items():
    if key.startswith('post_layernorm'):
      continue  # ln_vision lives in the BLIP-2 file
    if key.endswith('self_attn.qkv.bias'):
      block = key.split('.')[2]
      q, _, v = value.chunk(3)
      out[f'blocks.{block}.attn.q_bias'], out[f'blocks.{block}.attn.v_bias'] = q.clone(), v.clone()
      continue
    out[_rename(key, _VISION_RENAMES)] = value
  last = max(int(k.split('.')[1]) for k in out if k.startswith('blocks.'))
  for key in [k for k in out if k.startswith(f'blocks.{last}.')]:
    out[key.replace(f'blocks.{last}.', f'blocks.{last + 1}.')] = torch.randn_like(out[key])
  return out


def blip2_lavis_state(vision, qformer, query_tokens) -> dict[str, torch.Tensor]:
  """blip2_pretrained_flant5xxl.pth['model'] layout, text side included."""
  out = {_rename(k, _QFORMER_RENAMES): v for k, v in qformer.state_dict().items()}
  out['query_tokens'] = query_tokens
  out['ln_vision.weight'] = vision.post_layernorm.weight.detach().clone()
  out['ln_vision.bias'] = vision.post_layernorm.bias.detach().clone()
  hidden = query_tokens.shape[-1]
  out.update({  # the text side LAVIS keeps and MiniGPT-4 never uses
      'Qformer.bert.embeddings.word_embeddings.weight': torch.randn(50, hidden),
      'Qformer.bert.embeddings.position_embeddings.weight': torch.randn(16, hidden),
      'Qformer.bert.embeddings.position_ids': torch.arange(16)[None],
      'Qformer.bert.encoder.layer.0.intermediate.dense.weight': torch.randn(8, hidden),
      'Qformer.bert.encoder.layer.0.output.LayerNorm.weight': torch.randn(hidden),
      'Qformer.cls.predictions.bias': torch.randn(50),
      't5_proj.weight': torch.randn(4, hidden), 't5_proj.bias': torch.randn(4),
      'temp': torch.tensor(0.07),
  })
  return out


def write_blip2_dir(directory: pathlib.Path, vision, qformer, query_tokens) -> pathlib.Path:
  """A transformers Blip2Model directory (safetensors + config.json) holding these
  towers, plus a language-model tensor the converter must skip."""
  directory.mkdir(parents=True)
  state = {**{f'vision_model.{k}': v for k, v in vision.state_dict().items()},
           **{f'qformer.{k}': v for k, v in qformer.state_dict().items()},
           'query_tokens': query_tokens,
           'language_model.lm_head.weight': torch.randn(10, 4)}
  save_file({k: v.contiguous() for k, v in state.items()}, directory / 'model.safetensors')
  Blip2Config(vision_config=vision.config.to_dict(),
              qformer_config=qformer.config.to_dict()).save_pretrained(directory)
  return directory


def save_bin_shards(state: dict[str, torch.Tensor], directory: pathlib.Path,
                    num_shards: int) -> None:
  """``pytorch_model-*.bin`` shards and their index, as older transformers wrote them
  (transformers 5 saves only safetensors)."""
  keys = list(state)
  weight_map = {}
  for n, part in enumerate(np.array_split(np.arange(len(keys)), num_shards)):
    name = f'pytorch_model-{n + 1:05d}-of-{num_shards:05d}.bin'
    torch.save({keys[i]: state[keys[i]].clone() for i in part}, directory / name)
    weight_map.update({keys[i]: name for i in part})
  (directory / 'pytorch_model.bin.index.json').write_text(json.dumps({'weight_map': weight_map}))


def write_release(root: pathlib.Path, cfg: ModelConfig, tokenizer_dir: pathlib.Path,
                  *, safetensors: bool = True, vision_prefix: str = '') -> TinyRelease:
  """Tiny random towers written as the released files: LAVIS ``.pth`` files (the EVA
  one with its keys under ``vision_prefix`` in a ``{'model': ...}`` dict if given),
  a sharded LLaMA directory (safetensors or .bin, with an index), a projector."""
  vision = reference.blip2_vision(cfg.vision)
  qformer, query_tokens = (reference.blip2_qformer(cfg.qformer) if cfg.qformer else (None, None))
  llama = reference.llama(cfg.llm)
  proj = reference.perturb_(torch.nn.Linear(cfg.projector_in, cfg.llm.hidden), seed=9)
  root.mkdir(parents=True, exist_ok=True)
  eva_file = root / 'eva_vit_g.pth'
  eva = eva_lavis_state(vision)
  torch.save({'model': {vision_prefix + k: v for k, v in eva.items()}} if vision_prefix else eva,
             eva_file)
  blip2_file = None
  if qformer is not None:
    blip2_file = root / 'blip2_pretrained_flant5xxl.pth'
    torch.save({'model': blip2_lavis_state(vision, qformer, query_tokens)}, blip2_file)
  llm_dir = root / 'llm'
  if safetensors:
    llama.save_pretrained(llm_dir, max_shard_size='100KB')
  else:
    llama.config.save_pretrained(llm_dir)
    save_bin_shards(llama.state_dict(), llm_dir, num_shards=3)
  for f in tokenizer_dir.iterdir():
    (llm_dir / f.name).write_bytes(f.read_bytes())
  projector_file = root / 'pretrained_minigpt4.pth'
  torch.save({'model': {'llama_proj.weight': proj.weight.detach().clone(),
                        'llama_proj.bias': proj.bias.detach().clone()}}, projector_file)
  return TinyRelease(cfg, vision, qformer, query_tokens, llama, proj, eva_file, blip2_file,
                     llm_dir, projector_file)


def reference_logits(release: TinyRelease, pixels: np.ndarray, ids: np.ndarray) -> np.ndarray:
  return reference.torch_minigpt4_logits(release.cfg, release.vision, release.qformer,
                                         release.query_tokens, release.llama, release.proj,
                                         pixels, ids)


def cli_args(release: TinyRelease, out: pathlib.Path) -> list[str]:
  """``launch.convert`` arguments converting ``release``'s LAVIS files to ``out``."""
  args = ['--vision', str(release.eva_file), '--llm', str(release.llm_dir),
          '--projector', str(release.projector_file), '--out', str(out),
          '--vision-heads', str(release.cfg.vision.num_heads)]  # tiny widths are not EVA-g's
  if release.blip2_file is not None:
    args += ['--qformer', str(release.blip2_file),
             '--qformer-heads', str(release.cfg.qformer.num_heads)]
  return args


def write_edited_eva(release: TinyRelease, path: pathlib.Path, edit) -> pathlib.Path:
  """A copy of the release's EVA file with ``edit(state_dict)`` applied."""
  state = torch.load(release.eva_file, weights_only=True)
  edit(state)
  torch.save(state, path)
  return path


def logits_error(release: TinyRelease, model) -> float:
  """max rel. error of ``model``'s logits against the PyTorch composition."""
  pixels = reference.pixels(2, release.cfg.vision.image_size, seed=5)
  ids = reference.prompt_ids(release.cfg, 2)
  ours = nnx.jit(lambda m, i, p: m(i, p))(model, jnp.asarray(ids), jnp.asarray(pixels))
  return reference.max_rel_err(ours, reference_logits(release, pixels, ids))
