"""Self-contained HTML pages (report, audit): rendering only; the figures come from the core."""
