#!/usr/bin/env python3
"""Measure what surveillance thresholds must separate (issue 16, item 6).

Reads a run's journal through `bulkhead journal show --json` (kinds market,
order, cancel, venue) and prints, per strategy, over sliding windows of event
time: messages (ORDER + CANCEL records: every submit and cancel request the
strategy made, refused ones included), submits, fills (all, and on one side:
RTS 6 Art. 15's repeated executions), order-to-trade ratio, large resting orders (qty >= --large lots, post-only or GTC) cancelled
by the strategy within X ms of acceptance, spoof episodes (such a large order
cancelled unfilled while the same strategy got a fill on the other side
during its life), internal fills (both sides are strategies of the run),
ignition sequences, order lifetime before the strategy's own cancel, and
max |position change| per window. Also the market's event spacing.

Usage:
  python3 examples/surveillance/measure.py [--bulkhead PATH] [--large 20] [--md] JOURNAL_DIR...

Deterministic: the same journal gives the same figures. Integers only from the
journal (lots, ns); ratios and percentiles are computed here for reading.
"""

import argparse
import bisect
import collections
import json
import os
import subprocess
import sys

NS_MS = 1_000_000
NS_S = 1_000_000_000
WINDOWS = [(100 * NS_MS, "100ms"), (NS_S, "1s"), (10 * NS_S, "10s")]
LARGE_CANCEL_MS = [10, 100, 1000]
CANCEL_BY_STRATEGY = 9101
CANCEL_BY_STP = 702


def records(bulkhead, journal):
    cmd = [bulkhead, "journal", "show", journal, "--json"]
    for k in ("market", "order", "cancel", "venue"):
        cmd += ["--kind", k]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1 << 20) as p:
        for line in p.stdout:
            yield json.loads(line)
        if p.wait() != 0:
            sys.exit(f"{' '.join(cmd)}: exit {p.returncode}")


def max_in_window(ts, w):
    """Most timestamps (sorted) inside any window [t, t + w)."""
    best, i = 0, 0
    for j, t in enumerate(ts):
        while ts[i] <= t - w:
            i += 1
        best = max(best, j - i + 1)
    return best


def max_abs_change(points, w):
    """points: (ts, position after the fill), sorted; 0 before the first.
    Largest |sum of the signed fills inside any window of length w|."""
    vals = [0] + [p for _, p in points]
    tss = [None] + [t for t, _ in points]
    lo, hi = collections.deque(), collections.deque()  # candidate k: min / max of vals[k]
    best, first = 0, 1
    for j in range(1, len(vals)):
        k = j - 1
        while lo and vals[lo[-1]] >= vals[k]:
            lo.pop()
        lo.append(k)
        while hi and vals[hi[-1]] <= vals[k]:
            hi.pop()
        hi.append(k)
        while tss[j] - tss[first] >= w:
            first += 1
        while lo[0] < first - 1:
            lo.popleft()
        while hi[0] < first - 1:
            hi.popleft()
        best = max(best, abs(vals[j] - vals[lo[0]]), abs(vals[j] - vals[hi[0]]))
    return best


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


class Strat:
    def __init__(self):
        self.msg_ts = []
        self.submit_ts = []
        self.cancel_req = 0
        self.rejected = 0
        self.fill_ts = []
        self.fill_qty = 0
        self.maker_fills = 0
        self.taker_fills = 0
        self.pos = 0
        self.pos_points = []
        self.orders = {}  # id -> dict(side, qty, tif, accepted ts, filled qty, cancel ts, cause)
        self.fills = []  # (ts, side, qty, maker)
        self.internal = collections.Counter()
        self.internal_ts = []


def analyse(bulkhead, journal, large):
    st = collections.defaultdict(Strat)
    market_ts = []
    last_fill = None  # the previous fill record (to pair taker and maker)
    for r in records(bulkhead, journal):
        kind = r["record"]
        ts = r["ts_ns"]
        if kind == "market":
            market_ts.append(ts)
            continue
        s = st[r["strategy"]]
        if kind == "order":
            s.msg_ts.append(ts)
            s.submit_ts.append(ts)
            if r["reason"] != 0:
                s.rejected += 1
            else:
                o = r["order"]
                s.orders[r["id"]] = {"side": o["side"], "qty": o["qty"], "tif": o["tif"], "acc": None,
                                     "filled": 0, "cxl": None, "cause": None, "opp_fill": False}
        elif kind == "cancel":
            s.msg_ts.append(ts)
            s.cancel_req += 1
        elif kind == "venue":
            ev = r["event"]
            o = s.orders.get(r["id"])
            if ev == "order_accepted" and o is not None:
                o["acc"] = ts
            elif ev == "order_cancelled" and o is not None:
                o["cxl"], o["cause"] = ts, r["a"]
            elif ev == "fill":
                q = r["qty"]
                s.fill_ts.append(ts)
                s.fill_qty += q
                s.fills.append((ts, r["side"], q, r["maker"]))
                s.maker_fills += r["maker"]
                s.taker_fills += not r["maker"]
                s.pos += q if r["side"] == "buy" else -q
                s.pos_points.append((ts, s.pos))
                if o is not None:
                    o["filled"] += q
                # the venue emits the aggressor's fill, then the maker's
                if (r["maker"] and last_fill is not None and not last_fill["maker"]
                        and last_fill["ts_ns"] == ts and last_fill["price"] == r["price"]
                        and last_fill["qty"] == q and last_fill["side"] != r["side"]
                        and last_fill["seq"] < r["seq"]):
                    s.internal[last_fill["strategy"]] += 1
                    s.internal_ts.append(ts)
                    st[last_fill["strategy"]].internal[r["strategy"]] += 1
                    st[last_fill["strategy"]].internal_ts.append(ts)
                last_fill = r
    return st, market_ts


def strategy_rows(name, s, large):
    row = {"strategy": name}
    row["submits"] = len(s.submit_ts)
    row["cancels"] = s.cancel_req
    row["fills"] = len(s.fill_ts)
    row["maker/taker"] = f"{s.maker_fills}/{s.taker_fills}"
    row["OTR"] = f"{len(s.submit_ts) / max(1, len(s.fill_ts)):.1f}"
    row["msgs/fill"] = f"{len(s.msg_ts) / max(1, len(s.fill_ts)):.1f}"
    side_ts = {side: [f[0] for f in s.fills if f[1] == side] for side in ("buy", "sell")}
    for w, label in WINDOWS:
        row[f"max msgs/{label}"] = max_in_window(s.msg_ts, w)
        row[f"max fills/{label}"] = max_in_window(s.fill_ts, w)
        row[f"max 1-side fills/{label}"] = max(max_in_window(t, w) for t in side_ts.values())
        row[f"max abs dpos/{label}"] = max_abs_change(s.pos_points, w)
    # windowed OTR: the worst 10 s window by submits / max(1, fills) over windows starting at each submit
    row["max OTR/10s"] = windowed_otr(s.submit_ts, s.fill_ts, 10 * NS_S)
    # large resting orders
    lg = [o for o in s.orders.values() if o["qty"] >= large and o["tif"] in ("post_only", "gtc") and o["acc"]]
    own = [o for o in lg if o["cause"] == CANCEL_BY_STRATEGY]
    row["large placed"] = len(lg)
    row["large filled (any)"] = sum(1 for o in lg if o["filled"] > 0)
    for x in LARGE_CANCEL_MS:
        fast = sorted(o["cxl"] for o in own if o["cxl"] - o["acc"] <= x * NS_MS and o["filled"] == 0)
        row[f"large cxl<={x}ms unfilled"] = len(fast)
        if x == 100:
            for w, label in WINDOWS:
                row[f"max large cxl<=100ms/{label}"] = max_in_window(fast, w)
    row["spoof episodes"] = spoof_episodes(s, own)
    row["internal fills"] = sum(s.internal.values())
    row["max internal/10s"] = max_in_window(s.internal_ts, 10 * NS_S)
    row["internal with"] = ",".join(f"{k}:{v}" for k, v in sorted(s.internal.items())) or "-"
    row["ignitions"] = ignitions(s.fills)
    life = [(o["cxl"] - o["acc"]) / NS_MS for o in s.orders.values()
            if o["cause"] == CANCEL_BY_STRATEGY and o["acc"] is not None]
    row["life p10/p50/p90 ms"] = "/".join("-" if v is None else f"{v:.1f}" for v in
                                          (pct(life, 0.1), pct(life, 0.5), pct(life, 0.9)))
    row["STP cxl of its orders"] = sum(1 for o in s.orders.values() if o["cause"] == CANCEL_BY_STP)
    return row


def windowed_otr(submits, fills, w):
    """Max over windows [t, t+w) starting at a submit of submits / max(1, fills)."""
    best, j, k = 0.0, 0, 0
    n = len(submits)
    fi = 0
    for i, t in enumerate(submits):
        while j < n and submits[j] < t + w:
            j += 1
        lo = bisect.bisect_left(fills, t, lo=fi)
        fi = lo
        hi = bisect.bisect_left(fills, t + w, lo=lo)
        best = max(best, (j - i) / max(1, hi - lo))
    return f"{best:.1f}"


def spoof_episodes(s, own_cancelled_large):
    """Large orders cancelled unfilled by the strategy within 1 s of acceptance
    while the same strategy got a fill on the opposite side during their life."""
    fts = [f[0] for f in s.fills]
    n = 0
    for o in own_cancelled_large:
        if o["filled"] or o["cxl"] - o["acc"] > NS_S:
            continue
        i = bisect.bisect_left(fts, o["acc"])
        while i < len(fts) and fts[i] <= o["cxl"]:
            if s.fills[i][1] != o["side"]:
                n += 1
                break
            i += 1
    return n


def ignitions(fills, run=3, within=NS_S, then=10 * NS_S):
    """Runs of >= `run` taker fills on one side within `within`, followed within
    `then` by a maker fill on the other side (each run counted once)."""
    n, i = 0, 0
    while i < len(fills):
        ts, side, _, maker = fills[i]
        if maker:
            i += 1
            continue
        j = i
        while j + 1 < len(fills) and not fills[j + 1][3] and fills[j + 1][1] == side and fills[j + 1][0] - ts <= within:
            j += 1
        if j - i + 1 >= run:
            end = fills[j][0]
            k = j + 1
            while k < len(fills) and fills[k][0] - end <= then:
                if fills[k][3] and fills[k][1] != side:
                    n += 1
                    break
                k += 1
        i = j + 1
    return n


def market_row(ts):
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    dur = (ts[-1] - ts[0]) / NS_S if len(ts) > 1 else 0
    per_s = collections.Counter(t // NS_S for t in ts)
    inner = [per_s[k] for k in range(min(per_s) + 1, max(per_s))] or list(per_s.values())
    return {
        "events": len(ts),
        "event time s": f"{dur:.1f}",
        "events/s mean": f"{len(ts) / dur:.0f}" if dur else "-",
        "events/s min..max (whole seconds)": f"{min(inner)}..{max(inner)}",
        "max events/1s sliding": max_in_window(ts, NS_S),
        "gap p50/p99/max ms": f"{pct(gaps, 0.5) / NS_MS:.3f}/{pct(gaps, 0.99) / NS_MS:.3f}/{max(gaps) / NS_MS:.3f}",
    }


RATES = [
    "strategy", "submits", "cancels", "fills", "maker/taker", "OTR", "msgs/fill", "max OTR/10s",
    "max msgs/100ms", "max msgs/1s", "max msgs/10s", "max fills/100ms", "max fills/1s", "max fills/10s",
    "max 1-side fills/1s", "max 1-side fills/10s", "max abs dpos/1s", "max abs dpos/10s",
]
PATTERNS = [
    "strategy", "large placed", "large filled (any)", "large cxl<=10ms unfilled", "large cxl<=100ms unfilled",
    "large cxl<=1000ms unfilled", "max large cxl<=100ms/1s", "max large cxl<=100ms/10s", "spoof episodes",
    "internal fills", "max internal/10s", "internal with", "ignitions", "life p10/p50/p90 ms", "STP cxl of its orders",
]
BENIGN = ("market-maker", "momentum", "honest-quoter")
# metric -> True when manipulators are expected ABOVE benign
SEPARATE = [
    "max msgs/100ms", "max msgs/1s", "max msgs/10s", "OTR", "max OTR/10s", "max fills/100ms", "max fills/1s",
    "max fills/10s", "max 1-side fills/100ms", "max 1-side fills/1s", "max 1-side fills/10s", "max abs dpos/1s", "max abs dpos/10s", "max large cxl<=100ms/1s", "max large cxl<=100ms/10s",
    "spoof episodes", "internal fills", "max internal/10s", "ignitions",
]


def table(rows, cols):
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def num(v):
    return float(v)


def summary(runs):
    """Per metric: the worst benign value over every run (with where), and each
    manipulator's value in its own run."""
    manip = []
    for run, rows in runs:
        manip += [(run, r) for r in rows if r["strategy"] not in BENIGN]
    cols = ["metric", "benign max (strategy@run)"] + [f"{r['strategy']}" for _, r in manip]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for m in SEPARATE:
        b = max(((num(r[m]), f"{r['strategy']}@{run}") for run, rows in runs for r in rows
                 if r["strategy"] in BENIGN), default=(0, "-"))
        bb = max(((num(r[m]), f"{r['strategy']}") for run, rows in runs for r in rows
                  if r["strategy"] in BENIGN and run == "benign"), default=(0, "-"))
        cells = [m, f"{b[0]:g} ({b[1]}); benign run {bb[0]:g} ({bb[1]})"]
        for _, r in manip:
            v = num(r[m])
            cells.append(f"**{v:g}**" if v > b[0] else f"{v:g}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("journals", nargs="+")
    ap.add_argument("--bulkhead", default=os.environ.get("BULKHEAD", "target/release/bulkhead"))
    ap.add_argument("--large", type=int, default=20, help="lots from which an order is large [20]")
    ap.add_argument("--json", action="store_true", help="one JSON object per journal instead of tables")
    a = ap.parse_args()
    runs = []
    for j in a.journals:
        st, mts = analyse(a.bulkhead, j, a.large)
        rows = [strategy_rows(n, s, a.large) for n, s in st.items()]
        m = market_row(mts)
        name = os.path.basename(os.path.normpath(j)).removesuffix(".journal")
        runs.append((name, rows))
        if a.json:
            print(json.dumps({"run": name, "market": m, "strategies": rows}))
            continue
        print(f"\n### {name}\n")
        print("market: " + ", ".join(f"{k} {v}" for k, v in m.items()) + "\n")
        print(table(rows, RATES) + "\n")
        print(table(rows, PATTERNS))
    if not a.json and len(runs) > 1:
        print("\n### separation: worst benign value over every run vs each manipulator in its run (bold = above)\n")
        print(summary(runs))


if __name__ == "__main__":
    main()
