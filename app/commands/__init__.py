"""Headless subcommands of ``routedeck``; each module is imported only when its command runs."""
