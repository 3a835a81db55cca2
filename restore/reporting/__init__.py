"""Reports and the printable plan: one model, several renderers."""
