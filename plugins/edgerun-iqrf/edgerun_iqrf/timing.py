"""DPA timing rules: how long to wait for a response, and how long routing stays busy.

After a confirmation (Hops, TimeslotLength, HopsResponse) the response may take
``(Hops+1)·slot + (HopsResponse+1)·R + 40 ms``, R being the worst-case response timeslot
of the RF mode (STD 60 ms, LP 110 ms, 200 ms for the 200 ms diagnostic slot). Once the
response is in, the mesh is still routing for the same formula with R taken from the real
response length; the next request waits for that. These are the rules of IQRF's own DPA
library (clibdpa), so a gateway never sends into a mesh that is still busy.
"""

from __future__ import annotations

from typing import Final

from edgerun_iqrf.dpa import Confirmation

SAFETY_MS: Final = 40
DEFAULT_TIMEOUT_MS: Final = 500
DIAGNOSTIC_SLOT_MS: Final = 200


def _worst_response_slot(timeslot_ms: int, std_mode: bool) -> int:
    if timeslot_ms == DIAGNOSTIC_SLOT_MS:
        return DIAGNOSTIC_SLOT_MS
    return 60 if std_mode else 110


def response_slot_ms(pdata_len: int, std_mode: bool) -> int:
    """The timeslot a response with ``pdata_len`` bytes of PData occupies (OS 4.03+)."""
    if std_mode:
        return 40 if pdata_len < 17 else 50 if pdata_len < 41 else 60
    return 80 if pdata_len < 17 else 90 if pdata_len < 41 else 100


def request_slot_ms(pdata_len: int, std_mode: bool) -> int:
    """The timeslot the coordinator uses for a request with ``pdata_len`` bytes of PData."""
    return response_slot_ms(pdata_len, std_mode)


def response_timeout_ms(conf: Confirmation, std_mode: bool) -> int:
    """How long to wait for the response after ``conf`` (before any user minimum)."""
    t_req = (conf.hops + 1) * conf.timeslot_ms
    t_resp = (conf.hops_response + 1) * _worst_response_slot(conf.timeslot_ms, std_mode)
    return t_req + t_resp + SAFETY_MS


def routing_busy_ms(conf: Confirmation, response_pdata_len: int, std_mode: bool) -> int:
    """How long after ``conf`` the mesh is busy, knowing the real response length."""
    if conf.timeslot_ms == DIAGNOSTIC_SLOT_MS:
        slot = DIAGNOSTIC_SLOT_MS
    else:
        slot = response_slot_ms(response_pdata_len, std_mode)
    return (conf.hops + 1) * conf.timeslot_ms + (conf.hops_response + 1) * slot + SAFETY_MS


def broadcast_busy_ms(conf: Confirmation) -> int:
    """A broadcast has no response; the mesh is busy while the request floods it."""
    return (conf.hops + 1) * conf.timeslot_ms + SAFETY_MS


def frc_timeout_ms(bonded: int, discovered: int, response_time_ms: int, std_mode: bool) -> int:
    """The FRC estimate of clibdpa: every bonded node's slot plus the discovered routers'."""
    if std_mode:
        return bonded * 30 + (discovered + 2) * 110 + response_time_ms + 220
    return bonded * 30 + (discovered + 2) * 160 + response_time_ms + 260
