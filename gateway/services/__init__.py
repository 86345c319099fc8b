"""Use cases: each module is one job the gateway does, over the scoring core, the exchange format
and the store. Routes and the CLI call these; these never import the web layer."""
