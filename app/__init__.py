"""RouteDeck: a terminal console that routes each prompt to the cheapest model tier able to answer it."""

__version__ = "0.1.0"
