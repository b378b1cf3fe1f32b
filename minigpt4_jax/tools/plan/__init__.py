"""Ahead-of-time planner: compiles the real train/decode programs for a TPU topology
(or this host's CPU devices) from abstract shapes and reports their compiled cost."""
