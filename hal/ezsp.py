"""The EZSP radio: a Silicon Labs EFR32 dongle through bellows, with the Smart Energy fix."""

from __future__ import annotations

from bellows.zigbee.application import ControllerApplication as BellowsApplication

from hal.se_profile import SmartEnergyProfileMixin


class EzspRadioApp(SmartEnergyProfileMixin, BellowsApplication):
    """bellows' application, hearing the Smart Energy profile."""
