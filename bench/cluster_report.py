#!/usr/bin/env python3
"""Tables of bench/cluster.sh from its work directory (standard library only).

Usage: cluster_report.py WORK TAG CONFIG...

Reads, per configuration C: C.json (the bots' summary), C.start.txt and C.end.txt (Redis
INFO and RabbitMQ counters sampled at the measurement window's edges by hook.sh), C.worlds,
C.targets and C.metrics.txt. Prints markdown.
"""

import json
import os
import re
import sys

work, tag, configs = sys.argv[1], sys.argv[2], sys.argv[3:]


def load(c):
    p = os.path.join(work, f"{c}.json")
    return json.load(open(p)) if os.path.exists(p) else None


def sections(path):
    """`== name [value]` headed sections of a hook sample."""
    out, cur = {}, None
    if not os.path.exists(path):
        return out
    for line in open(path, errors="replace"):
        m = re.match(r"== (\S+)\s*(.*)", line)
        if m:
            cur = m.group(1)
            out[cur] = {"head": m.group(2).strip(), "lines": []}
        elif cur:
            out[cur]["lines"].append(line.rstrip("\n"))
    return out


def redis_sample(s):
    """(time, {command: calls}, {command: usec}, {stat: value}, {world: owner replica})."""
    if "t_redis" not in s:
        return None
    t = float(s["t_redis"]["head"])
    calls, usec, stats, owners = {}, {}, {}, {}
    for line in s["t_redis"]["lines"]:
        m = re.match(r"cmdstat_(\w+):calls=(\d+),usec=(\d+)", line)
        if m:
            calls[m.group(1)] = int(m.group(2))
            usec[m.group(1)] = int(m.group(3))
        m = re.match(r"(total_\w+):(\d+)", line)
        if m:
            stats[m.group(1)] = int(m.group(2))
    for line in s.get("owners", {}).get("lines", []):
        w, _, rest = line.partition(" ")
        m = re.search(r'"replica":"([^"]+)"', rest)
        owners[w] = m.group(1) if m else None
    return t, calls, usec, stats, owners


def amqp_sample(s):
    """(time, {global counter: value}, {replica: (broker received bytes, broker sent bytes)})."""
    if "t_amqp" not in s:
        return None
    t = float(s["t_amqp"]["head"])
    text = "\n".join(s["t_amqp"]["lines"])
    counters = {k: int(v) for k, v in re.findall(r"(\w+) => (-?\d+)", text)}
    conns = {}
    for name, recv, send in re.findall(r'<<"crowdwire ([^"]+)">>\}\s*,\s*(\d+)\s*,\s*(\d+)\s*\}', text):
        conns[name] = (int(recv), int(send))
    return t, counters, conns


def placement_target(placement, i, worlds, n):
    w, j = i % worlds, i // worlds
    if n <= 1:
        return 0
    if placement == "bot":
        return i % n
    if placement == "world":
        return w % n
    home = w % n
    return home if j % 2 == 0 else (home + 1 + (j // 2) % (n - 1)) % n


def f(v, d=0, suffix=""):
    return "–" if v is None else f"{v:,.{d}f}{suffix}"


runs = {}
for c in configs:
    r = load(c)
    if r is None:
        continue
    k = len(r["targets"])
    cluster = c != "single"
    s0, s1 = sections(os.path.join(work, f"{c}.start.txt")), sections(os.path.join(work, f"{c}.end.txt"))
    worlds = open(os.path.join(work, f"{c}.worlds")).read().strip().split(",")
    n_bots = r["bots"]
    remote = sum(
        1
        for i in range(n_bots)
        if placement_target(r["placement"], i, len(worlds), k) != (i % len(worlds)) % k
    )
    x = {"r": r, "k": k, "cluster": cluster, "worlds": worlds, "remote": remote}
    users = r["connected_at_end"] or n_bots
    x["users"] = users
    a, b = redis_sample(s0), redis_sample(s1)
    if a and b and cluster:
        dt = b[0] - a[0]
        calls = {cmd: b[1].get(cmd, 0) - a[1].get(cmd, 0) for cmd in b[1]}
        usec = {cmd: b[2].get(cmd, 0) - a[2].get(cmd, 0) for cmd in b[2]}
        # The hook's own commands: INFO (both samples) and one GET per world (start sample).
        calls.pop("info", None)
        usec.pop("info", None)
        calls["get"] = calls.get("get", 0) - len(worlds)
        x["redis"] = {
            "dt": dt,
            "per_s": {cmd: v / dt for cmd, v in calls.items() if v > 0},
            "usec_per_s": {cmd: v / dt for cmd, v in usec.items() if v > 0},
            "in_bps": (b[3].get("total_net_input_bytes", 0) - a[3].get("total_net_input_bytes", 0)) / dt,
            "out_bps": (b[3].get("total_net_output_bytes", 0) - a[3].get("total_net_output_bytes", 0)) / dt,
        }
        home = {w: f"{tag}r{(ix % k) + 1}" for ix, w in enumerate(worlds)}
        x["owners_ok"] = all(a[4].get(w) == home[w] for w in worlds) and all(b[4].get(w) == home[w] for w in worlds)
        x["owners"] = a[4]
    p, q = amqp_sample(s0), amqp_sample(s1)
    if p and q:
        dt = q[0] - p[0]
        d = {k2: (q[1].get(k2, 0) - p[1].get(k2, 0)) / dt for k2 in q[1]}
        mine = [n for n in q[2] if n.startswith(tag) and n in p[2]]
        x["amqp"] = {
            "dt": dt,
            "published_per_s": d.get("messages_received_total"),
            "routed_per_s": d.get("messages_routed_total"),
            "recv_bps": sum(q[2][n][0] - p[2][n][0] for n in mine) / dt,
            "send_bps": sum(q[2][n][1] - p[2][n][1] for n in mine) / dt,
            "connections": len(mine),
        }
    mpath = os.path.join(work, f"{c}.metrics.txt")
    dropped = 0.0
    if os.path.exists(mpath):
        for line in open(mpath):
            m = re.match(r"crowdwire_bus_dropped_total(?:\{[^}]*\})?\s+([\d.e+]+)", line)
            if m:
                dropped += float(m.group(1))
    x["bus_dropped"] = dropped
    runs[c] = x

if not runs:
    sys.exit("no runs")

first = next(iter(runs.values()))["r"]
print(
    f"{first['bots']} bots over {first['worlds']} worlds, {first['rate_hz']} Hz, area {first['spread'][0]:.0f} × "
    f"{first['spread'][1]:.0f} px, {first['duration_s']:.0f} s measured, "
    + ("batched frames" if first["batch"] else "one WebSocket message per frame")
    + "; one run per configuration."
)
print()
base = runs.get("k1") or runs.get("single")
base_name = "k1" if "k1" in runs else "single"
print(
    "| config | replicas | bots on their world's owner | connected | moves/s | deliveries/s | vs "
    + base_name
    + " | delivered / expected | p50 ms | p99 ms | max ms | replicas' CPU % (each) | Redis CPU % | RabbitMQ CPU % | bots CPU % | other CPU % | replica CPU µs per delivery | all server-side CPU µs per delivery |"
)
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for c, x in runs.items():
    r = x["r"]
    lat = r["latency_ms"]
    aux = r.get("aux_cpu_pct_each") or []
    redis_cpu = aux[0] if len(aux) > 0 else None
    mq_cpu = aux[1] if len(aux) > 1 else None
    dps = r["deliveries_per_s"]
    scpu = r["server_cpu_pct"]
    each = " + ".join(f"{v:.0f}" for v in (r.get("server_cpu_pct_each") or []) if v is not None)
    us = scpu / 100 / dps * 1e6 if scpu and dps else None
    allcpu = (scpu or 0) + (redis_cpu or 0) + (mq_cpu or 0)
    us_all = allcpu / 100 / dps * 1e6 if dps else None
    ratio = dps / base["r"]["deliveries_per_s"] if base and base["r"]["deliveries_per_s"] else None
    on_owner = r["bots"] - x["remote"]
    print(
        "| "
        + " | ".join(
            [
                c,
                str(x["k"]) + ("" if x["cluster"] else " (no Redis/RabbitMQ)"),
                f"{on_owner} / {r['bots']}",
                f(r["connected_at_end"]),
                f(r["moves_per_s"]),
                f(dps),
                f(ratio, 3),
                f(r["delivered_ratio"] * 100 if r["delivered_ratio"] is not None else None, 2, " %"),
                f(lat["p50"], 2),
                f(lat["p99"], 2),
                f(lat["max"], 1),
                f"{scpu:.0f}" + (f" ({each})" if x["k"] > 1 else "") if scpu is not None else "–",
                f(redis_cpu, 1),
                f(mq_cpu, 1),
                f(r["bots_cpu_pct"]),
                f(r.get("other_cpu_pct")),
                f(us, 2),
                f(us_all, 2),
            ]
        )
        + " |"
    )
print()
problems = []
for c, x in runs.items():
    r = x["r"]
    if r["setup_failed"] or r["dropped"] or r["server_errors"]:
        problems.append(f"{c}: {r['setup_failed']} setups failed, {r['dropped']} sockets dropped, {r['server_errors']} server errors")
    if x["cluster"] and not x.get("owners_ok", False):
        problems.append(f"{c}: a world is not owned by its home replica: {x.get('owners')}")
    if x["bus_dropped"]:
        problems.append(f"{c}: {x['bus_dropped']:.0f} bus messages dropped (crowdwire_bus_dropped_total)")
print(
    "Checks: "
    + ("; ".join(problems) if problems else "every world owned by its home replica at both window edges (`world:{w}:owner`); no failed setup, dropped socket, server error or dropped bus message")
    + "."
)
print()
print(
    "| config | users | remote users | Redis commands/s (all, incl. inside scripts) | EVALSHA/s | GET/s | PING/s | Redis commands per user per s | Redis bytes in + out per user per s | Redis CPU (commandstats) µs/s | RabbitMQ messages published/s | per user per s | per remote user per s | RabbitMQ bytes in + out per s (replica connections) | per user per s |"
)
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c, x in runs.items():
    u, rem = x["users"], x["remote"]
    rd, mq = x.get("redis"), x.get("amqp")
    tot = sum(rd["per_s"].values()) if rd else None
    mqp = mq["published_per_s"] if mq else None
    mqb = mq["recv_bps"] + mq["send_bps"] if mq else None
    print(
        "| "
        + " | ".join(
            [
                c,
                f(u),
                f(rem),
                f(tot, 0),
                f(rd["per_s"].get("evalsha", 0) if rd else None, 1),
                f(rd["per_s"].get("get", 0) if rd else None, 1),
                f(rd["per_s"].get("ping", 0) if rd else None, 1),
                f(tot / u if rd else None, 3),
                f((rd["in_bps"] + rd["out_bps"]) / u if rd else None, 0),
                f(rd["usec_per_s"].get("evalsha", 0) + rd["usec_per_s"].get("get", 0) + rd["usec_per_s"].get("ping", 0) if rd else None, 0),
                f(mqp, 0),
                f(mqp / u if mqp is not None else None, 3),
                f(mqp / rem if mqp is not None and rem else None, 2),
                f(mqb, 0),
                f(mqb / u if mqb is not None and x["cluster"] else None, 0),
            ]
        )
        + " |"
    )
print()
print("Redis commands per second by name (inside scripts included), per configuration:")
print()
for c, x in runs.items():
    rd = x.get("redis")
    if rd:
        top = sorted(rd["per_s"].items(), key=lambda kv: -kv[1])
        print(f"- {c}: " + ", ".join(f"{k} {v:,.1f}" for k, v in top))
for c, x in runs.items():
    mq = x.get("amqp")
    if mq and not x["cluster"]:
        print(
            f"- {c} (no replica on RabbitMQ): {mq['published_per_s']:.1f} messages/s published on the broker by others (background, included in the rows above)"
        )

hop_rows = [(c, x) for c, x in runs.items() if x["r"].get("latency_by_hops_ms")]
if hop_rows:
    print()
    print("Latency by replica hops (0: mover and receiver on the world's owner; 1: one of them elsewhere; 2: both):")
    print()
    print("| config | hops | share of deliveries | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for c, x in hop_rows:
        hs = x["r"]["latency_by_hops_ms"]
        total = sum(h["samples"] for h in hs) or 1
        for h in hs:
            print(f"| {c} | {h['hops']} | {h['samples'] / total * 100:.1f} % | {h['p50']:.2f} | {h['p99']:.2f} | {h['max']:.1f} |")

bus_rows = [(c, x) for c, x in runs.items() if x["cluster"] and x["remote"] and x.get("amqp")]
if bus_rows:
    print()
    print(
        "RabbitMQ messages by kind (Frame: one per client frame of a remote socket, i.e. its moves plus one PING per 5 s; "
        "Deliver: the rest, one per world, replica and engine turn):"
    )
    print()
    print("| config | published/s | Frame/s (remote users × (rate + 0.2)) | Deliver/s | Deliver/s per world per other replica | moves/s per world | broker bytes in/s | bytes per message |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c, x in bus_rows:
        r, mq = x["r"], x["amqp"]
        frames = x["remote"] * (r["rate_hz"] + 0.2)
        deliver = mq["published_per_s"] - frames
        others = x["k"] - 1
        nw = len(x["worlds"])
        print(
            f"| {c} | {mq['published_per_s']:,.0f} | {frames:,.0f} | {deliver:,.0f} | {deliver / nw / others:,.0f} | "
            f"{r['moves_per_s'] / nw:,.0f} | {mq['recv_bps']:,.0f} | {mq['recv_bps'] / mq['published_per_s']:,.0f} |"
        )
