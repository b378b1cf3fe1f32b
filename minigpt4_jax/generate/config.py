"""Generation settings, defaulting to MiniGPT-4's ``Chat.answer``
(``minigpt4/conversation/conversation.py``, ef1ac08)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
  """What ``Chat.answer`` passes to HF ``generate``, with HF semantics.

  ``max_new_tokens`` and ``num_beams`` shape the compiled program; every other field
  is a traced scalar (``sampling.Knobs``) and changes nothing but values.

  Attributes:
    max_new_tokens: answer budget (EOS / stop string end it earlier).
    num_beams: 1 = greedy or sampling; more = beam search (sampled if ``do_sample``).
    do_sample: MiniGPT-4's chat samples by default.
    min_new_tokens: EOS is banned before this many new tokens. MiniGPT-4's
      ``min_length=1`` under transformers 4.30 counted the BOS its sequence starts
      with, so it never banned EOS: ``min_new_tokens=0`` (MiniGPT-4's chat defaults,
      ``families/minigpt4.py``).
    top_p, top_k: nucleus / top-k filtering when sampling; top_k=50 is HF's default,
      which MiniGPT-4 inherits since it never sets it. top_k=0 / top_p=1 disable them.
    temperature: divides the logits when sampling.
    repetition_penalty: HF's, over the generated tokens (1.0 = off; HEAD uses 1.05).
    length_penalty: beam hypotheses are scored sum(logprob) / length**length_penalty.
    starts_with_bos: the sequence starts with BOS, as transformers 4.30's
      ``generate(inputs_embeds=...)`` starts ``input_ids`` (generation/utils.py), so the
      repetition penalty counts it. ``min_new_tokens`` still counts generated tokens
      only: 4.30's ``min_length=1`` counted that BOS and never banned EOS, which is
      ``min_new_tokens=0``.
  """

  max_new_tokens: int = 300
  num_beams: int = 1
  do_sample: bool = True
  min_new_tokens: int = 1
  top_p: float = 0.9
  top_k: int = 50
  temperature: float = 1.0
  repetition_penalty: float = 1.0
  length_penalty: float = 1.0
  starts_with_bos: bool = False

  def __post_init__(self):
    if self.max_new_tokens < 1 or self.num_beams < 1:
      raise ValueError(f'max_new_tokens and num_beams must be >= 1: {self}')
    if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.repetition_penalty <= 0:
      raise ValueError(f'need temperature > 0, 0 < top_p <= 1, repetition_penalty > 0: {self}')
