"""Widgets of the main screen: chat, decision panel, ledger panel, prompt input."""
