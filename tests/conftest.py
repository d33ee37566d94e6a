"""Suite-wide test set-up.

Importing ``ogb`` starts a background PyPI version check through the optional ``outdated``
package; tests never touch the network, so that import is made to fail before ``ogb`` loads.
"""

from __future__ import annotations

import sys

if "ogb" not in sys.modules:
    sys.modules.setdefault("outdated", None)  # type: ignore[arg-type]
