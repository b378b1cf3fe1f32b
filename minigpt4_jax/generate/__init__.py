"""Generation: KV-cached decoding in one jitted loop, beam search, stop strings, chat.

  sampling.py      logits processors with transformers' semantics
  stop_strings.py  stop strings matched on decoded text inside the loop
  decode.py        prefill + the greedy/sampling while_loop
  beam.py          beam search (HF semantics) in one while_loop
  buckets.py       prompt-length buckets and left padding
  generator.py     ``Generator``: the jitted programs behind one object
  chat.py          ``Chat``: one image, many turns (terminal and Gradio front ends)
  compile_log.py   counting XLA compilations
"""

from minigpt4_jax.generate.chat import Chat, ContextOverflowError, load_chat
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generation, Generator
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.text.templates import LLAMA2, TEMPLATES, VICUNA_V0, Conversation, Template

__all__ = [
    'Chat', 'ContextOverflowError', 'Conversation', 'Generation', 'GenerationConfig',
    'Generator', 'LLAMA2', 'StopTables', 'TEMPLATES', 'Template', 'VICUNA_V0', 'load_chat',
]
