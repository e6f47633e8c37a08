"""Tests of the runtime: consumer, service, metrics and health."""
