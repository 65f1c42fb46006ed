"""Subcommands: one module each, with ``register(subparsers)`` and ``main(args)``."""
