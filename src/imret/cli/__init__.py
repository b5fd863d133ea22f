"""The `imret` command line; the entry point is imret.cli.main:main (run as `python -m imret.cli.main`)."""
