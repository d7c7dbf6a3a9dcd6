"""What the agent sees of Zigbee hardware: a zigpy ControllerApplication, real or virtual.

`open_radio()` is the one entry point; the Smart Energy clusters zigpy lacks and the simulated
HAN devices live beside it.
"""
