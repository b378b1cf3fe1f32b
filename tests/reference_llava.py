"""Tiny random LLaVA references (transformers PyTorch), built from our configs. f32."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, LlavaConfig, LlavaForConditionalGeneration

from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.models.configs import LlamaConfig, tiny_llm
from minigpt4_jax.families import preset
from minigpt4_jax.models.configs import ClipVitConfig, ModelConfig
from tests.reference import llama, perturb_


def hf_clip_vision_config(cfg: ClipVitConfig, layers_in_file: int) -> CLIPVisionConfig:
  return CLIPVisionConfig(
      hidden_size=cfg.width, intermediate_size=cfg.mlp_dim, num_hidden_layers=layers_in_file,
      num_attention_heads=cfg.num_heads, image_size=cfg.image_size, patch_size=cfg.patch_size,
      layer_norm_eps=cfg.layer_norm_eps, hidden_act=cfg.act, attn_implementation='eager',
  )


def clip_vision(cfg: ClipVitConfig, seed: int = 0) -> CLIPVisionModel:
  """A CLIP tower with one layer more than ``cfg`` builds (LLaVA reads layer -2)."""
  return perturb_(CLIPVisionModel(hf_clip_vision_config(cfg, cfg.depth + 1)), seed)


def hf_llm_config(cfg: LlamaConfig) -> dict:
  """tests.reference's LLaMA settings (untied head, eager attention) as a config dict."""
  return llama(cfg).config.to_dict()


def llava(cfg: ModelConfig, seed: int = 3) -> LlavaForConditionalGeneration:
  """A tiny LlavaForConditionalGeneration (mlp2x_gelu projector, feature layer -2)."""
  assert cfg.projector == 'mlp2x_gelu', 'transformers LLaVA has only the 2-layer projector'
  hf = LlavaConfig(
      vision_config=hf_clip_vision_config(cfg.vision, cfg.vision.depth + 1).to_dict(),
      # transformers marks image slots with a vocabulary id: the last one here.
      text_config=hf_llm_config(cfg.llm), image_token_index=cfg.llm.vocab_size - 1,
      image_seq_length=cfg.num_image_tokens, vision_feature_layer=-2,
      vision_feature_select_strategy='default', projector_hidden_act='gelu',
      tie_word_embeddings=False,
  )
  hf._attn_implementation = 'eager'
  return perturb_(LlavaForConditionalGeneration(hf), seed)


def llava_logits(model: LlavaForConditionalGeneration, ids: np.ndarray,
                 pixels_bhwc: np.ndarray) -> np.ndarray:
  """transformers' logits for our ids (``IMAGE_TOKEN_ID`` placeholders -> its image token)."""
  with torch.no_grad():
    return model(**hf_inputs(model, ids, pixels_bhwc)).logits.numpy()


def hf_inputs(model: LlavaForConditionalGeneration, ids: np.ndarray,
              pixels_bhwc: np.ndarray) -> dict[str, torch.Tensor]:
  """Our ids (``IMAGE_TOKEN_ID`` placeholders) and NHWC pixels as transformers takes them."""
  image_token = model.config.image_token_index
  return {'input_ids': torch.from_numpy(np.where(ids == IMAGE_TOKEN_ID, image_token, ids)),
          'pixel_values': torch.from_numpy(pixels_bhwc).permute(0, 3, 1, 2).contiguous()}


def tiny(image_size: int = 56, patch_size: int = 14, **llm) -> ModelConfig:
  """A LLaVA small enough for CPU parity tests (16 image tokens at 56 px)."""
  vision = ClipVitConfig(image_size=image_size, patch_size=patch_size, width=32, depth=2,
                         num_heads=4, mlp_dim=64)
  return dataclasses.replace(preset('tiny_llava'), vision=vision,
                             llm=dataclasses.replace(tiny_llm, **llm))
