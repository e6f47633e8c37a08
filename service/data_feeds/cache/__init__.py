"""Redis: the key scheme, the record codec, the bundled server and the connectors."""
