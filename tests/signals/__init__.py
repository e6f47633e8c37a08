"""Tests of the signal layer."""
