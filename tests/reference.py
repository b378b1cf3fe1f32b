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

from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.models.configs import EvaVitConfig, LlamaConfig, ModelConfig, QFormerConfig


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


def pixels(batch: int, size: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype(np.float32)


def to_torch_nchw(pixels: np.ndarray) -> torch.Tensor:
  return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def torch_minigpt4_logits(cfg, vision, qformer, query_tokens, llama, proj, pixels, ids):
  """The MiniGPT-4 forward written with the PyTorch reference modules."""
  with torch.no_grad():
    tokens = vision(pixel_values=to_torch_nchw(pixels), output_hidden_states=True).hidden_states[-1]
    ln = torch.nn.LayerNorm(cfg.vision.width, eps=cfg.ln_vision_eps)
    if cfg.qformer is not None:
      ln.load_state_dict(vision.post_layernorm.state_dict())
      feats = qformer(
          query_embeds=query_tokens.expand(len(pixels), -1, -1),
          encoder_hidden_states=ln(tokens),
      ).last_hidden_state
    else:  # ln_vision unloaded; CLS dropped; 1x4 raster strips concatenated
      patches = ln(tokens)[:, 1:, :]
      feats = patches.reshape(len(pixels), patches.shape[1] // 4, -1)
    image_embeds = proj(feats)
    ids_t = torch.from_numpy(ids)
    text = llama.model.embed_tokens(torch.where(ids_t == IMAGE_TOKEN_ID, 0, ids_t))
    is_image = ids_t == IMAGE_TOKEN_ID
    embeds = text.clone()
    for b in range(len(ids)):
      embeds[b, is_image[b]] = image_embeds[b]
    return llama(inputs_embeds=embeds).logits.numpy()


def prompt_ids(cfg: ModelConfig, batch: int) -> np.ndarray:
  """[BOS] text <image tokens> text, as a stage-2 prompt would look."""
  rng = np.random.default_rng(7)
  before = rng.integers(3, cfg.llm.vocab_size, size=(batch, 5))
  after = rng.integers(3, cfg.llm.vocab_size, size=(batch, 6))
  image = np.full((batch, cfg.num_image_tokens), IMAGE_TOKEN_ID)
  bos = np.full((batch, 1), cfg.llm.bos_token_id)
  return np.concatenate([bos, before, image, after], axis=1)


def training_batch(cfg, batch: int, length: int, image_start: int = 1,
                   seed: int = 0) -> dict[str, np.ndarray]:
  """A train-step batch: random tokens, BOS first, the image tokens at ``image_start``,
  rows of random lengths right-padded to ``length``, every token after the image
  supervised; random pixels (``cfg`` is a MiniGPT-4 or LLaVA config)."""
  rng = np.random.default_rng(seed)
  first_target = image_start + cfg.num_image_tokens
  ids = rng.integers(3, cfg.llm.vocab_size, size=(batch, length)).astype(np.int32)
  ids[:, 0] = cfg.llm.bos_token_id
  ids[:, image_start:first_target] = IMAGE_TOKEN_ID
  lengths = rng.integers(first_target + 3, length + 1, size=batch)
  attention = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  target = attention.astype(np.float32)
  target[:, :first_target] = 0
  size = cfg.vision.image_size
  return {'image': rng.normal(size=(batch, size, size, 3)).astype(np.float32),
          'input_ids': ids, 'attention_mask': attention, 'target_mask': target}
