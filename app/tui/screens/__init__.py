"""Screens pushed over the main screen: help, ledger details, session picker."""
