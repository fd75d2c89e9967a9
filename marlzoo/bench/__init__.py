"""The benchmark machinery: table specs, the reproduce command, the cell store, results tables and
their statistics."""
