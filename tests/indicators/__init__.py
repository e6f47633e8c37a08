"""Tests of the incremental indicators."""
