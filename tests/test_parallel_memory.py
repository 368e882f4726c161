"""occgen's own dask workers keep no growing per-second state (occgen/run/parallel.py, issue 29): the worker's
statistical profiler, which keeps a call tree per second for 1000 s, is off."""

from __future__ import annotations

from typing import Any

from occgen.run.parallel import run_tasks


def worker_state(shared: int, item: int) -> dict[str, Any]:
    from distributed import get_worker

    worker = get_worker()
    return {"item": item * shared, "callbacks": sorted(worker.periodic_callbacks),
            "profiles": len(worker.profile_history)}  # fmt: skip


def test_local_cluster_workers_run_without_the_profiler() -> None:
    seen: list[dict[str, Any]] = []
    run_tasks(worker_state, range(12), shared=3, workers=2, on_result=seen.append)
    assert sorted(result["item"] for result in seen) == [3 * i for i in range(12)]
    for result in seen:
        assert "profile" not in result["callbacks"] and "profile-cycle" not in result["callbacks"]
        assert result["profiles"] == 0
        assert "heartbeat" in result["callbacks"]  # the worker's callbacks were read at all
