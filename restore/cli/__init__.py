"""The command line. Only this package imports typer or rich."""
