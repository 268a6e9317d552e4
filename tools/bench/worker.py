"""Benchmark worker: one process per contender, driven over stdin/stdout by `tools.bench.harness`.

    KERAS_BACKEND=torch python -m tools.bench.worker '<json spec>'

Protocol (one JSON object per line): the worker answers `{"ready": true}`,
then each request `{"cmd": "setup"}`, `{"cmd": "run", "variant": v, "n": k}`,
`{"cmd": "after"}` or `{"cmd": "exit"}` with one reply line
(`{"ok": true, ...}` or `{"ok": false, "error": ...}`). The reply channel is a
private copy of the original stdout; file descriptor 1 is pointed at stderr so
that anything a library prints cannot corrupt the protocol.
"""

import json
import os
import sys
import time
import traceback


def _protocol_channel():
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    channel = _protocol_channel()

    def reply(obj):
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    from tools.bench.tasks import TASKS

    task = TASKS[spec["task"]](spec)
    calls = {}
    reply({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request.get("cmd")
        try:
            if cmd == "setup":
                t0 = time.perf_counter()
                info = task.setup()
                calls = task.calls()
                reply({"ok": True, "info": info, "setup_s": time.perf_counter() - t0})
            elif cmd == "run":
                fn = calls[request["variant"]]
                times = []
                for _ in range(int(request.get("n", 1))):
                    t0 = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t0)
                reply({"ok": True, "times": times})
            elif cmd == "after":
                after = getattr(task, "after", None)
                reply({"ok": True, "info": after() if after else {}})
            elif cmd == "exit":
                reply({"ok": True})
                break
            else:
                reply({"ok": False, "error": f"unknown command {cmd!r}"})
        except Exception as exc:  # noqa: BLE001 - reported to the harness, which records it
            traceback.print_exc()
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    channel.close()


if __name__ == "__main__":
    main()
