"""The stage that decides what a valid, clean message is."""
