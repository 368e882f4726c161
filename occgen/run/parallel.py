"""Run one task per shard, in this process or on dask.distributed (a LocalCluster or a scheduler).

Used by generation, recoding and export: every task owns whole shards (one writer per zarr shard).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Shared = TypeVar("Shared")
Item = TypeVar("Item")


#: Dask settings for the workers of occgen's own LocalCluster. The worker's statistical profiler samples the
#: task thread's stack every 10 ms and keeps one call tree per second for the last 1000 s
#: (``distributed.admin.low-level-log-length``), twice (all tasks and per task name): measured at 512², the
#: summed RSS of a 2-worker NatOcc run grew 10 MB per minute with it and ~0 without it (docs/benchmarks.md), and
#: its 100 Hz sampling takes the GIL from the task. On a cluster of your own, set
#: ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`` where the workers start (docs/cloud.md).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def _single_threaded_opencv() -> None:
    import cv2

    # The worker processes already use every core; OpenCV's own thread pool on top would oversubscribe.
    cv2.setNumThreads(1)


def run_tasks(
    function: Callable[[Shared, Item], Any],
    items: Iterable[Item],
    *,
    shared: Shared,
    workers: int = 1,
    scheduler: str | None = None,
    on_result: Callable[[Any], None] | None = None,
) -> None:
    """Call ``function(shared, item)`` for every item; ``on_result`` sees each result as it arrives.

    ``workers == 1`` without a scheduler runs in this process, in order. Otherwise ``shared`` is sent
    once to every worker and the items run in parallel; the first failing task's error is re-raised
    here (the others are cancelled when the cluster closes).
    """
    items = list(items)
    if workers == 1 and scheduler is None:
        for item in items:
            result = function(shared, item)
            if on_result:
                on_result(result)
        return
    if not items:
        return
    import dask
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # distributed sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which turns off glibc's adaptive
        # mmap threshold: every per-sample image buffer is then mmap'd and faulted in afresh (measured at
        # 512²: 2.7x the system time, 63 -> 97 samples/s with 2 workers). Keep large buffers on the heap.
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"),
                   "MALLOC_TRIM_THRESHOLD_": 1 << 28, "MALLOC_MMAP_THRESHOLD_": 1 << 26}  # fmt: skip
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ, **WORKER_CONFIG}):
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            )
    client = Client(cluster if cluster is not None else scheduler)
    try:
        client.run(_single_threaded_opencv)
        shared_future = client.scatter(shared, broadcast=True)
        # No list of the futures is kept: each is dropped once its result is read, so the workers and the
        # scheduler release a finished task's result and state during the run, not at its end.
        for future in as_completed([client.submit(function, shared_future, item, pure=False) for item in items]):
            result = future.result()  # re-raises a task's error (e.g. a corrupt file) here
            if on_result:
                on_result(result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
