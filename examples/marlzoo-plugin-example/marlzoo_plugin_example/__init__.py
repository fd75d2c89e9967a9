"""An example marlzoo plugin package: two algorithms registered through entry points."""
