"""MiniGPT-4 in JAX/Flax NNX."""

from minigpt4_jax.checkpoint import load

__all__ = ['load']
