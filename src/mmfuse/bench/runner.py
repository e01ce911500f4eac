"""The benchmark runner: every method on every pair of every setting, resumable and sharded.

:func:`run_benchmark` does all the work behind ``mmfuse bench``:

1. discovers the benchmark (:func:`mmfuse.bench.layout.discover_benchmark`);
2. plans one *item* per (setting, method, pair); an item is done when its fused PNG and its
   record (``records/<setting>/<method>/<name>.json``, written atomically) hold every requested
   metric of the requested profile. Done items are skipped, so an interrupted run resumes where
   it stopped; an item whose PNG exists but whose metrics are missing is only evaluated (its
   stored time is kept); ``overwrite=True`` recomputes everything;
3. runs the pending items of each method in **fresh worker processes** (``forkserver``, else
   ``spawn``; never a plain ``fork`` of the possibly multi-threaded parent), each
   worker building the method once and processing its shard of the method's items
   (``workers`` processes at a time). Every item records the wall time of the ``fuse`` call
   alone and the worker's peak resident-set growth during that call, relative to the process
   just before the method was built (:class:`_MemoryProbe`: Linux ``VmHWM`` reset before each
   call, else ``ru_maxrss``; the process has already imported numpy, OpenCV and torch), which
   covers weights, activations and image buffers of numpy and torch methods alike;
4. under ``torchrun`` (``WORLD_SIZE`` > 1) each rank takes the items ``i ≡ RANK (mod
   WORLD_SIZE)`` of the global plan, ranks synchronise with a ``gloo`` barrier and rank 0 writes
   the report;
5. writes ``results.csv``, ``summary.csv`` and ``report.html`` (:mod:`mmfuse.bench.report`).

Results do not depend on the number of workers or ranks: each item's fused image depends only
on the method and the pair, and metrics are always computed from the saved 8-bit PNG (so a
fresh and a resumed item are scored identically). Timing columns naturally differ.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmfuse.bench.layout import Benchmark, BenchItem, OutputLayout, discover_benchmark, safe_method_name
from mmfuse.errors import InputError

__all__ = ["BenchResult", "run_benchmark", "read_records", "dist_info"]


@dataclass
class BenchResult:
    """Outcome of :func:`run_benchmark`.

    Attributes:
        report_dir: output folder.
        settings, methods, metrics: what was run, in order.
        profile: metric profile.
        n_items: number of (setting, method, pair) items handled by this process (its shard
            under torchrun).
        computed: items fused (and evaluated) in this run.
        evaluated: items whose existing fused image was only (re-)evaluated.
        reused: items already complete.
        failed: ``(setting, method, name, message)`` for every item that failed.
        problems: files of the benchmark that could not be used (unmatched, missing reference).
        results_csv, summary_csv, report_html: files written (``None`` on ranks other than 0).
        seconds: wall time.
        rank, world_size: distributed position (``0, 1`` for a plain run).
    """

    report_dir: Path
    settings: list[str]
    methods: list[str]
    metrics: list[str]
    profile: str
    n_items: int = 0
    computed: int = 0
    evaluated: int = 0
    reused: int = 0
    failed: list[tuple[str, str, str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results_csv: Path | None = None
    summary_csv: Path | None = None
    report_html: Path | None = None
    seconds: float = 0.0
    rank: int = 0
    world_size: int = 1

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [
            f"{len(self.settings)} setting(s) x {len(self.methods)} method(s): {self.n_items} item(s) "
            f"({self.computed} fused, {self.evaluated} re-evaluated, {self.reused} reused) in {self.seconds:.1f} s",
        ]
        if self.report_html is not None:
            out.append(f"report: {self.report_html}")
        if self.failed:
            out.append(f"{len(self.failed)} item(s) failed")
        return out


@dataclass(frozen=True)
class _Task:
    """Work for one worker process: one method, a shard of its items."""

    method: str
    device: str
    out: str
    profile: str
    metrics: tuple[str, ...]
    overwrite: bool
    threads: int
    items: tuple[tuple[BenchItem, Any], ...]  # (item, DegradationContext | None)


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` from the ``torchrun`` environment (``RANK``, ``WORLD_SIZE``)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise InputError("RANK and WORLD_SIZE must be integers (as set by torchrun)") from None
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"bad distributed environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world


def _maxrss_mb() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def _proc_status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


class _MemoryProbe:
    """Peak resident-set growth during ``fuse`` calls, relative to the process before the method was built (MB).

    :meth:`start` (just before the method is built) records the baseline RSS; :meth:`reset_peak`
    (just before each ``fuse`` call) resets the kernel's high-water mark ``VmHWM`` by writing
    ``5`` to ``/proc/self/clear_refs`` (Linux); :meth:`peak` (just after the call) returns
    ``VmHWM − baseline``: the method's weights and state, the input images and everything the
    call allocates, but not the metric computations that follow. Where the reset is not
    available the growth of ``getrusage(RUSAGE_SELF).ru_maxrss`` is used instead, which also
    contains the peaks of the metric computations of earlier items.
    """

    def __init__(self) -> None:
        self.baseline = 0.0
        self.hwm = False

    def _reset(self) -> bool:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
        except OSError:
            return False
        return _proc_status_mb("VmHWM") is not None

    def start(self) -> None:
        self.hwm = self._reset()
        rss = _proc_status_mb("VmRSS") if self.hwm else None
        self.baseline = rss if rss is not None else _maxrss_mb()

    def reset_peak(self) -> None:
        if self.hwm:
            self.hwm = self._reset()

    def peak(self) -> float:
        now = _proc_status_mb("VmHWM") if self.hwm else None
        return max(0.0, (now if now is not None else _maxrss_mb()) - self.baseline)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _write_record(path: Path, rec: dict[str, Any]) -> None:
    from mmfuse.io import write_text

    write_text(path, json.dumps(rec, sort_keys=True, default=str) + "\n", overwrite=True)


def _is_done(layout: OutputLayout, item: BenchItem, method: str, profile: str, metrics: Sequence[str]) -> bool:
    if not layout.fused(item.setting, method, item.name).is_file():
        return False
    rec = _read_record(layout.record(item.setting, method, item.name))
    return rec is not None and rec.get("profile") == profile and all(m in rec.get("metrics", {}) for m in metrics)


def _process_item(method: Any, task: _Task, item: BenchItem, context: Any, probe: _MemoryProbe | None) -> str:
    """Fuse (unless reusable) and evaluate one item; returns ``computed``/``evaluated``/``reused``."""
    from mmfuse.io import read_image, write_image
    from mmfuse.metrics import evaluate

    layout = OutputLayout(Path(task.out))
    png = layout.fused(item.setting, task.method, item.name)
    rpath = layout.record(item.setting, task.method, item.name)
    rec = None if task.overwrite else _read_record(rpath)
    ir = vi = None
    status = "reused"
    if task.overwrite or not png.is_file():
        ir = read_image(item.ir, mode="gray")
        vi = read_image(item.vi, mode="keep")
        if hasattr(method, "set_context"):
            method.set_context(context)
        if probe is not None:
            probe.reset_peak()
        t0 = time.perf_counter()
        fused, info = method.fuse(ir, vi, return_info=True)
        ms = (time.perf_counter() - t0) * 1000.0
        peak = probe.peak() if probe is not None else None
        write_image(png, fused, overwrite=True)
        rec = {
            "setting": item.setting, "method": task.method, "name": item.name, "ms": ms,
            "peak_mb": peak,
            "info": info, "profile": None, "metrics": {},
        }
        _write_record(rpath, rec)
        status = "computed"
    if rec is None:  # fused image present without a record (interrupted between the two writes)
        rec = {"setting": item.setting, "method": task.method, "name": item.name, "ms": None, "peak_mb": None,
               "info": {}, "profile": None, "metrics": {}}
    if rec.get("profile") != task.profile:
        rec["profile"], rec["metrics"] = task.profile, {}
    need = [m for m in task.metrics if m not in rec["metrics"]]
    if need:
        ir = read_image(item.ir, mode="gray") if ir is None else ir
        vi = read_image(item.vi, mode="keep") if vi is None else vi
        ir_ref = read_image(item.ir_clean, mode="gray") if item.ir_clean is not None else None
        vi_ref = read_image(item.vi_clean, mode="keep") if item.vi_clean is not None else None
        fused8 = read_image(png, mode="keep")
        values = evaluate(fused8, ir, vi, ir_ref, vi_ref, profile=task.profile, metrics=need)
        rec["metrics"].update({k: float(v) for k, v in values.items()})
        _write_record(rpath, rec)
        if status == "reused":
            status = "evaluated"
    return status


def _run_task(task: _Task, report: Callable[[tuple[Any, ...]], None], *, measure_memory: bool) -> None:
    """Build the method once and process the task's items, reporting each outcome."""
    from mmfuse.models import load

    probe = _MemoryProbe() if measure_memory else None
    if probe is not None:
        probe.start()
    try:
        method = load(task.method, device=task.device)
    except Exception as err:  # noqa: BLE001 - a method that cannot be built fails all its items
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        for item, _ in task.items:
            report(("failed", item.setting, task.method, item.name, f"cannot build method: {msg}"))
        return
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(task.threads)
    for item, context in task.items:
        try:
            status = _process_item(method, task, item, context, probe)
        except InputError as err:
            report(("failed", item.setting, task.method, item.name, str(err).splitlines()[0]))
            continue
        except Exception as err:  # noqa: BLE001 - keep the benchmark going; the failure is listed
            first = str(err).splitlines()[0] if str(err) else ""
            report(("failed", item.setting, task.method, item.name, f"{type(err).__name__}: {first}"))
            continue
        report((status, item.setting, task.method, item.name, ""))


_QUEUE: Any = None


def _init_worker(q: Any, threads: int) -> None:
    """Worker start-up: progress queue, thread counts, heavy imports before the memory baseline."""
    global _QUEUE
    _QUEUE = q
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import cv2

    cv2.setNumThreads(threads)
    try:
        import torch  # noqa: F401  (imported before the baseline so it is not charged to a method)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    import mmfuse.models  # noqa: F401
    import mmfuse.metrics  # noqa: F401


def _worker_main(task: _Task) -> None:
    _run_task(task, _QUEUE.put, measure_memory=True)


def _shard(seq: Sequence[Any], n: int) -> list[list[Any]]:
    return [list(seq[i::n]) for i in range(n) if seq[i::n]]


def read_records(layout: OutputLayout, plan: Sequence[tuple[BenchItem, str]]) -> list[dict[str, Any]]:
    """The stored records of the planned items that exist, in plan order."""
    out = []
    for item, method in plan:
        rec = _read_record(layout.record(item.setting, method, item.name))
        if rec is not None and layout.fused(item.setting, method, item.name).is_file():
            out.append(rec)
    return out


def _check_methods(methods: Sequence[str]) -> list[str]:
    from mmfuse.models.registry import get_spec

    names = [m.strip() for m in methods if m.strip()]
    if not names:
        raise InputError("no methods given (e.g. --methods gff,cascade:auto+gff)")
    seen: dict[str, str] = {}
    for name in names:
        spec = get_spec(name)
        if spec.kind == "learned" and not spec.has_bundled_weights:
            raise InputError(f"{name}: learned method without bundled weights cannot be benchmarked")
        safe = safe_method_name(name)
        if safe in seen and seen[safe] != name:
            raise InputError(f"methods {seen[safe]!r} and {name!r} map to the same folder name {safe!r}")
        if name in seen.values():
            raise InputError(f"method {name!r} is listed twice")
        seen[safe] = name
    return names


def _contexts(bench: Benchmark) -> dict[tuple[str, str], Any]:
    """Degradation context per (setting, name) for ``set_context``: the file's chains in
    ``manifest.json``, else the setting's chains there, else the setting name parsed as steps."""
    from mmfuse.restore.context import DegradationContext, context_from_manifest, context_from_setting_name

    man = bench.manifest or {}
    per_file: dict[tuple[str, str], DegradationContext] = {}
    for entry in man.get("items", []) or []:  # indexed once (context_from_manifest scans the list)
        if isinstance(entry, dict) and "setting" in entry and "name" in entry:
            ops = [tuple(str(r["op"]) for r in entry.get(k) or [] if isinstance(r, dict) and "op" in r) for k in ("vis", "ir")]
            per_file[(entry["setting"], entry["name"])] = DegradationContext(ops[0], ops[1], "manifest")
    out: dict[tuple[str, str], Any] = {}
    for setting, items in bench.items.items():
        by_name = context_from_setting_name(setting)
        for it in items:
            ctx = per_file.get((setting, it.name))
            if ctx is None and man:
                ctx = context_from_manifest(man, setting, it.name)
            out[(setting, it.name)] = ctx if ctx is not None else by_name
    return out


def run_benchmark(
    bench_dir: str | os.PathLike,
    methods: Sequence[str] | str,
    output_dir: str | os.PathLike,
    *,
    profile: str = "tang",
    metrics: Sequence[str] | str | None = None,
    settings: Sequence[str] | str | None = None,
    overwrite: bool = False,
    workers: int = 1,
    device: str = "cpu",
    progress: bool | None = None,
    examples: int = 1,
    paired: str | None = None,
) -> BenchResult:
    """Run ``methods`` on every pair of every setting of a benchmark and write the report.

    Args:
        bench_dir: benchmark folder written by ``mmfuse degrade`` (or a plain ``ir/`` + ``vi/``
            folder, read as one ``clean`` setting without references).
        methods: method names (list or comma-separated), e.g. ``"gff,cascade:auto+gff"``.
        output_dir: report folder (created); see :class:`mmfuse.bench.layout.OutputLayout`.
        profile: metric convention profile (:mod:`mmfuse.metrics.profiles`).
        metrics: metric names (list or comma-separated; ``None``: the profile's default set).
        settings: subset of settings (list or comma-separated; ``None``: all).
        overwrite: recompute every item, even those already done.
        workers: worker processes (``>= 1``); ``0`` runs everything in this process (no memory
            measurement; for debugging).
        device: device for learned methods.
        progress: progress bar on stderr (``None``: only on a terminal).
        examples: number of example pairs per setting shown in the report's image grid.
        paired: one of ``methods``: the report adds its paired comparison with every other
            method per setting and metric (``paired.csv``; :mod:`mmfuse.bench.stats`).

    Returns:
        :class:`BenchResult`. Failed items are listed in it (and in the report), not raised.

    Raises:
        InputError: bad folder, unknown method/setting/profile/metric, bad ``workers``, or an
            output path that is not a writable folder. Checked before any work.
    """
    from tqdm import tqdm

    from mmfuse.io import check_writable
    from mmfuse.metrics import resolve_metrics
    from mmfuse.models.registry import _check_device

    start = time.perf_counter()
    rank, world = dist_info()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be a non-negative integer, got {workers!r}")
    if not isinstance(examples, int) or examples < 0:
        raise InputError(f"examples must be a non-negative integer, got {examples!r}")
    method_names = _check_methods(methods.split(",") if isinstance(methods, str) else list(methods))
    if paired is not None and paired not in method_names:
        raise InputError(f"paired method {paired!r} is not among the methods ({', '.join(method_names)})")
    metric_names = resolve_metrics(metrics, profile)
    if metrics is not None and not (isinstance(metrics, str) and metrics.strip().lower() == "all"):
        tokens = [t.strip().lower() for t in (metrics.split(",") if isinstance(metrics, str) else metrics)]
        metric_names.sort(key=lambda m: tokens.index(m.lower()) if m.lower() in tokens else len(tokens))  # user order
    if isinstance(settings, str):
        settings = [s.strip() for s in settings.split(",") if s.strip()]
    _check_device(device)
    bench = discover_benchmark(bench_dir, list(settings) if settings else None)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    check_writable(out / ".mmfuse-probe", overwrite=True)
    layout = OutputLayout(out)

    plan: list[tuple[BenchItem, str]] = [
        (item, m) for s in bench.settings for m in method_names for item in bench.items[s]
    ]
    mine = plan[rank::world]
    result = BenchResult(out, list(bench.settings), method_names, metric_names, profile, n_items=len(mine),
                         problems=list(bench.problems), rank=rank, world_size=world)
    pending = [(it, m) for it, m in mine if overwrite or not _is_done(layout, it, m, profile, metric_names)]
    result.reused = len(mine) - len(pending)
    contexts = _contexts(bench)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))

    tasks: list[_Task] = []
    for m in method_names:
        its = [(it, contexts.get((it.setting, it.name))) for it, mm in pending if mm == m]
        for shard in _shard(its, max(1, workers)):
            tasks.append(_Task(m, device, str(out), profile, tuple(metric_names), overwrite, threads, tuple(shard)))

    bar = tqdm(total=len(mine), initial=result.reused, desc="bench", unit="item",
               disable=None if progress is None else not progress, file=sys.stderr)

    def on_event(ev: tuple[Any, ...]) -> None:
        status, setting, method, name, msg = ev
        if status == "failed":
            result.failed.append((setting, method, name, msg))
        elif status == "computed":
            result.computed += 1
        elif status == "evaluated":
            result.evaluated += 1
        else:
            result.reused += 1
        bar.set_postfix_str(f"{setting} / {method}", refresh=False)
        bar.update(1)

    try:
        if tasks and workers == 0:
            for task in tasks:
                _run_task(task, on_event, measure_memory=False)
        elif tasks:
            _run_pool(tasks, workers, threads, on_event)
    finally:
        bar.close()

    if world > 1:
        _barrier()
        if rank != 0:
            result.seconds = time.perf_counter() - start
            return result

    from mmfuse.bench.report import write_report

    records = read_records(layout, plan)
    # Every planned item without a complete record is a failure, also those of other ranks.
    complete = {(r["setting"], r["method"], r["name"]) for r in records
                if r.get("profile") == profile and all(m in r.get("metrics", {}) for m in metric_names)}
    known = {(s, m, n) for s, m, n, _ in result.failed}
    for it, m in plan:
        key = (it.setting, m, it.name)
        if key not in complete and key not in known:
            where = "on another rank (see its output)" if world > 1 else "without a message (worker crashed?)"
            result.failed.append((it.setting, m, it.name, f"no result: failed {where}"))
    records = [r for r in records if (r["setting"], r["method"], r["name"]) in complete]
    paths = write_report(layout, bench, method_names, metric_names, profile, records, result.failed,
                         examples=examples, paired=paired)
    result.results_csv, result.summary_csv, result.report_html = paths
    result.seconds = time.perf_counter() - start
    return result


_PRELOAD = ["torch", "cv2", "mmfuse.models", "mmfuse.metrics", "mmfuse.restore", "mmfuse.bench.runner"]


def _mp_context() -> Any:
    """``forkserver`` (fresh processes forked from a server that has imported torch, OpenCV and
    mmfuse once, so starting a worker is cheap) where available, else ``spawn``."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return mp.get_context("spawn")


def _run_pool(tasks: list[_Task], workers: int, threads: int, on_event: Callable[[tuple[Any, ...]], None]) -> None:
    """Run the tasks in fresh ``spawn`` processes, ``workers`` at a time, relaying progress events."""
    ctx = _mp_context()
    q = ctx.Queue()
    expected = sum(len(t.items) for t in tasks)
    received = 0

    def drain(block_s: float = 0.0) -> None:
        nonlocal received
        while True:
            try:
                ev = q.get(timeout=block_s) if block_s > 0 else q.get_nowait()
            except queue_mod.Empty:
                return
            received += 1
            on_event(ev)

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, max_tasks_per_child=1,
                               initializer=_init_worker, initargs=(q, threads))
    futures: set[Future[None]] = set()
    try:
        futures = {pool.submit(_worker_main, t) for t in tasks}
        while futures:
            done, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for f in done:
                f.result()  # re-raise a crashed worker (a bug, not an item failure)
        deadline = time.monotonic() + 30.0  # events still in flight from exiting workers
        while received < expected and time.monotonic() < deadline:
            drain(0.2)
    except BaseException:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _barrier() -> None:
    """Synchronise torchrun ranks (``gloo`` process group from the torchrun environment)."""
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        dist.init_process_group("gloo")
        created = True
    dist.barrier()
    if created:
        dist.destroy_process_group()


