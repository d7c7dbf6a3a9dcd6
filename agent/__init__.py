"""The hub: configuration, HAN router, policy, consent, uplink, and the wiring between them."""
