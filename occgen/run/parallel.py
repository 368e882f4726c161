"""Run one task per shard, in this process or on dask.distributed (a LocalCluster or a scheduler).

Used by generation, recoding and export: every task owns whole shards (one writer per zarr shard).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Shared = TypeVar("Shared")
Item = TypeVar("Item")


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
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            )
    client = Client(cluster if cluster is not None else scheduler)
    try:
        client.run(_single_threaded_opencv)
        shared_future = client.scatter(shared, broadcast=True)
        futures = [client.submit(function, shared_future, item, pure=False) for item in items]
        for future in as_completed(futures):
            result = future.result()  # re-raises a task's error (e.g. a corrupt file) here
            if on_result:
                on_result(result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
