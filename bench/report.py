#!/usr/bin/env python3
"""Issue 8: turn bench/out/runs.jsonl into results.json, scaling.png and tables.

Prints a plain table with ratios, then the same as Markdown (for BENCHMARKS.md).
Runs without matplotlib too (no plot then).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["ram_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
        info["loadavg_at_report"] = open("/proc/loadavg").read().split()[:3]
        info["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return info


def mib(kib: float) -> float:
    return kib / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    args = ap.parse_args()

    runs = {}
    with open(args.runs) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                runs[r["label"]] = r

    ratios = {}
    nat, sb = runs.get("native"), runs.get("sandboxed")
    if nat and sb:
        ratios["sandboxed_over_native_time"] = sb["wall_s"] / nat["wall_s"]
        ratios["sandboxed_over_native_cpu"] = sb["cpu_s"] / nat["cpu_s"] if nat.get("cpu_s") else None
        parse = runs.get("parse")
        if parse:
            # engine-only: subtract the CSV read+parse cost both include
            dn, ds = nat["wall_s"] - parse["wall_s"], sb["wall_s"] - parse["wall_s"]
            if dn > 0:
                ratios["sandboxed_over_native_time_excl_parse"] = ds / dn
    naut = runs.get("nautilus")
    if naut:
        same = runs.get("sandboxed_subset") or (sb if sb and sb["events"] == naut["events"] else None)
        same_nat = runs.get("native_subset") or (nat if nat and nat["events"] == naut["events"] else None)
        if same:
            ratios["bulkhead_sandboxed_over_nautilus_events_per_s"] = same["events_per_s"] / naut["events_per_s"]
            if naut.get("events_per_s_engine_only"):
                ratios["bulkhead_sandboxed_over_nautilus_engine_only_events_per_s"] = (
                    same["events_per_s"] / naut["events_per_s_engine_only"]
                )
            if same.get("cpu_s") and naut.get("cpu_s"):
                ratios["bulkhead_sandboxed_over_nautilus_events_per_cpu_s"] = naut["cpu_s"] / same["cpu_s"]
            ratios["agreement"] = {
                "events": naut["events"],
                "bulkhead_sandboxed": {k: same[k] for k in ("orders", "fills", "position_lots")},
                "bulkhead_native": {k: same_nat[k] for k in ("orders", "fills", "position_lots")} if same_nat else None,
                "nautilus": {k: naut[k] for k in ("orders", "fills", "position_lots")},
            }
    verdict = agreement_verdict(runs)
    ratios["agreement_verdict"] = verdict
    scaling = sorted((r for k, r in runs.items() if k.startswith("scaling_")), key=lambda r: r["strategies"])

    targets = issue15_targets(runs, ratios, scaling)
    results = {"command": args.command, "machine": machine(), "runs": runs, "ratios": ratios, "targets": targets}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)

    # ---- targets first (issue 15): ratio / figure, goal, met ------------------
    print_targets(targets)

    # ---- tables -------------------------------------------------------------
    main_rows = [
        k
        for k in ("parse", "native", "sandboxed", "parse_csv", "sandboxed_csv", "sandboxed_group", "sandboxed_durable",
                  "native_subset", "sandboxed_subset", "nautilus")
        if k in runs
    ]
    hdr = ("run", "events", "wall s", "cpu s", "events/s", "peak RSS MiB", "orders", "fills", "position")
    rows = []
    for k in main_rows:
        r = runs[k]
        eps = f"{r['events_per_s']:,.0f}"
        if k == "nautilus" and r.get("events_per_s_engine_only"):
            eps += f" ({r['events_per_s_engine_only']:,.0f} excl. load)"
        rows.append(
            (
                k,
                f"{r['events']:,}",
                f"{r['wall_s']:.2f}",
                f"{r.get('cpu_s', 0):.2f}",
                eps,
                f"{mib(r['peak_rss_kib']):.0f}",
                str(r.get("orders", "")),
                str(r.get("fills", "")),
                str(r.get("position_lots", "")),
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(hdr)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(hdr, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    for k, v in ratios.items():
        if k not in ("agreement", "agreement_verdict"):
            print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    if "agreement" in ratios:
        print("agreement:", json.dumps(ratios["agreement"]))
    for line in verdict["problems"]:
        print("DISAGREE:", line)
    print("agreement verdict:", "OK" if verdict["ok"] else "FAILED", f"({verdict['checked']} checks)")

    if scaling:
        print()
        print("strategies  events     wall s   events/s    strategy-events/s  peak RSS MiB  orders    fills")
        for r in scaling:
            print(
                f"{r['strategies']:<11} {r['events']:<10,} {r['wall_s']:<8.2f} {r['events_per_s']:<11,.0f} "
                f"{r['strategy_events_per_s']:<18,.0f} {mib(r['peak_rss_kib']):<13.0f} {r['orders']:<9} {r['fills']}"
            )

    # ---- markdown -------------------------------------------------------------
    print("\n--- markdown ---")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if scaling:
        print()
        print("| strategies | events | wall s | cpu s | events/s | strategy-events/s | peak RSS MiB | setup s | orders | fills | quarantined |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in scaling:
            print(
                f"| {r['strategies']} | {r['events']:,} | {r['wall_s']:.2f} | {r.get('cpu_s', 0):.2f} | "
                f"{r['events_per_s']:,.0f} | {r['strategy_events_per_s']:,.0f} | {mib(r['peak_rss_kib']):.0f} | "
                f"{r['setup_s']:.2f} | {r['orders']:,} | {r['fills']:,} | {r['quarantined']} |"
            )

    # ---- plot -----------------------------------------------------------------
    if scaling:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib not available: no plot)")
            return 0 if verdict["ok"] else 3
        n = [r["strategies"] for r in scaling]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.plot(n, [r["events_per_s"] for r in scaling], "o-", label="market events/s")
        ax.plot(n, [r["strategy_events_per_s"] for r in scaling], "s--", label="strategy-events/s (events × N)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sandboxed strategies (bh-bench-ema, one wasm instance each)")
        ax.set_ylabel("throughput (per second of wall time)")
        ax.grid(True, which="both", alpha=0.3)
        ax2 = ax.twinx()
        ax2.plot(n, [mib(r["peak_rss_kib"]) for r in scaling], "^:", color="tab:red", label="peak RSS (MiB)")
        ax2.set_ylabel("peak RSS (MiB)", color="tab:red")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left", fontsize=8)
        m = results["machine"]
        ax.set_title(
            f"Bulkhead scaling, {scaling[0]['events']:,} events, {m.get('nproc')} cores ({m.get('cpu', '?')})",
            fontsize=9,
        )
        mem = scaling[0].get("memory_mib")
        fig.text(0.01, 0.005, f"command: {args.command}" + (f"  (memory limit {mem} MiB each)" if mem else ""),
                 fontsize=6, color="gray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(args.out, "scaling.png"), dpi=110)
        print(f"\nwrote {os.path.join(args.out, 'scaling.png')}")
    return 0 if verdict["ok"] else 3


def issue15_targets(runs: dict, ratios: dict, scaling: list) -> list:
    """Issue 15's targets, each (what, measured, goal, met or None when not measured)."""
    t = []

    def add(what, value, goal, ok, fmt="{:.3f}"):
        t.append({"target": what, "measured": None if value is None else fmt.format(value), "goal": goal,
                  "met": None if value is None else bool(ok)})

    sb, nat = runs.get("sandboxed"), runs.get("native")
    add("single strategy, journal on, fsync never: sandboxed events/s", sb and sb["events_per_s"], ">= 2,000,000",
        sb and sb["events_per_s"] >= 2e6, "{:,.0f}")
    r = ratios.get("sandboxed_over_native_time")
    add("sandboxed / native (wall time)", r, "<= 1.15", r is not None and r <= 1.15)
    by_n = {x["strategies"]: x for x in scaling}
    r = by_n[1000]["strategy_events_per_s"] / by_n[100]["strategy_events_per_s"] if 100 in by_n and 1000 in by_n else None
    add("1 000 strategies / 100 strategies (strategy-events/s)", r, ">= 0.90", r is not None and r >= 0.90)
    g = runs.get("sandboxed_group")
    r = g["events_per_s"] / sb["events_per_s"] if g and sb else None
    add("group commit (every:64:2ms) / fsync never (events/s)", r, ">= 0.50", r is not None and r >= 0.5)
    d = runs.get("sandboxed_durable")
    if d and d.get("released_waits"):
        add("durable gate: release wait p50 / p99 (µs)", d["release_wait_p50_ns"] / 1e3, "report",
            True, "{:.0f} / " + f"{d['release_wait_p99_ns'] / 1e3:.0f}")
    x = runs.get("crossing")
    v = x and x.get("1_instances_ns")
    add("empty crossing, 1 instance (ns, median)", v, "<= 50", v is not None and v <= 50, "{:.1f}")
    v = x and x.get("1000_instances_1mib_slots_ns")
    add("empty crossing, 1 000 instances, 1 MiB slots (ns)", v, "report", True, "{:.1f}")
    v = sb and sb.get("verify_s") and sb["journal_bytes"] / sb["verify_s"] / 1e9
    add("journal verify (GB/s)", v or None, ">= 1.0", v is not None and v >= 1.0, "{:.2f}")
    r = ratios.get("bulkhead_sandboxed_over_nautilus_events_per_cpu_s")
    add("Bulkhead sandboxed / NautilusTrader 1.221.0, events per CPU second", r, ">= 150",
        r is not None and r >= 150, "{:.0f}x")
    return t


def print_targets(targets: list) -> None:
    print()
    print("| target | measured | goal | met |")
    print("|---|---|---|---|")
    for x in targets:
        met = {True: "yes", False: "**no**", None: "not measured"}[x["met"]]
        print(f"| {x['target']} | {x['measured'] or '-'} | {x['goal']} | {met} |")


# Nautilus runs the same strategy logic under its own fill model (see
# BENCHMARKS.md, "Agreement"): its order and fill counts may differ by this
# fraction, and its final position by this many lots. Native and sandboxed
# Bulkhead run the same code on the same engine and must agree exactly.
NAUTILUS_COUNT_TOLERANCE = 0.001
NAUTILUS_POSITION_TOLERANCE_LOTS = 1


def agreement_verdict(runs: dict) -> dict:
    """Do the engines agree closely enough to show they did the same work?"""
    problems, checked = [], 0
    keys = ("orders", "fills", "position_lots")
    pairs = [("native", "sandboxed"), ("native_subset", "sandboxed_subset")]
    for a, b in pairs:
        if a in runs and b in runs:
            for k in keys:
                checked += 1
                if runs[a].get(k) != runs[b].get(k):
                    problems.append(f"{a} {k}={runs[a].get(k)} but {b} {k}={runs[b].get(k)} (must be equal)")
    naut = runs.get("nautilus")
    if naut:
        ref = next(
            (runs[k] for k in ("sandboxed_subset", "sandboxed") if k in runs and runs[k]["events"] == naut["events"]),
            None,
        )
        if ref is None:
            problems.append("no Bulkhead run over the same events as NautilusTrader")
        else:
            for k in ("orders", "fills"):
                checked += 1
                x, y = ref[k], naut[k]
                if abs(x - y) > NAUTILUS_COUNT_TOLERANCE * max(x, y, 1):
                    problems.append(f"{k}: Bulkhead {x}, Nautilus {y}: more than {NAUTILUS_COUNT_TOLERANCE:.1%} apart")
            checked += 1
            if abs(ref["position_lots"] - naut["position_lots"]) > NAUTILUS_POSITION_TOLERANCE_LOTS:
                problems.append(
                    f"final position: Bulkhead {ref['position_lots']} lots, Nautilus {naut['position_lots']} lots"
                )
    return {"ok": not problems, "checked": checked, "problems": problems}


if __name__ == "__main__":
    raise SystemExit(main())
