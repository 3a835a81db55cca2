"""Schedule quality: the scheduler's simulated figures against their lower bounds.

50 random hospital-like graphs (tiers: infrastructure, identity, data, middleware, clinical,
administrative, endpoint pools; 20-200 hosts; host estimates log-uniform between 5 min and
4 h), at K = 1, 2, 4, 8. For each: makespan / lower bound and priority-1 restored /
priority-1 lower bound, for `restore.planning.scheduling.simulate` and for the SRM-style baseline (five
priority groups in sequence). Targets (issue 8), on K = 2, 4, 8: median <= 1.01, p90 <= 1.10,
worst <= 1.25 for both figures; never worse than the baseline; under 2 s per plan at 200 hosts.

Run: .venv/bin/python bench/schedule_quality.py
"""

from __future__ import annotations

import math
import random
import statistics
import time

from restore.planning.plan import effective_priority_values
from restore.planning.scheduling import (
    SchedJob,
    SchedService,
    simulate,
    srm_baseline,
)

# tier, services (min, max), priority (min, max), hosts (min, max), max_parallel choices, needs
TIERS = [
    ("infra", (2, 5), (3, 5), (1, 3), (1, 2), ()),
    ("identity", (1, 3), (2, 5), (1, 3), (1, 2), ("infra",)),
    ("data", (2, 6), (2, 5), (1, 4), (1, 2), ("infra", "identity")),
    ("middleware", (1, 4), (2, 5), (1, 3), (1,), ("identity", "data")),
    ("clinical", (3, 10), (1, 3), (1, 6), (1, 2, 3), ("identity", "data", "middleware")),
    ("admin", (2, 8), (3, 5), (1, 5), (1, 2), ("identity", "data", "middleware")),
    ("endpoints", (1, 4), (2, 5), (5, 30), (2, 3, 4), ("identity", "clinical")),
]
KS = (1, 2, 4, 8)


def _estimate(rng: random.Random) -> float:
    return float(round(math.exp(rng.uniform(math.log(300), math.log(14400)))))


def hospital(seed: int) -> tuple[list[SchedService], list[SchedJob]]:
    """One random hospital-like graph with 20-200 hosts."""
    rng = random.Random(seed)
    target = rng.randint(20, 200)
    scale = max(0.5, (target / 60) ** 0.7)
    raw: list[tuple[str, int, tuple[str, ...], int, list[float]]] = []
    by_tier: dict[str, list[str]] = {}
    for tier, (lo, hi), (plo, phi), (hlo, hhi), parallel, needs in TIERS:
        for i in range(max(1, round(rng.randint(lo, hi) * scale))):
            sid = f"{tier}{i}"
            pool = [s for t in needs for s in by_tier.get(t, [])]
            n_deps = min(len(pool), rng.randint(0 if tier == "infra" else 1, 3))
            deps = tuple(sorted(rng.sample(pool, k=n_deps)))
            durations = [_estimate(rng) for _ in range(rng.randint(hlo, hhi))]
            raw.append((sid, rng.randint(plo, phi), deps, rng.choice(parallel), durations))
            by_tier.setdefault(tier, []).append(sid)
    total = sum(len(r[4]) for r in raw)
    while total > target:  # trim the biggest pools, then grow random services, to the target
        biggest = max(raw, key=lambda r: len(r[4]))
        if len(biggest[4]) <= 1:
            break
        biggest[4].pop()
        total -= 1
    while total < target:
        rng.choice(raw)[4].append(_estimate(rng))
        total += 1
    effective = effective_priority_values({r[0]: r[1] for r in raw}, {r[0]: r[2] for r in raw})
    services, jobs = [], []
    for sid, priority, deps, parallel, durations in raw:
        hosts = tuple(f"{sid}-{n:02d}" for n in range(len(durations)))
        services.append(SchedService(sid, priority, effective[sid], deps, parallel, hosts))
        jobs += [SchedJob(h, sid, d) for h, d in zip(hosts, durations, strict=True)]
    return services, jobs


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _summary(values: list[float]) -> str:
    return (
        f"med {statistics.median(values):.3f} p90 {_pct(values, 0.9):.3f} worst {max(values):.3f}"
    )


def main() -> None:
    figures: dict[int, dict[str, list[float]]] = {k: {} for k in KS}
    worse, slowest, slowest_hosts = 0, 0.0, 0
    for seed in range(50):
        services, jobs = hospital(seed)
        for k in KS:
            began = time.perf_counter()
            sim = simulate(services, jobs, k)
            took = time.perf_counter() - began
            if took > slowest:
                slowest, slowest_hosts = took, len(jobs)
            srm_makespan, srm_urgent = srm_baseline(services, jobs, k)
            p1lb = sim.priority1_lower_bound_s or 1.0
            row = {
                "makespan": sim.makespan_s / sim.lower_bound_s,
                "priority1": (sim.priority1_restored_s or 1.0) / p1lb,
                "srm makespan": srm_makespan / sim.lower_bound_s,
                "srm priority1": (srm_urgent or 1.0) / p1lb,
            }
            for name, value in row.items():
                figures[k].setdefault(name, []).append(value)
            eps = 1e-6
            if sim.makespan_s > srm_makespan + eps or sim.priority1_restored_s > srm_urgent + eps:
                worse += 1
    for k in KS:
        print(f"K={k}: " + "; ".join(f"{n} {_summary(v)}" for n, v in figures[k].items()))
    pooled = {n: [v for k in KS[1:] for v in figures[k][n]] for n in figures[KS[0]]}
    print(
        "K=2,4,8 (targets med<=1.01 p90<=1.10 worst<=1.25): "
        + "; ".join(f"{n} {_summary(v)}" for n, v in pooled.items())
        + f"; worse than SRM baseline: {worse}/{50 * len(KS)}"
        + f"; slowest plan {slowest:.2f} s ({slowest_hosts} hosts)"
    )


if __name__ == "__main__":
    main()
