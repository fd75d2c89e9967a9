"""marlzoo's built-in algorithms. Each registers through the ``marlzoo.algos`` entry points in
setup.cfg, the same way a third-party plugin does; marlzoo's core never imports this package."""
