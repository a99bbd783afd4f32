"""The ``procmem-gym`` command line: it only wires the library's pieces together."""
