"""Lab-only CBKE mathematics for Zigbee Smart Energy crypto suite 2 (sect283k1).

Nothing in the hub's production path imports this package: on real hardware the NCP's CBKE
library does all elliptic-curve work and the hub only drives its EZSP commands
(hal/key_establishment.py). This package is what the emulated NCP and the simulated meter use to
do the same mathematics for real, so that both ends agree on a link key only if the exchange is
right. docs/cbke.md says what is cross-checked against an independent implementation.
"""
