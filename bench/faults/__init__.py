"""A re-runnable fault suite for ``data-feeds run`` (issue 13): a real redis-server, the
service as a subprocess, a paced publisher, faults, and an independent verifier that reads
Redis directly.

    python -m bench.faults [--scenario NAME ...] [--n N] [--rate R] [--soak-minutes M]

See ``docs/faults.md``.
"""
