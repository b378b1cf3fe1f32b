"""The PyTorch MiniGPT-4 train step, as MiniGPT-4 trains it, on transformers modules.

``Blip2VisionModel`` (EVA ViT + ln_vision) -> ``Blip2QFormerModel`` over the query
tokens -> ``nn.Linear`` (``llama_proj``) -> ``LlamaForCausalLM`` with ``labels``
(HF's mean causal-LM loss on the answer tokens). As in MiniGPT-4, every frozen
parameter has ``requires_grad=False`` and its module stays in eval mode, so autograd
records nothing before the projector and takes no weight gradients in the LLM, and
AdamW (LAVIS's settings) holds state for the projector alone.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import ml_collections
import numpy as np
import torch
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM
from transformers.models.blip_2 import modeling_blip_2 as hf_blip2
from transformers.models.blip_2.configuration_blip_2 import Blip2QFormerConfig, Blip2VisionConfig

from minigpt4_jax.tools.bench.runtime import Runtime
from minigpt4_jax.convert import tables
from minigpt4_jax.families import minigpt4 as minigpt4_family
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.models.configs import EvaVitConfig, LlamaConfig, ModelConfig, QFormerConfig

IGNORE_INDEX = -100  # HF's label for "no loss here"


def vision_config(cfg: EvaVitConfig) -> Blip2VisionConfig:
  return Blip2VisionConfig(
      hidden_size=cfg.width, intermediate_size=cfg.mlp_dim, num_hidden_layers=cfg.depth,
      num_attention_heads=cfg.num_heads, image_size=cfg.image_size, patch_size=cfg.patch_size,
      layer_norm_eps=cfg.layer_norm_eps, qkv_bias=True,
  )


def qformer_config(cfg: QFormerConfig) -> Blip2QFormerConfig:
  layers = cfg.cross_attention_layers
  freq = layers[1] - layers[0] if len(layers) > 1 else cfg.num_layers
  if tuple(range(0, cfg.num_layers, freq)) != layers:
    raise ValueError(f'transformers needs evenly spaced cross-attention layers, got {layers}')
  return Blip2QFormerConfig(
      hidden_size=cfg.hidden, num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
      intermediate_size=cfg.mlp_dim, encoder_hidden_size=cfg.encoder_width,
      cross_attention_frequency=freq, layer_norm_eps=cfg.layer_norm_eps,
  )


def llama_config(cfg: LlamaConfig) -> HFLlamaConfig:
  return HFLlamaConfig(
      vocab_size=cfg.vocab_size, hidden_size=cfg.hidden, intermediate_size=cfg.mlp_dim,
      num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
      num_key_value_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, rms_norm_eps=cfg.rms_norm_eps,
      rope_theta=cfg.rope_theta, max_position_embeddings=cfg.max_position_embeddings,
      tie_word_embeddings=False, bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
      pad_token_id=0,
  )


@contextlib.contextmanager
def _building_on(device: str, dtype: torch.dtype):
  """Creates parameters straight on ``device`` in ``dtype`` (a 13B LLM in f32 on the
  host first would need 52 GB)."""
  previous = torch.get_default_dtype()
  torch.set_default_dtype(dtype)
  try:
    with torch.device(device):
      yield
  finally:
    torch.set_default_dtype(previous)


class TorchMiniGPT4(torch.nn.Module):
  """MiniGPT-4 (Q-Former variant) from transformers modules, random weights."""

  def __init__(self, cfg: ModelConfig, runtime: Runtime, seed: int = 0):
    super().__init__()
    if cfg.connector != 'qformer' or cfg.projector != 'linear':
      raise ValueError('the PyTorch reference is the Q-Former + linear-projector MiniGPT-4')
    self.runtime = runtime
    torch.manual_seed(seed)
    with _building_on(runtime.torch_device, runtime.torch_dtype):
      self.vision = hf_blip2.Blip2VisionModel(vision_config(cfg.vision))
      # HF's post_layernorm is MiniGPT-4's ln_vision (transformers ``convert_blip_2_original_to_pytorch.py``), a fresh torch
      # LayerNorm with eps 1e-5 rather than the ViT blocks' 1e-6.
      self.vision.post_layernorm.eps = cfg.ln_vision_eps
      self.qformer = hf_blip2.Blip2QFormerModel(qformer_config(cfg.qformer))
      self.query_tokens = torch.nn.Parameter(
          0.02 * torch.randn(1, cfg.qformer.num_query_tokens, cfg.qformer.hidden))
      self.llama = LlamaForCausalLM(llama_config(cfg.llm))
    with torch.device(runtime.torch_device):  # MiniGPT-4 keeps llama_proj in fp32
      self.llama_proj = torch.nn.Linear(cfg.projector_in, cfg.llm.hidden)
    with torch.no_grad():  # EVA has no key bias: zero the k third of HF's fused bias
      for layer in self.vision.encoder.layers:
        layer.self_attn.qkv.bias[cfg.vision.width:2 * cfg.vision.width] = 0
    for name, p in self.named_parameters():
      p.requires_grad = name.startswith('llama_proj.')
    self.train()

  def train(self, mode: bool = True) -> 'TorchMiniGPT4':
    """Only the projector follows ``mode``; the frozen towers stay in eval mode
    (LAVIS's ``disabled_train``), so their dropout never runs."""
    super().train(False)
    self.llama_proj.train(mode)
    return self

  def image_features(self, pixels_nchw: torch.Tensor) -> torch.Tensor:
    """float[B, 3, S, S] -> Q-Former outputs float[B, Q, C]."""
    image_tokens = self.vision(pixel_values=pixels_nchw).last_hidden_state
    queries = self.query_tokens.expand(pixels_nchw.shape[0], -1, -1)
    return self.qformer(query_embeds=queries, encoder_hidden_states=image_tokens).last_hidden_state

  def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """HF's mean next-token loss over the answer tokens of ``batch`` (``to_torch``)."""
    with torch.autocast(self.runtime.torch_device, self.runtime.torch_dtype,
                        enabled=self.runtime.on_gpu):
      image_embeds = self.llama_proj(self.image_features(batch['pixels']))
      ids = batch['input_ids']
      is_image = ids == IMAGE_TOKEN_ID
      embeds = self.llama.model.embed_tokens(torch.where(is_image, 0, ids))
      embeds = embeds.masked_scatter(is_image[..., None], image_embeds.to(embeds.dtype))
      return self.llama(inputs_embeds=embeds, attention_mask=batch['attention_mask'],
                        labels=batch['labels']).loss

  def weights_for_jax(self) -> Iterator[tuple[tables.Layout, str, np.ndarray]]:
    """(layout, key, f32 array) for every weight, one tensor at a time, in the key
    formats of ``convert.tables`` (transformers BLIP-2, LLaMA, MiniGPT-4 projector)."""
    groups = (
        (tables.BLIP2_HF, 'vision_model.', self.vision),
        (tables.BLIP2_HF, 'qformer.', self.qformer),
        (tables.LLAMA_HF, '', self.llama),
        (minigpt4_family.PROJECTOR_MINIGPT4, 'llama_proj.', self.llama_proj),
    )
    yield tables.BLIP2_HF, 'query_tokens', _numpy(self.query_tokens)
    for layout, prefix, module in groups:
      for key, tensor in module.state_dict().items():
        yield layout, prefix + key, _numpy(tensor)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
  return tensor.detach().float().cpu().numpy()


def to_torch(batch: dict[str, np.ndarray], runtime: Runtime) -> dict[str, torch.Tensor]:
  """A ``batches.synthetic_batch`` as the PyTorch step takes it: NCHW pixels, int64
  ids and HF ``labels`` (the token where ``target_mask`` is set, else -100)."""
  ids = torch.from_numpy(batch['input_ids']).long()
  labels = torch.where(torch.from_numpy(batch['target_mask']) > 0, ids, IGNORE_INDEX)
  pixels = torch.from_numpy(batch['image']).permute(0, 3, 1, 2).contiguous()
  out = {'pixels': pixels.to(runtime.torch_dtype), 'input_ids': ids, 'labels': labels,
         'attention_mask': torch.from_numpy(batch['attention_mask']).long()}
  return {k: v.to(runtime.torch_device) for k, v in out.items()}


class TorchTrainStep:
  """loss.backward(); AdamW.step() on the projector, as LAVIS's runner does."""

  def __init__(self, model: TorchMiniGPT4, train: ml_collections.ConfigDict):
    self.model = model
    proj = model.llama_proj
    # LAVIS decays ndim >= 2 parameters only: the weight, not the bias. Its schedule
    # sets the rate once per step; a constant rate costs the same.
    self.optimizer = torch.optim.AdamW(
        [{'params': [proj.weight], 'weight_decay': train.weight_decay},
         {'params': [proj.bias], 'weight_decay': 0.0}],
        lr=train.lr, betas=(train.b1, train.b2))

  def __call__(self, batch: dict[str, torch.Tensor]) -> float:
    """One step; returns the loss (reading it waits for the step to finish)."""
    loss = self.model.loss(batch)
    loss.backward()
    self.optimizer.step()
    self.optimizer.zero_grad(set_to_none=True)
    self.model.runtime.torch_sync()
    return loss.item()
