"""Shelf sensor nodes (load cells, RFID), pick/put event detection and item identification from the planogram."""
