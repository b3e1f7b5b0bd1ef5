"""Multi-camera shopper tracking, identity from the entry gate, cart attribution, TF and RViz
markers, and the human review queue."""
