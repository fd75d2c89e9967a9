"""marlzoo's YAML configs, installed as the package ``marlzoo.configs`` and read through
``importlib.resources``: default.yaml, algos/<algo>.yaml, envs/<env>.yaml, tables/<table>.yaml."""
