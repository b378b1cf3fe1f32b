"""MiniGPT-4 in JAX/Flax NNX."""
