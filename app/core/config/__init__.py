"""Config: settings from defaults < TOML file < environment (ROUTEDECK_*) < CLI flags, where
files live (platformdirs, ROUTEDECK_HOME), and config mistakes as errors that name the key
and the fix. Nothing is read at import time. Imports nothing else from the core.
"""
