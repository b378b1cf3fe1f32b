"""Generation speed: our jitted decoder vs transformers ``generate``, same weights, same run.

  python -m minigpt4_jax.tools.bench.decode --size mid --batch 1 8

  python -m minigpt4_jax.tools.bench.decode --session 6

A random LLaMA (``tiny``: the test model; ``mid``: hidden 512, 8 layers, 32k vocab,
~60M parameters, meaningful on a 2-core CPU) is built in PyTorch and copied into
ours. Both decode greedily from the same random prompt embeddings, f32, with EOS
banned so every row generates exactly ``--new-tokens`` tokens. Reported per batch
size: time to first token (prefill + one token), decode throughput (tokens after
the first, all rows), and our one-off compile time. Also checks the two produced
the same tokens. ``--session N`` instead counts the compilations of an N-turn chat
on the bundled tiny checkpoint with MiniGPT-4's settings, every answer forced to the
full 300 tokens (EOS banned, no stop string) as a verbose model would write them.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import time

import jax
import numpy as np
import torch
from flax import nnx
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import tables
from minigpt4_jax.convert.assign import load_state_dict
from minigpt4_jax.generate.buckets import bucket_length
from minigpt4_jax.generate.chat import Chat
from minigpt4_jax.loading import default_dtype
from minigpt4_jax.generate.compile_log import compile_log
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.models import Llama
from minigpt4_jax.models.configs import LlamaConfig, tiny_llm
from minigpt4_jax.bundled import TINY_CHECKPOINT
from minigpt4_jax.text.templates import VICUNA_V0
from minigpt4_jax.text.tokens import tokenize_with_image
from minigpt4_jax.tokenizer import load_tokenizer

SIZES = {
    'tiny': tiny_llm,
    'mid': LlamaConfig(vocab_size=32000, hidden=512, num_layers=8, num_heads=8, num_kv_heads=8,
                       head_dim=64, mlp_dim=1408, max_position_embeddings=2048),
}


@dataclasses.dataclass(frozen=True)
class Timing:
  ttft_s: float
  total_s: float
  tokens: np.ndarray  # int[B, N]

  def decode_tokens_per_s(self, batch: int) -> float:
    return batch * (self.tokens.shape[1] - 1) / (self.total_s - self.ttft_s)


def build(cfg: LlamaConfig, seed: int = 0) -> tuple[LlamaForCausalLM, Llama]:
  torch.manual_seed(seed)
  hf = LlamaForCausalLM(HFLlamaConfig(
      vocab_size=cfg.vocab_size, hidden_size=cfg.hidden, intermediate_size=cfg.mlp_dim,
      num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
      num_key_value_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, rms_norm_eps=cfg.rms_norm_eps,
      max_position_embeddings=cfg.max_position_embeddings, tie_word_embeddings=False,
      bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id, pad_token_id=0,
  )).eval()
  ours = Llama(cfg, rngs=nnx.Rngs(seed))
  state = {k: v.numpy() for k, v in hf.state_dict().items()}
  load_state_dict(_UnderLlm(ours), tables.LLAMA_HF, state, prefix='llm/')
  return hf, ours


class _UnderLlm(nnx.Module):
  """The LLaMA table addresses parameters as in MiniGPT-4, under 'llm/'."""

  def __init__(self, llm: Llama):
    self.llm = llm


def time_ours(gen: Generator, embeds, mask, new_tokens: int) -> Timing:
  config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, min_new_tokens=new_tokens)
  begin = time.perf_counter()
  first = next(gen.stream(embeds, mask, config, chunk=1))  # prefill + one step, on the host
  ttft = time.perf_counter() - begin
  del first
  begin = time.perf_counter()
  out = gen.generate(embeds, mask, config)  # the fast path: one while_loop
  return Timing(ttft, time.perf_counter() - begin, out.tokens)


def time_transformers(hf: LlamaForCausalLM, embeds, mask, new_tokens: int) -> Timing:
  kwargs = dict(inputs_embeds=torch.from_numpy(embeds),
                attention_mask=torch.from_numpy(mask.astype(np.int64)), do_sample=False,
                pad_token_id=0)
  with torch.no_grad():
    begin = time.perf_counter()
    hf.generate(max_new_tokens=1, **kwargs)
    ttft = time.perf_counter() - begin
    begin = time.perf_counter()
    tokens = hf.generate(max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kwargs)
  return Timing(ttft, time.perf_counter() - begin, tokens.numpy())


def best_of(runs: int, fn, *args) -> Timing:
  timings = [fn(*args) for _ in range(runs)]
  return Timing(min(t.ttft_s for t in timings), min(t.total_s for t in timings), timings[0].tokens)


def chat_session(turns: int) -> None:
  """Prints, per turn, the prompt length, its bucket and the programs compiled."""
  model = checkpoint.load(TINY_CHECKPOINT, dtype=default_dtype())
  tokenizer = load_tokenizer(checkpoint.tokenizer_dir(TINY_CHECKPOINT))
  verbose = GenerationConfig(min_new_tokens=GenerationConfig().max_new_tokens)
  chat = Chat(model, tokenizer, dataclasses.replace(VICUNA_V0, stop_strings=()), verbose)
  image = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
  total = collections.Counter()
  with compile_log() as compiled:
    chat.upload_image(image)
  print(f'upload: {dict(compiled)}')
  total.update(compiled)
  for turn in range(turns):
    chat.ask('Describe this image in detail.')
    prompt = len(tokenize_with_image(tokenizer, chat.conversation.prompt() + 'Assistant: ',
                                     model.cfg.num_image_tokens, split_specials=True))
    with compile_log() as compiled:
      chat.answer()
    total.update(compiled)
    ours = {k: v for k, v in compiled.items() if k.endswith('_program')}
    print(f'turn {turn + 1}: prompt {prompt} tokens -> bucket {bucket_length(prompt)}; '
          f'compiled {ours or "nothing new"} (+{sum(compiled.values()) - sum(ours.values())} '
          'small eager ops)')
  ours = sum(v for k, v in total.items() if k.endswith('_program'))
  print(f'session total: {ours} generation programs, {sum(total.values())} XLA compilations '
        'in all')


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(prog='python -m minigpt4_jax.tools.bench.decode', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--size', choices=sorted(SIZES), default='mid')
  p.add_argument('--batch', type=int, nargs='+', default=[1, 8])
  p.add_argument('--prompt-len', type=int, default=100, help='prompt tokens (padded to 128)')
  p.add_argument('--new-tokens', type=int, default=64)
  p.add_argument('--runs', type=int, default=3, help='best of this many timed runs')
  p.add_argument('--session', type=int, metavar='TURNS',
                 help='count the compilations of a chat session instead')
  args = p.parse_args(argv)
  if args.session:
    chat_session(args.session)
    return

  cfg = SIZES[args.size]
  hf, ours = build(cfg)
  gen = Generator(ours)
  n_params = sum(x.numel() for x in hf.parameters())
  print(f'{args.size}: {n_params / 1e6:.1f}M parameters, prompt {args.prompt_len} tokens, '
        f'{args.new_tokens} new tokens, f32, {jax.devices()[0].platform} / torch '
        f'{torch.get_num_threads()} threads; best of {args.runs}')
  header = (f'{"batch":>5}  {"impl":<12} {"TTFT ms":>8} {"decode tok/s":>12} {"total s":>8} '
            f'{"compile s":>9}  same tokens')
  print(header)
  print('-' * len(header))
  for batch in args.batch:
    rng = np.random.default_rng(batch)
    embeds = (rng.normal(size=(batch, args.prompt_len, cfg.hidden)) * 0.02).astype(np.float32)
    mask = np.ones((batch, args.prompt_len), bool)
    begin = time.perf_counter()
    with compile_log() as compiled:
      time_ours(gen, embeds, mask, args.new_tokens)  # compiles, then warm
    compile_s = time.perf_counter() - begin
    time_transformers(hf, embeds, mask, args.new_tokens)  # warm-up
    mine = best_of(args.runs, time_ours, gen, embeds, mask, args.new_tokens)
    theirs = best_of(args.runs, time_transformers, hf, embeds, mask, args.new_tokens)
    same = np.array_equal(mine.tokens, theirs.tokens)
    for name, t, extra in (('minigpt4-jax', mine, f'{compile_s:9.1f}'),
                           ('transformers', theirs, f'{"-":>9}')):
      print(f'{batch:>5}  {name:<12} {t.ttft_s * 1e3:8.1f} {t.decode_tokens_per_s(batch):12.1f} '
            f'{t.total_s:8.2f} {extra}  {same if name == "minigpt4-jax" else ""}')
    programs = {k: v for k, v in compiled.items() if k.endswith('_program')}
    print(f'       compiled: {programs}')


if __name__ == '__main__':
  main()
