"""What the benchmarks share, by concern: `database` (throwaway PostgreSQL databases),
`processes` (real `python -m workflow` processes, waiting on them, threads that start together,
free ports), `webhooks` (the loopback receiver standing in for billing and provisioning), `cpu`
(where the CPU time of a phase went, from /proc), `customers` (seeding and the alternating
transitions), `seeding` (set-based INSERT ... SELECT that fills columns it does not know),
`fake_router` (RFC 5176 routers on loopback that check and ACK CoA/Disconnect requests) and
`report` (the command line as run, percentiles).

The benchmarks are plain scripts and import nothing from `tests/`: tests/support.py imports
tests/conftest.py, which rewrites the ATIVA_* environment on import (it is meant for pytest)."""
