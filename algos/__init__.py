"""marlzoo's built-in algorithms, installed as ``marlzoo.algos``. Each registers through the
``marlzoo.algos`` entry points in setup.cfg, the same way a third-party plugin does; marlzoo's core
never imports this package."""

import sys as _sys

_parent = _sys.modules.get(__name__.rpartition(".")[0])
if _parent is not None and getattr(_parent, "__file__", "") is None:
    # Python, started in the folder that holds a clone of marlzoo, took the clone's root folder for
    # the package: an empty namespace package named marlzoo, found before the installed one.
    raise ImportError(
        f"'marlzoo' here is the folder {list(_parent.__path__)[0]}, not the installed package, because Python "
        "looks in the current folder first; start Python in another folder (inside the clone works too)"
    )
