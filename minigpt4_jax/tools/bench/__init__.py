"""Train-step benchmarks: minigpt4-jax against the PyTorch MiniGPT-4 step, same weights.

``python -m launch.bench`` is the entry point; ``BENCHMARKS.md`` holds the figures.
"""
