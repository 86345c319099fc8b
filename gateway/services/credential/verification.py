"""The gateway as a verifier of credit codes: trusted issuers, status from the cached list.

Our own credentials are checked with our published keys and the status list this process serves
(rebuilt at most every ``status_list_max_age`` seconds; decoded once per rebuild, so a
verification costs a dictionary lookup for the status, not a zlib inflate).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Final

from gateway.exchange import StatusList, StatusReference, verify_status_list_token
from gateway.exchange.errors import StatusListInvalid
from gateway.exchange.sd_jwt_vc import SdJwtVcVerifier, StatusLookup, TrustedIssuer
from gateway.services.context import Gateway
from gateway.services.credential.metadata import vct

__all__ = ["OwnStatusLookup", "gateway_verifier", "own_issuer"]

_LIST_PATH: Final = "/status-lists/"


class OwnStatusLookup:
    """Status of our own credentials from the list this process serves, decoded once per build."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self._lock = threading.Lock()
        self._decoded: dict[int, tuple[float, StatusList]] = {}

    def list_id(self, reference: StatusReference) -> int:
        prefix = self._gw.settings.issuer + _LIST_PATH
        tail = reference.uri[len(prefix) :] if reference.uri.startswith(prefix) else ""
        if not tail.isdigit() or len(tail) > 9:
            raise StatusListInvalid("The status list is not one of ours.", check="uri")
        return int(tail)

    def __call__(self, reference: StatusReference) -> int:
        list_id = self.list_id(reference)
        served = self._gw.status_lists.served(list_id)
        with self._lock:
            cached = self._decoded.get(list_id)
        if cached is None or cached[0] != served.built_at:
            token = verify_status_list_token(
                served.token,
                uri=reference.uri,
                keys=self._gw.keyring.verification_keys(),
                issuer=self._gw.settings.issuer,
                now=self._gw.status_lists.now,  # the clock that built it
            )
            cached = (served.built_at, token.status_list)
            with self._lock:
                self._decoded[list_id] = cached
        try:
            return cached[1].get(reference.idx)
        except IndexError as exc:
            raise StatusListInvalid("The index is outside the status list.", check="idx") from exc


def own_issuer(gw: Gateway) -> TrustedIssuer:
    return TrustedIssuer(gw.settings.issuer, gw.keyring.verification_keys(), frozenset({vct(gw)}))


_LOOKUPS: dict[int, OwnStatusLookup] = {}
_LOOKUPS_LOCK = threading.Lock()


def _lookup(gw: Gateway) -> OwnStatusLookup:
    # One lookup (and one decoded-list cache) per gateway context in this process.
    with _LOOKUPS_LOCK:
        found = _LOOKUPS.get(id(gw))
        if found is None or found._gw is not gw:
            found = OwnStatusLookup(gw)
            _LOOKUPS[id(gw)] = found
        return found


def gateway_verifier(
    gw: Gateway,
    *,
    extra_issuers: Mapping[str, TrustedIssuer] | None = None,
    other_status: StatusLookup | None = None,
    kb_max_age: float = 300.0,
) -> SdJwtVcVerifier:
    """A verifier trusting us (and ``extra_issuers``, whose lists ``other_status`` reads)."""
    ours = own_issuer(gw)
    lookup = _lookup(gw)
    issuers = {ours.issuer: ours, **(extra_issuers or {})}

    def status_of(reference: StatusReference) -> int:
        if reference.uri.startswith(gw.settings.issuer + _LIST_PATH):
            return lookup(reference)
        if other_status is None:
            raise StatusListInvalid("The status list is not one this verifier can read.", check="uri")
        return other_status(reference)

    return SdJwtVcVerifier(issuers=issuers, status_of=status_of, kb_max_age=kb_max_age, now=time.time)
