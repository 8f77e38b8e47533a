"""The ``rainbow`` command line: thin commands that parse, call one layer and print."""
