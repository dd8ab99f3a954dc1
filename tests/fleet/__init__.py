"""Fleet tests: several OS processes, each a cache with its own local tiers, coordinated over one Redis."""
