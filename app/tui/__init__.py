"""The Textual console. It renders what app.core decides and never decides itself."""
