"""Exit-gate receipts and exactly-once, crash-safe charging on a durable ledger."""
