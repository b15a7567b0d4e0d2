"""How shard builders run: the resume rule and the engines (a process pool, or Ray).

`prepare`, `prepare-faces` and `wav2pix prepare` cut their sorted items into fixed groups,
one shard per group written atomically; a group whose shard is finished is not built again
(:func:`unfinished_groups`). The groups to build run on :func:`run_tasks`: in this process,
a process pool of ``workers``, or one Ray task each on a cluster (``address``; the
``[cluster]`` extra), where Ray retries the task of a worker or node that dies. On a
cluster every node must see the inputs and the output folder at the same paths (a shared
file system) and have the same environment. No TensorFlow is imported here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from speech2face.errors import UserError

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
RAY_RETRIES = 5  # attempts Ray makes again for a task whose worker or node died


def unfinished_groups(
    items: list, size: int, path_of: Callable[[int], Path], finished: Callable[[Path, list], bool]
) -> tuple[list[Path], list[tuple[str, list]]]:
    """The resume rule of every shard builder (`prepare`, `prepare-faces`, `wav2pix
    prepare`): sorted ``items`` cut into groups of ``size``, group ``i`` written to
    ``path_of(i)``; the groups whose shard is not ``finished(path, group)`` are to do.

    Returns:
        (every group's path, [(path as str, group)] of the groups to build); a resume of
        ``items - sum(len(group) to do)`` items is logged.
    """
    size = max(1, size)
    groups = [items[i : i + size] for i in range(0, len(items), size)]
    paths = [path_of(i) for i in range(len(groups))]
    todo = [(str(p), g) for p, g in zip(paths, groups, strict=True) if not finished(p, g)]
    done = len(items) - sum(len(g) for _, g in todo)
    if done:
        log.info("resuming: %d of %d items already in finished shards", done, len(items))
    return paths, todo


def run_tasks(fn: Callable[..., dict], tasks: list[tuple], config) -> Iterator[dict]:
    """Run ``fn(*args)`` for each args of ``tasks`` on the engine of ``config`` and yield
    the results as they finish: in this process (local, workers <= 1), a process pool of
    ``config.workers`` (local) or one Ray task each (ray; 1 CPU, retried up to
    :data:`RAY_RETRIES` times when a worker or node dies).

    Args:
        config: anything with ``engine``, ``workers`` and ``address`` (PrepareConfig,
            :class:`speech2face.speech2face.data.face_cache.FaceSourceConfig`).
    """
    if config.engine == "ray":
        yield from _run_ray(fn, tasks, config)
    elif config.workers <= 1:
        yield from (fn(*args) for args in tasks)
    else:
        with ProcessPoolExecutor(max_workers=config.workers) as pool:
            futures = [pool.submit(fn, *args) for args in tasks]
            for future in as_completed(futures):
                yield future.result()


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError(
            "--engine ray needs Ray: pip install 'speech2face[cluster]' (or pip install ray)"
        ) from None
    return ray


def connect_ray(config) -> Callable[[], None]:
    """Connect to the Ray cluster of ``config.address`` (or $RAY_ADDRESS), or start a local
    one with ``config.workers`` CPUs; returns the function that disconnects (a no-op when
    Ray was already initialised by the caller).

    Raises:
        UserError: Ray is not installed, or no cluster answers at the address.
    """
    ray = _ray()
    if ray.is_initialized():
        return lambda: None
    address = config.address or os.environ.get("RAY_ADDRESS")
    options = {} if address else {"num_cpus": max(1, config.workers)}
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            **options,
        )
    except ConnectionError as exc:
        raise UserError(f"no Ray cluster at {address}: {exc}") from None
    return ray.shutdown


def _run_ray(fn, tasks: list[tuple], config) -> Iterator[dict]:
    """One Ray task per args (1 CPU each); yield results as tasks finish."""
    if not tasks:
        return
    ray = _ray()
    disconnect = connect_ray(config)
    try:
        task = ray.remote(num_cpus=1, max_retries=RAY_RETRIES)(fn)
        pending = [task.remote(*args) for args in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        disconnect()
