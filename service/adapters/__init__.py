"""Where the service meets the outside: store wiring, outbound webhook addresses and channels,
private files."""
