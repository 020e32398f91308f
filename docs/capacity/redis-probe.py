#!/usr/bin/env python3
"""Bytes per Redis key of Confab's shapes, measured on a real Redis.

Writes N keys of one shape under a throwaway prefix (`cprobe:`, as long as
`confab:`, so every key is exactly as long as the real one), reads
`INFO memory` used_memory before and after, deletes every key it wrote and
checks that used_memory came back and no `cprobe:*` key is left.

    python3 docs/capacity/redis-probe.py [--port 6379] [--n 100000]

Needs only `redis-cli` (commands go through `redis-cli --pipe`).
"""
import argparse
import subprocess
import sys
import uuid

PREFIX = "cprobe:"  # 7 bytes, like "confab:"
UID0 = 1_000_000     # 7-digit user ids, as in a deployment past a million users
MSG_ID = 268_435_456_000_000_000  # an 18-digit snowflake (~2 years after the epoch)
TS = 1_796_600_000_000            # 13-digit Unix ms


def resp(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        a = str(a).encode()
        out.append(f"${len(a)}\r\n")
        out.append(a.decode() + "\r\n")
    return "".join(out)


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], check=True,
                          capture_output=True, text=True).stdout


def used(port):
    for line in cli(port, "INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise SystemExit("no used_memory")


def pipe(port, commands):
    p = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input="".join(commands),
                       capture_output=True, text=True, check=True)
    if "errors: 0" not in p.stdout:
        raise SystemExit(p.stdout + p.stderr)


def tag(uid):
    # The hash tag of the user's bucket, as common/src/keys.rs spells it:
    # `{b<bucket>.<n>}` with 24 buckets and n the first candidate whose slot
    # falls in the bucket's range (a few dozen tries), so 6 to 9 bytes with
    # the braces and the colon after it.
    return "{b%d.%d}:" % (uid % 24, (uid * 7) % 40)


def shapes(n):
    """name -> (keys, write commands)."""
    ids = [str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))) for i in range(n)]
    out = {}
    for tagged in (False, True):
        keys, cmds = [], []
        for i in range(n):
            uid = UID0 + (i % 50_000)
            t = tag(uid) if tagged else ""
            k = f"{PREFIX}dedup:{t}{uid}:{ids[i]}"
            keys.append(k)
            cmds.append(resp("SET", k, f"{MSG_ID + i}:{TS + i}:s", "EX", 172800))
        out["dedup" + (" tagged" if tagged else "")] = (keys, cmds)
    # presence: one hash per online user, one field per connection.
    for conns in (1, 2):
        keys, cmds = [], []
        users = n // 2
        for i in range(users):
            uid = UID0 + i
            k = f"{PREFIX}presence:{tag(uid)}{uid}"
            keys.append(k)
            for c in range(conns):
                cmds.append(resp("HSET", k, f"{1 + c}:{17_000_000_000_000_000_000 + i}:{i * 2 + c}", TS + i))
            cmds.append(resp("EXPIRE", k, 86400))
        out[f"presence, {conns} connection(s)/user (per user)"] = (keys, cmds)
    # node_users: one set per node process, one member per user on it.
    k = f"{PREFIX}node_users:{{registry}}:1:17000000000000000000"
    out["node_users (per member)"] = ([k], [resp("SADD", k, UID0 + i) for i in range(n)])
    # friends: one set per user (ids + "-"), 60 s.
    # With the marker "-" (today's) the set cannot be an intset; with a
    # numeric marker ("0", never a user id) it can, up to 512 entries.
    for marker in ("-", "0"):
        for friends in (20, 200):
            keys, cmds = [], []
            users = max(1, n // friends)
            for u in range(users):
                uid = UID0 + u
                k = f"{PREFIX}friends:{tag(uid)}{uid}"
                keys.append(k)
                cmds.append(resp("SADD", k, marker, *[UID0 + 500_000 + u * 7 + f for f in range(friends)]))
                cmds.append(resp("EXPIRE", k, 60))
            out[f"friends, {friends} per user, marker '{marker}' (per user)"] = (keys, cmds)
    for members in (100, 1000):
        keys, cmds = [], []
        groups = max(1, n // members)
        for g in range(groups):
            k = f"{PREFIX}members:{{b{g % 24}.{g % 40}}}:{100_000 + g}"
            keys.append(k)
            cmds.append(resp("SADD", k, "-", *[UID0 + g * 3 + m for m in range(members)]))
            cmds.append(resp("EXPIRE", k, 60))
        out[f"members, {members} per group (per group)"] = (keys, cmds)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    left = cli(a.port, "--scan", "--pattern", PREFIX + "*").split()
    if left:
        raise SystemExit(f"{len(left)} {PREFIX}* keys exist already; not touching them")
    print(f"redis on :{a.port}, {cli(a.port, 'INFO', 'server').split('redis_version:')[1].split()[0]}, "
          f"cluster_enabled={cli(a.port, 'INFO', 'cluster').split('cluster_enabled:')[1].split()[0]}, "
          f"dbsize before {cli(a.port, 'DBSIZE').strip()}")
    for name, (keys, cmds) in shapes(a.n).items():
        if a.only and a.only not in name:
            continue
        before = used(a.port)
        pipe(a.port, cmds)
        after = used(a.port)
        sample = cli(a.port, "MEMORY", "USAGE", keys[0], "SAMPLES", "0").strip()
        per = (after - before) / len(keys if len(keys) > 1 else cmds)
        unit = len(keys) if len(keys) > 1 else len(cmds)
        enc = cli(a.port, "OBJECT", "ENCODING", keys[0]).strip()
        print(f"{name:50s} {unit:>8d} written  used_memory +{after - before:>11,d} B  "
              f"= {per:8.1f} B each  (MEMORY USAGE of one key: {sample} B; key {len(keys[0])} B; {enc})")
        # One DEL per key: in Redis Cluster a multi-key DEL across slots is
        # refused (CROSSSLOT).
        pipe(a.port, [resp("DEL", k) for k in keys])
        back = used(a.port)
        print(f"{'':50s} deleted: used_memory {back - before:+,d} B against before")
    left = cli(a.port, "--scan", "--pattern", PREFIX + "*").split()
    print(f"{PREFIX}* keys left: {len(left)}; dbsize after {cli(a.port, 'DBSIZE').strip()}")
    if left:
        sys.exit(1)


if __name__ == "__main__":
    main()
