"""N JAX processes on this machine, as a pod runs them: one coordinator on
127.0.0.1, 2 fake CPU devices each, gloo collectives. Every helper is bounded in
time and kills what it started."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
DEVICES_PER_PROCESS = 2
# Shared by every process the tests start: each program compiles once per session.
_COMPILATION_CACHE = tempfile.TemporaryDirectory(prefix='minigpt4-jax-test-xla-')


def free_port() -> int:
  with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def environment(process_id: int, num_processes: int, port: int) -> dict[str, str]:
  return dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=str(REPO),
              XLA_FLAGS=f'--xla_force_host_platform_device_count={DEVICES_PER_PROCESS}',
              JAX_COORDINATOR_ADDRESS=f'127.0.0.1:{port}', JAX_NUM_PROCESSES=str(num_processes),
              JAX_PROCESS_ID=str(process_id), JAX_COMPILATION_CACHE_DIR=_COMPILATION_CACHE.name,
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')


def last_logged_step(workdir: pathlib.Path) -> int:
  """The last step in WORKDIR/metrics.jsonl (0 before the first)."""
  path = pathlib.Path(workdir) / 'metrics.jsonl'
  lines = path.read_text().splitlines() if path.exists() else []
  return json.loads(lines[-1])['step'] if lines else 0


class Processes:
  """``num_processes`` copies of ``python -m MODULE ARGS`` (the same command on every
  host), their output in LOGS/process_K.log."""

  def __init__(self, module: str, args: Sequence[str], logs: pathlib.Path,
               num_processes: int = 2):
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    self.logs = [logs / f'process_{i}.log' for i in range(num_processes)]
    self.files = [open(log, 'w') for log in self.logs]
    self.procs = [
        subprocess.Popen([sys.executable, '-m', module, *args], cwd=REPO,
                         env=environment(i, num_processes, port), stdout=file,
                         stderr=subprocess.STDOUT)
        for i, file in enumerate(self.files)]

  def wait(self, timeout: float = 300) -> list[int]:
    """Exit codes; on a timeout every process is killed and the test fails."""
    deadline = time.monotonic() + timeout
    try:
      codes = [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in self.procs]
    except subprocess.TimeoutExpired:
      self.kill()
      raise AssertionError(f'processes still running after {timeout} s:\n{self.tails()}')
    self._close_files()
    return codes

  def wait_until(self, condition: Callable[[], bool], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
      if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
        self.kill()
        raise AssertionError(f'condition not reached (or a process ended):\n{self.tails()}')
      time.sleep(0.05)

  def send(self, process_id: int, signum: int) -> None:
    self.procs[process_id].send_signal(signum)

  def kill(self) -> None:
    for p in self.procs:
      if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    for p in self.procs:
      p.wait(timeout=30)
    self._close_files()

  def _close_files(self) -> None:
    for file in self.files:
      file.close()

  def tails(self, chars: int = 3000) -> str:
    return '\n'.join(f'--- {log.name}\n{log.read_text(errors="replace")[-chars:]}'
                     for log in self.logs)

  def output(self, process_id: int) -> str:
    return self.logs[process_id].read_text(errors='replace')


def run_all(module: str, args: Sequence[str], logs: pathlib.Path, num_processes: int = 2,
            timeout: float = 300) -> Processes:
  """Runs to the end; fails (with every process's log tail) unless all exit 0."""
  procs = Processes(module, args, logs, num_processes)
  codes = procs.wait(timeout)
  assert codes == [0] * num_processes, f'exit codes {codes}:\n{procs.tails()}'
  return procs
