"""Data files shipped with gosym (generated; see scripts/)."""
