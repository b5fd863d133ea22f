"""See submodules."""
