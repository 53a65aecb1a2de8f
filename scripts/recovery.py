#!/usr/bin/env python3
"""Measures "kill -9 to the first resumed step" with `durable serve`'s default settings.

Each round: a fresh database, `durable serve` running the probe guest's `slow_chain` (five
300 ms activities), SIGKILL once two steps are recorded, a new `durable serve` at once, and the
time until the history records anything new. Prints each round and the median.

    scripts/recovery.py [ROUNDS] [--durable target/release/durable]

It needs a built `durable` and probe guest: `cargo build` (or `--release`) and
`cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p probe`.
"""
import argparse, json, os, statistics, subprocess, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("rounds", nargs="?", type=int, default=5)
parser.add_argument("--durable", default=os.path.join(root, "target/debug/durable"))
parser.add_argument("--probe", default=os.path.join(root, "target/wasm/wasm32-wasip2/release/probe.wasm"))
args = parser.parse_args()


def durable(db, *a):
    return subprocess.run([args.durable, "--db", db, *a], capture_output=True, text=True)


def history(db, instance):
    out = durable(db, "history", instance, "--json")
    return json.loads(out.stdout) if out.returncode == 0 else []


def until(done, what, within=60):
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.005)


rounds = []
for n in range(args.rounds):
    work = tempfile.mkdtemp(prefix="durable-recovery-")
    db, data = os.path.join(work, "durable.db"), os.path.join(work, "data")
    os.makedirs(data)
    durable(db, "deploy", "--component", args.probe)
    serve = [args.durable, "--db", db, "serve", "--component", args.probe, "--dir", f"{data}::/data",
             "--env", "SLOW_STEP_MS=300", "--http-addr", "127.0.0.1:0"]
    host = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=open(f"{work}/serve-1.log", "w"))
    durable(db, "start", "slow_chain", "--id", "chain")
    until(lambda: sum(e["type"] == "TaskCompleted" for e in history(db, "chain")) >= 2, "two steps")
    host.kill()
    host.wait()
    killed = time.monotonic()
    recorded = len(history(db, "chain"))
    host = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=open(f"{work}/serve-2.log", "w"))
    until(lambda: len(history(db, "chain")) > recorded, "the first resumed step")
    rounds.append(time.monotonic() - killed)
    host.kill()
    host.wait()
    print(f"round {n + 1}: {rounds[-1]:.2f} s", flush=True)
print(f"kill -9 to the first resumed step: median {statistics.median(rounds):.2f} s, "
      f"max {max(rounds):.2f} s over {len(rounds)} rounds")
