"""The ``edgerun`` command line."""
