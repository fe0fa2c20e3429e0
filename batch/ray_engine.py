"""The Ray batch engine's driver (started by batch/engine_ray.ts with `scripts/py batch/ray_engine.py`).

Reads one JSON object on stdin: {"deno", "root", "dir", "workers", "retries", "address", "shards"}. Starts a
local Ray instance bound to 127.0.0.1 without the dashboard (or joins the cluster at "address"), creates one
actor per worker, each holding a long-lived Deno worker process (batch/worker.ts), and maps the shards over
the actors with Ray's ActorPool. A Deno worker that dies takes its actor with it (os._exit), so Ray restarts
the actor (max_restarts) and retries the shard (max_task_retries); items the dead worker had finished are
complete folders in the output folder and are not run again.

Writes JSON lines on stdout: {"event": "ready", "startupMs"}, one {"ok", "record" | "error", ...} per item,
then {"event": "done"}. Errors: one line on stderr, exit 1.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time


# Ray writes its own notices to stdout: keep the real stdout for this protocol, send fd 1 to stderr.
_PROTOCOL = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def emit(value):
    _PROTOCOL.write(json.dumps(value) + "\n")
    _PROTOCOL.flush()


def follow_parent():
    """End (through the finally that shuts Ray down) when the batch command that started us goes away."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def main():
    follow_parent()
    cfg = json.load(sys.stdin)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    host = (cfg.get("address") or "127.0.0.1").rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost"):
        # A Ray "cluster" of this machine only: every Ray server binds 127.0.0.1, and a loopback address
        # stays loopback (Ray would otherwise swap it for the node's IP). Read when ray is imported.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray.util import ActorPool

    started = time.perf_counter()
    workers = int(cfg["workers"])
    retries = int(cfg["retries"])
    if cfg.get("address"):
        ray.init(address=cfg["address"], log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            num_cpus=max(workers, os.cpu_count() or 1),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )

    @ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)
    class DenoWorker:
        """One batch worker: a Deno process serving jobs on stdin/stdout for the actor's lifetime."""

        def __init__(self, index, deno, root, out):
            name = f"ray-{index}@{ray.util.get_node_ip_address()}"
            self.proc = subprocess.Popen(
                [deno, "run", "-A", "--v8-flags=--expose-gc", f"{root}/batch/worker.ts", "--out", out, "--worker", name],
                cwd=root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )

        def pid(self):
            return self.proc.pid

        def run_shard(self, index, jobs):
            out = []
            for job in jobs:
                sent = time.perf_counter()
                try:
                    self.proc.stdin.write((json.dumps(job) + "\n").encode())
                    self.proc.stdin.flush()
                    line = self.proc.stdout.readline()
                except OSError:
                    line = b""
                if not line:
                    # The worker process died: end this actor so that Ray restarts it and retries the shard.
                    os._exit(1)
                result = json.loads(line)
                result["actorMs"] = (time.perf_counter() - sent) * 1000
                if result.get("ok"):
                    result["pipeMs"] = result["actorMs"] - result["record"]["timings"]["itemMs"]
                out.append(result)
            return index, out

    try:
        run(ray, ActorPool, DenoWorker, workers, cfg, started)
    finally:
        ray.shutdown()


def run(ray, ActorPool, DenoWorker, workers, cfg, started):
    """Start the actors, map the shards over them, emit every item's result."""
    actors = [DenoWorker.remote(i, cfg["deno"], cfg["root"], cfg["dir"]) for i in range(workers)]
    ray.get([a.pid.remote() for a in actors])
    emit({"event": "ready", "startupMs": (time.perf_counter() - started) * 1000})
    pool = ActorPool(actors)
    sent = {}

    def submit(actor, indexed):
        index, shard = indexed
        sent[index] = time.perf_counter()
        return actor.run_shard.remote(index, shard)

    for index, results in pool.map_unordered(submit, list(enumerate(cfg["shards"]))):
        # the engine's share of the shard's round trip, split over its items
        share = ((time.perf_counter() - sent[index]) * 1000 - sum(r.pop("actorMs") for r in results)) / len(results)
        for r in results:
            if r.get("ok"):
                r["overheadMs"] = share + r.pop("pipeMs")
            emit(r)
    emit({"event": "done"})


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the batch command to show
        message = " ".join(str(e).split()) or type(e).__name__
        sys.stderr.write(f"Cannot run the batch on Ray: {message}\n")
        sys.exit(1)
