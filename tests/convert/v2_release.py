"""A tiny MiniGPT-v2 release in the original files' layouts, and its PyTorch forward.

The ViT file is a 224-px EVA (16x16 grid) as BLIP-2's ``eva_vit_g.pth``; the reference
runs it at 448 px with its position embeddings resized by torch's F.interpolate, and
the LLM is a transformers LlamaForCausalLM adapted by peft LoRA on q_proj / v_proj.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import peft
import torch
import torch.nn.functional as F

from minigpt4_jax.families import minigptv2
from minigpt4_jax.models.configs import LoraConfig, ModelConfig
from tests import reference
from tests.convert import layouts


def torch_resized_pos_embed(pos: torch.Tensor, grid_out: int) -> torch.Tensor:
  """EVA's interpolate_pos_embed (eva_vit.py:373-394)."""
  extra, grid = pos[:, :1], pos[:, 1:]
  g = int(grid.shape[1] ** 0.5)
  grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
  grid = F.interpolate(grid, size=(grid_out, grid_out), mode='bicubic', align_corners=False)
  return torch.cat([extra, grid.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)


@dataclasses.dataclass
class TinyV2Release:
  cfg: ModelConfig  # without adapters: the base model the torch reference adapts
  lora: LoraConfig
  vision: torch.nn.Module   # at 448 px
  llama: torch.nn.Module    # the LoRA-adapted LlamaForCausalLM (peft injects in place)
  proj: torch.nn.Linear
  eva_file: pathlib.Path
  llm_dir: pathlib.Path
  checkpoint_file: pathlib.Path
  state: dict[str, torch.Tensor]  # checkpoint_file's ['model']


def write_release(root: pathlib.Path, tokenizer_dir: pathlib.Path, *, peft_default_names: bool,
                  lora: LoraConfig = minigptv2.TINY_LORA) -> TinyV2Release:
  """eva_vit_g.pth (224 px, one extra block), a Llama directory, and
  minigptv2_checkpoint.pth with llama_proj, the LoRA factors (peft 0.2.0 names, or
  later peft's ``.default.`` ones) and the rotary inv_freq buffers."""
  cfg = dataclasses.replace(minigptv2.PRESETS['minigptv2_tiny'], lora=None)
  root.mkdir(parents=True, exist_ok=True)
  vision224 = reference.blip2_vision(dataclasses.replace(cfg.vision, image_size=224))
  eva_file = root / 'eva_vit_g.pth'
  torch.save(layouts.eva_lavis_state(vision224), eva_file)
  vision = reference.blip2_vision(cfg.vision)
  state = vision224.state_dict()
  grid = cfg.vision.image_size // cfg.vision.patch_size
  state['embeddings.position_embedding'] = torch_resized_pos_embed(
      state['embeddings.position_embedding'], grid)
  vision.load_state_dict(state)

  llama = reference.llama(cfg.llm)
  llm_dir = root / 'llm'
  llama.save_pretrained(llm_dir)  # the base weights, before peft injects the adapters
  for f in tokenizer_dir.iterdir():
    (llm_dir / f.name).write_bytes(f.read_bytes())
  adapted = peft.get_peft_model(llama, peft.LoraConfig(
      r=lora.rank, lora_alpha=lora.alpha, lora_dropout=0.05, target_modules=list(lora.targets),
      bias='none', task_type='CAUSAL_LM'))
  gen = torch.Generator().manual_seed(11)
  with torch.no_grad():  # lora_B starts at zero: make every factor matter
    for name, p in adapted.named_parameters():
      if 'lora_' in name:
        p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
  adapted.eval()
  proj = reference.perturb_(torch.nn.Linear(cfg.projector_in, cfg.llm.hidden), seed=9)

  ckpt = {'llama_proj.weight': proj.weight.detach().clone(),
          'llama_proj.bias': proj.bias.detach().clone()}
  for key, value in adapted.state_dict().items():
    if 'lora_' in key:
      key = key if peft_default_names else key.replace('.default.', '.')
      ckpt['llama_model.' + key] = value.detach().clone()
  for n in range(cfg.llm.num_layers):  # buffers the original's saver keeps
    ckpt[f'{minigptv2.LLAMA_PREFIX}{n}.self_attn.rotary_emb.inv_freq'] = torch.rand(8)
  checkpoint_file = root / 'minigptv2_checkpoint.pth'
  torch.save({'model': ckpt, 'epoch': 3}, checkpoint_file)
  return TinyV2Release(cfg, lora, vision, adapted.get_base_model(), proj, eva_file, llm_dir,
                       checkpoint_file, ckpt)


def cli_args(release: TinyV2Release, out: pathlib.Path, checkpoint=None) -> list[str]:
  return ['--family', 'minigptv2', '--vision', str(release.eva_file),
          '--llm', str(release.llm_dir),
          '--checkpoint', str(checkpoint or release.checkpoint_file),
          '--lora-alpha', str(release.lora.alpha), '--out', str(out), '--dtype', 'float32',
          '--vision-heads', str(release.cfg.vision.num_heads)]


def reference_logits(release: TinyV2Release, pixels: np.ndarray, ids: np.ndarray) -> np.ndarray:
  return reference.torch_minigpt4_logits(release.cfg, release.vision, None, None, release.llama,
                                         release.proj, pixels, ids)
