"""Loading a cached 10,000-host plan: the JSON codec (restore.planning.datacodec) against pickle.

The plan cache used to be a pickle, which runs code when loaded (issue 14); it is now JSON
read back into the plan's own dataclasses only. This prints one line: the size and load time
of each encoding of the same plan, and the ratio (JSON / pickle), median of --repeat loads.

Usage: python bench/plan_cache_codec.py [--hosts 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import write_synthetic

from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.planning.datacodec import decode, encode
from restore.planning.model import RestorePlan
from restore.planning.plan import build_plan


def _median_s(load: object, data: bytes, repeat: int) -> float:
    # With cycle collection paused, as `restore plan` loads its cache (hundreds of thousands
    # of objects that all stay alive: collecting them is pure waste).
    times = []
    for _ in range(repeat):
        gc.disable()
        start = time.perf_counter()
        load(data)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
        gc.enable()
        gc.collect()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph, inventory, _ = write_synthetic(Path(tmp), args.hosts)
        plan = build_plan(load_graph(graph), load_inventory(inventory), max_parallel=[1])
    as_json = encode(plan)
    as_pickle = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
    assert decode(as_json, RestorePlan) == plan
    json_s = _median_s(lambda data: decode(data, RestorePlan), as_json, args.repeat)
    pickle_s = _median_s(pickle.loads, as_pickle, args.repeat)
    print(
        f"hosts={args.hosts} json load={json_s:.3f}s ({len(as_json) / 1e6:.1f} MB) "
        f"pickle load={pickle_s:.3f}s ({len(as_pickle) / 1e6:.1f} MB) "
        f"ratio={json_s / pickle_s:.1f}x"
    )


if __name__ == "__main__":
    main()
