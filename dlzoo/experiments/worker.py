"""`python -m dlzoo.experiments.worker RUN_DIR`: execute one prepared run in this process.

The runner starts it with `KERAS_BACKEND` set to the run's backend, so Keras
is imported with the right backend; the run's `config.yaml` says the rest.

Under torchrun (`launcher: {name: torchrun}`) each of its processes runs
this worker: it joins the process group torchrun describes first, and only
rank 0 writes (see `dlzoo.experiments.data_parallel`).

Exit codes: 0 finished; 2 an input error (bad data or options: one line on
stderr, and `run.json` says `failed` with the reason); 75 another process
holds the run's lock (who, on stderr); 1 anything else (with its traceback,
kept in the run's `output.log`).
"""

import argparse
import os
import signal
import sys

if sys.path and os.path.realpath(sys.path[0] or os.curdir) == os.path.realpath(os.getcwd()):
    sys.path.pop(0)  # `-m` put the working directory first: no file there may stand in for a module

# The exit codes and the error line's mark are the runner's (it reads them).
from dlzoo.experiments.locking import RunLocked  # noqa: E402
from dlzoo.experiments.runner import (  # noqa: E402
    ERROR_MARK,
    EXIT_INPUT_ERROR,
    EXIT_LOCKED,
    INPUT_ERRORS,
    execute_run,
    first_line,
)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dlzoo.experiments.worker")
    parser.add_argument("run_dir")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--plugins", action="append", default=[])
    args = parser.parse_args(argv)
    # SIGTERM (the runner stopping it) ends the run as SystemExit: run.json then says "interrupted" at once.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from dlzoo.experiments import data_parallel  # lazy: keras (imported with the run's backend)

    try:
        processes = data_parallel.start_from_environment()
        execute_run(args.run_dir, quiet=args.quiet or not processes.primary, plugins=args.plugins)
    except RunLocked as exc:
        print(ERROR_MARK + str(exc), file=sys.stderr, flush=True)
        return EXIT_LOCKED
    except INPUT_ERRORS as exc:
        print(ERROR_MARK + first_line(exc), file=sys.stderr, flush=True)
        return EXIT_INPUT_ERROR
    finally:
        data_parallel.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
