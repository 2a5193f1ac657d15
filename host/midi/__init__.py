"""MIDI recall of outboard gear: device profiles, value laws, message encoding, recall."""
