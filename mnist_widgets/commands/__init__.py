"""Sub-commands of the ``mnist-widgets`` command line, one module each."""
