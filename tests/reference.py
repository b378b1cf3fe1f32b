"""Tiny random PyTorch reference models (transformers), built from our architecture configs.

Every weight, LayerNorm scales and biases included, is perturbed away from its
initial value so parity tests exercise all of them. f32 throughout.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM
from transformers.models.blip_2 import modeling_blip_2 as hf_blip2
from transformers.models.blip_2.configuration_blip_2 import Blip2QFormerConfig, Blip2VisionConfig

from minigpt4_jax.models.configs import EvaVitConfig, LlamaConfig, QFormerConfig


def perturb_(module: torch.nn.Module, seed: int, scale: float = 0.05) -> torch.nn.Module:
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in module.parameters():
      p.add_(torch.randn(p.shape, generator=gen) * scale)
  return module.eval()


def blip2_vision(cfg: EvaVitConfig, seed: int = 0) -> hf_blip2.Blip2VisionModel:
  hf = Blip2VisionConfig(
      hidden_size=cfg.width, intermediate_size=cfg.mlp_dim, num_hidden_layers=cfg.depth,
      num_attention_heads=cfg.num_heads, image_size=cfg.image_size, patch_size=cfg.patch_size,
      layer_norm_eps=cfg.layer_norm_eps, qkv_bias=True, attn_implementation='eager',
  )
  model = perturb_(hf_blip2.Blip2VisionModel(hf), seed)
  with torch.no_grad():  # EVA has no key bias: zero the k third of HF's fused bias.
    for layer in model.encoder.layers:
      layer.self_attn.qkv.bias[cfg.width:2 * cfg.width] = 0
  return model


def blip2_qformer(cfg: QFormerConfig, seed: int = 1) -> tuple[hf_blip2.Blip2QFormerModel, torch.Tensor]:
  """The Q-Former and its query tokens float[1, Q, D]."""
  layers = cfg.cross_attention_layers
  freq = layers[1] - layers[0] if len(layers) > 1 else cfg.num_layers
  assert tuple(range(0, cfg.num_layers, freq)) == layers, 'HF needs evenly spaced cross-attention'
  hf = Blip2QFormerConfig(
      hidden_size=cfg.hidden, num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
      intermediate_size=cfg.mlp_dim, encoder_hidden_size=cfg.encoder_width,
      cross_attention_frequency=freq, layer_norm_eps=cfg.layer_norm_eps,
      attn_implementation='eager',
  )
  model = perturb_(hf_blip2.Blip2QFormerModel(hf), seed)
  gen = torch.Generator().manual_seed(seed + 100)
  query_tokens = torch.randn((1, cfg.num_query_tokens, cfg.hidden), generator=gen) * 0.5
  return model, query_tokens


def llama(cfg: LlamaConfig, seed: int = 2) -> LlamaForCausalLM:
  hf = HFLlamaConfig(
      vocab_size=cfg.vocab_size, hidden_size=cfg.hidden, intermediate_size=cfg.mlp_dim,
      num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
      num_key_value_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, rms_norm_eps=cfg.rms_norm_eps,
      max_position_embeddings=cfg.max_position_embeddings, tie_word_embeddings=False,
      bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id, pad_token_id=0,
      attn_implementation='eager',
  )
  return perturb_(LlamaForCausalLM(hf), seed)


def numpy_state(module: torch.nn.Module, prefix: str = '') -> dict[str, np.ndarray]:
  return {prefix + k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def max_rel_err(ours, ref) -> float:
  """max |ours - ref| / max |ref|: scale-free, and strict where values are large."""
  ours = np.asarray(ours, np.float64)
  ref = np.asarray(ref, np.float64)
  return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
