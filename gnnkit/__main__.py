"""``python -m gnnkit …``: the ``gnnkit`` command (:func:`gnnkit.cli.main`), also under
``torchrun -m gnnkit bench …``."""

import sys

from gnnkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
