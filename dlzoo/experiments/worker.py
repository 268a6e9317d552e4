"""`python -m dlzoo.experiments.worker RUN_DIR`: execute one prepared run in this process.

The runner starts it with `KERAS_BACKEND` set to the run's backend, so Keras
is imported with the right backend; the run's `config.yaml` says the rest.
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dlzoo.experiments.worker")
    parser.add_argument("run_dir")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--plugins", action="append", default=[])
    args = parser.parse_args(argv)
    from dlzoo.experiments.runner import execute_run

    execute_run(args.run_dir, quiet=args.quiet, plugins=args.plugins)
    return 0


if __name__ == "__main__":
    sys.exit(main())
