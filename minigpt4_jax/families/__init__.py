"""Model families: one module each, registered on import.

  minigpt4.py  MiniGPT-4 (Vicuna with the Q-Former; Llama-2 with 4-patch groups)
  llava.py     LLaVA v1 / 1.5 (CLIP ViT-L/14 patches, linear or mlp2x_gelu projector)
  minigptv2.py MiniGPT-v2 (EVA at 448 px, 4-patch groups, Llama-2-chat with LoRA on q/v)

Ask ``family_of(model.cfg)`` (or ``get(name)``) whatever depends on the family.
"""

from minigpt4_jax.families import llava, minigpt4, minigptv2  # noqa: F401  (registers them)
from minigpt4_jax.families.base import Family
from minigpt4_jax.families.registry import family_of, get, names, preset, presets

__all__ = ['Family', 'family_of', 'get', 'names', 'preset', 'presets']
