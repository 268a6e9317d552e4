import os
import sys

# `python -m dlzoo` puts the working directory first on sys.path. The dlzoo package is imported by now;
# nothing else (a plugin name, a dependency) may resolve to a file there (see dlzoo/plugins.py).
if sys.path and os.path.realpath(sys.path[0] or os.curdir) == os.path.realpath(os.getcwd()):
    sys.path.pop(0)

from dlzoo.cli import main  # noqa: E402

sys.exit(main())
