"""A suspended user is refused by every gateway, not only identity's: identity and catalog
as real processes on PostgreSQL and the broker. Catalog learns the suspension from
`identity.events` and refuses the user's still-valid access token; reinstatement lets it
through again; an erased account's token is no longer anyone's."""

from __future__ import annotations

import time

import httpx
import pytest

from servicekit.testing import ServiceProcess, wait_until
from tests.integration.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api

pytestmark = pytest.mark.integration


def status_at(url: str, token: str) -> int:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code


def test_suspension_reinstatement_and_erasure_reach_catalog(api: Api, catalog_proc: ServiceProcess) -> None:
    catalog_proc.start()
    user = api.register("sam@uni.example", "Sam")
    token = api.login("sam@uni.example")  # valid for 15 minutes, whatever happens next
    staff = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    mine = f"{catalog_proc.url}/v1/tutors/{user}/standing"
    wait_until(lambda: status_at(mine, token) == 200, 30, 0.2, "catalog to accept Sam's token")

    assert api.post(f"/v1/users/{user}/suspension", staff, json={"reason_code": "safety"}).status_code == 200
    suspended_at = time.monotonic()
    wait_until(lambda: status_at(mine, token) == 403, 10, 0.02, "catalog to refuse the suspended user")
    lag = time.monotonic() - suspended_at
    refused = httpx.get(mine, headers={"Authorization": f"Bearer {token}"})
    assert refused.json()["title"] == "Account suspended"
    assert refused.headers["content-type"].startswith("application/problem+json")
    print(f"catalog refused the suspended user {lag * 1000:.0f} ms after identity suspended them")

    assert api.http.delete(f"/v1/users/{user}/suspension",
                           headers={"Authorization": f"Bearer {staff}"}).status_code == 200
    wait_until(lambda: status_at(mine, token) == 200, 10, 0.02, "catalog to accept the reinstated user")
    # Once catalog's consumers are settled (the first time included joining their group):
    assert api.post(f"/v1/users/{user}/suspension", staff, json={"reason_code": "conduct"}).status_code == 200
    suspended_at = time.monotonic()
    wait_until(lambda: status_at(mine, token) == 403, 10, 0.02, "catalog to refuse the suspended user again")
    print(f"...and {(time.monotonic() - suspended_at) * 1000:.0f} ms the second time")
    assert api.http.delete(f"/v1/users/{user}/suspension",
                           headers={"Authorization": f"Bearer {staff}"}).status_code == 200

    assert api.post(f"/v1/users/{user}/erasure", staff).status_code == 200
    wait_until(lambda: status_at(mine, token) == 401, 10, 0.02, "catalog to refuse an erased user's token")
