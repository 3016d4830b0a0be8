"""Every webhook type the emulated flows can produce, each loaded by the SDK."""

from __future__ import annotations

from polar_emulator.core import NEVER_EMITTED
from tests.webhook_flows import every_event_flow

from .oracle import ALL_EVENT_TYPES


def test_sdk_knows_42_event_types():
    assert len(ALL_EVENT_TYPES) == 42
    assert NEVER_EMITTED <= ALL_EVENT_TYPES


def test_flows_cover_every_emittable_event_type(emu, hook):
    # The same flow tests/test_webhook_emulator.py sends through the real webhook view.
    every_event_flow(emu)

    emitted = set(hook.types())
    assert emitted == ALL_EVENT_TYPES - NEVER_EMITTED, sorted(
        (ALL_EVENT_TYPES - NEVER_EMITTED) ^ emitted
    )
    assert emu.event_types()[-len(hook.events) :] == hook.types()  # nothing lost or reordered
