"""Run lifecycle: runs in the database, executing them (leases, journal, limits), resuming and waking them."""
