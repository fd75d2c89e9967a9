"""marlzoo's built-in algorithms, installed as ``marlzoo.algos``. Each registers through the
``marlzoo.algos`` entry points in setup.cfg, the same way a third-party plugin does; marlzoo's core
never imports this package."""

import sys as _sys

if getattr(_sys.modules.get(__name__.rpartition(".")[0]), "__file__", "") is None:
    # Python, started in the folder that holds a clone of marlzoo, found the clone's root as an empty
    # namespace package named marlzoo before the installed package.
    raise ImportError(
        f"'{__name__.rpartition('.')[0]}' here is the folder {list(_sys.modules[__name__.rpartition('.')[0]].__path__)[0]}, "
        "not the installed package, because Python looks in the current folder first; start Python in another "
        "folder (inside the clone works too)"
    )
