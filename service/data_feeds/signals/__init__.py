"""From one symbol's indicators to a trading signal: features, the generator, delayed labels."""
