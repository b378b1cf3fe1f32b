"""Flax NNX ports of EVA-ViT, the BLIP-2 Q-Former, CLIP ViT, LLaMA and their MiniGPT-4 and
LLaVA compositions."""

from minigpt4_jax.models.configs import (
    EvaVitConfig, LlamaConfig, MiniGPT4Config, QFormerConfig, preset,
)
from minigpt4_jax.models.clip_vit import ClipViT
from minigpt4_jax.models.eva_vit import EvaViT
from minigpt4_jax.models.llama import KVCache, Llama
from minigpt4_jax.models.llava import LLaVA
from minigpt4_jax.models.llava_config import ClipVitConfig, LLaVAConfig
from minigpt4_jax.models.minigpt4 import IMAGE_TOKEN_ID, MiniGPT4
from minigpt4_jax.models.qformer import QFormer

__all__ = ['EvaVitConfig', 'LlamaConfig', 'MiniGPT4Config', 'QFormerConfig', 'preset', 'EvaViT',
           'KVCache', 'Llama', 'IMAGE_TOKEN_ID', 'MiniGPT4', 'QFormer', 'ClipViT', 'ClipVitConfig',
           'LLaVA', 'LLaVAConfig']
