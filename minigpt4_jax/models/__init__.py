"""Flax NNX ports of EVA-ViT, the BLIP-2 Q-Former, CLIP ViT and LLaMA, and the one
vision-language model every family composes from them (``vlm.py``)."""

from minigpt4_jax.models.configs import (ClipVitConfig, EvaVitConfig, LlamaConfig, LoraConfig,
                                         ModelConfig, QFormerConfig)
from minigpt4_jax.models.llama import KVCache, Llama
from minigpt4_jax.models.vlm import IMAGE_TOKEN_ID, VisionLanguageModel

__all__ = ['ClipVitConfig', 'EvaVitConfig', 'LlamaConfig', 'LoraConfig', 'ModelConfig',
           'QFormerConfig', 'KVCache', 'Llama', 'IMAGE_TOKEN_ID', 'VisionLanguageModel']
