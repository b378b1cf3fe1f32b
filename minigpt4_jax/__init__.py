"""MiniGPT-4 and its family (LLaVA, MiniGPT-v2) in JAX/Flax NNX."""

from minigpt4_jax.loading import Loaded, load

__all__ = ['Loaded', 'load']
