"""Benchmark results as JSON-ready dicts, a text table, and a chart of JAX vs PyTorch."""

from __future__ import annotations

import pathlib
from typing import Any

from minigpt4_jax.tools.bench.train_bench import JAX, JAX_FEATURES, PYTORCH, ShapeResult, TrainBench

MIB = 2 ** 20


def _contender(result: ShapeResult, framework: str, peak_flops: float) -> dict[str, Any]:
  timed = result.by_framework(framework)
  s = timed.median_s
  row: dict[str, Any] = {
      'median_step_s': s,
      'min_step_s': min(timed.step_s),
      'step_s': list(timed.step_s),
      'images_per_s': result.batch / s,
      'tokens_per_s': result.batch * result.tokens / s,
      'flops_per_step': timed.flops,
      'tflops_per_s': timed.flops / s / 1e12,
      'mfu': timed.flops / s / peak_flops,
      'first_loss': result.first_loss[framework],
  }
  if timed.xla_flops is not None:
    row['xla_flops_per_step'] = timed.xla_flops
  if timed.rss is not None:
    row['rss_after_imports_mib'] = timed.rss[0] / MIB
    row['peak_rss_mib'] = timed.rss[1] / MIB
  return row


def summary(bench: TrainBench) -> dict[str, Any]:
  """Everything a figure needs, derived from the medians; what ``--json`` writes."""
  shapes = []
  for result in bench.shapes:
    names = [t.framework for t in result.timed]
    contenders = {name: _contender(result, name, bench.peak_flops) for name in names}
    median = {name: contenders[name]['median_step_s'] for name in names}
    entry = {
        'shape': result.shape.name, 'batch': result.batch, 'tokens': result.tokens,
        'other_cpu_load': result.other_cpu_load,
        'gemm_flops_per_s': result.gemm_flops,
        'contenders': contenders,
        'jax_speedup_vs_pytorch': median[PYTORCH] / median[JAX],
        'jax_speedup_vs_pytorch_best_steps': (contenders[PYTORCH]['min_step_s']
                                              / contenders[JAX]['min_step_s']),
    }
    if JAX_FEATURES in median:
      entry['feature_cache_gain'] = median[JAX] / median[JAX_FEATURES]
      entry['cached_features_speedup_vs_pytorch'] = median[PYTORCH] / median[JAX_FEATURES]
    shapes.append(entry)
  return {
      'size': bench.size,
      'dtype': bench.dtype,
      'machine': bench.machine,
      'gemm_flops_per_s': bench.gemm_flops,
      'peak_flops_per_s': bench.peak_flops,
      'shapes': shapes,
  }


def table(s: dict[str, Any]) -> str:
  """A plain-text table of one ``summary``."""
  m = s['machine']
  lines = [
      f"size {s['size']} ({s['dtype']}): {m['cpu']}, {m['cores']} cores, accelerator {m['accelerator']}, "
      f"{m['date']}; jax {m['jax']}, torch {m['torch']} ({m['torch_threads']} threads)",
      'MFU denominator: best interleaved GEMM ' + ', '.join(
          f'{k} {v / 1e9:.0f}' for k, v in s['gemm_flops_per_s'].items())
      + f" GFLOP/s -> {s['peak_flops_per_s'] / 1e9:.0f} GFLOP/s",
  ]
  header = (f"{'shape':<7} {'B':>3} {'T':>4}  {'framework':<21} {'median s':>8} {'min s':>6} "
            f"{'img/s':>7} "
            f"{'tok/s':>8} {'TFLOP/s':>8} {'MFU':>6} {'peak RSS MiB (+ over imports)':>30}")
  lines += [header, '-' * len(header)]
  for shape in s['shapes']:
    for name, c in shape['contenders'].items():
      rss = f"{'-':>30}"
      if 'peak_rss_mib' in c:
        rss = f"{c['peak_rss_mib']:21.0f} (+{c['peak_rss_mib'] - c['rss_after_imports_mib']:5.0f})"
      lines.append(
          f"{shape['shape']:<7} {shape['batch']:>3} {shape['tokens']:>4}  {name:<21} "
          f"{c['median_step_s']:8.3f} {c['min_step_s']:6.3f} {c['images_per_s']:7.2f} "
          f"{c['tokens_per_s']:8.0f} "
          f"{c['tflops_per_s']:8.4f} {c['mfu']:6.1%} {rss}")
    extra = ''
    if 'feature_cache_gain' in shape:
      extra = (f"; cached features {shape['feature_cache_gain']:.2f}x faster than images "
               f"({shape['cached_features_speedup_vs_pytorch']:.2f}x PyTorch)")
    jax_row = shape['contenders'][JAX]
    xla = jax_row['xla_flops_per_step'] / jax_row['flops_per_step'] - 1
    lines.append(f"{'':<17}JAX {shape['jax_speedup_vs_pytorch']:.2f}x PyTorch (best steps "
                 f"{shape['jax_speedup_vs_pytorch_best_steps']:.2f}x){extra}")
    lines.append(f"{'':<17}XLA counts {xla:+.1%} FLOPs vs the analytic matmul count; other "
                 f"processes used {shape['other_cpu_load']:.0%} of the CPUs meanwhile")
  return '\n'.join(lines)


def plot(summaries: list[dict[str, Any]], path: pathlib.Path) -> None:
  """Bar chart of images/s per (size, shape), one bar per contender."""
  import matplotlib
  matplotlib.use('Agg')  # files only, no display
  from matplotlib import pyplot as plt

  groups = [(s, shape) for s in summaries for shape in s['shapes']]
  names = [PYTORCH, JAX, JAX_FEATURES]
  colors = {PYTORCH: '#d95f02', JAX: '#1b9e77', JAX_FEATURES: '#7570b3'}
  width = 0.8 / len(names)
  fig, axes = plt.subplots(1, len(groups), figsize=(2.6 * len(groups), 3.4), dpi=90)
  for ax, (s, shape) in zip(axes if len(groups) > 1 else [axes], groups):
    for i, name in enumerate(names):
      if name in shape['contenders']:
        value = shape['contenders'][name]['images_per_s']
        ax.bar(i * width, value, width, color=colors[name], label=name)
        ax.text(i * width, value, f'{value:.3g}', ha='center', va='bottom', fontsize=7)
    ax.set_title(f"{s['size']} {shape['shape']} (B={shape['batch']}, T={shape['tokens']})\n"
                 f"JAX {shape['jax_speedup_vs_pytorch']:.2f}x PyTorch", fontsize=8)
    ax.set_xticks([])
    ax.tick_params(labelsize=7)
  (axes[0] if len(groups) > 1 else axes).set_ylabel('train images / s (median step)', fontsize=8)
  handles, labels = (axes[0] if len(groups) > 1 else axes).get_legend_handles_labels()
  m = summaries[0]['machine']
  fig.legend(handles, labels, loc='lower center', ncol=3, fontsize=8, frameon=False)
  fig.suptitle(f"MiniGPT-4 train step, {summaries[0]['dtype']}, {m['cpu']} ({m['cores']} cores), {m['date']}",
               fontsize=9)
  fig.tight_layout(rect=(0, 0.08, 1, 0.95))
  fig.savefig(path)
  plt.close(fig)
