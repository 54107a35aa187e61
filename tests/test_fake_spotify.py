"""The fake Spotify server: real HTTP on 127.0.0.1, answers checked against the OpenAPI spec."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterator

import jsonschema
import pytest
import requests
import yaml

from conftest import API_SAMPLES, OPENAPI_SPEC
from spotify_analytics.fake_spotify import FakeSpotify, spotify_id

NOW = 1_763_700_000_000
# Fields whose descriptions say "null if none" but whose schemas do not say nullable;
# real answers (e.g. the recently-played sample) carry null there.
NULL_IN_PRACTICE = {
    "CursorPagingObject": ("next", "cursors"),
    "PlayHistoryObject": ("context",),
}


def openapi_to_jsonschema(node: object) -> object:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a null alternative."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: openapi_to_jsonschema(value)
        for key, value in node.items()
        if key not in ("nullable", "example", "deprecated") and not key.startswith("x-")
    }
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@pytest.fixture(scope="module")
def spec() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(OPENAPI_SPEC.read_text(), Loader=loader)
    schemas = copy.deepcopy(document["components"]["schemas"])
    for name, fields in NULL_IN_PRACTICE.items():
        for field in fields:
            schemas[name]["properties"][field]["nullable"] = True
    return {
        "components": {
            "schemas": openapi_to_jsonschema(schemas),
            "responses": openapi_to_jsonschema(document["components"]["responses"]),
        }
    }


def validate(spec: dict, data: object, pointer: str) -> None:
    """Validate ``data`` against ``#/components/<pointer>`` of the spec."""
    schema = {**spec, "$ref": f"#/components/{pointer}"}
    jsonschema.Draft7Validator(schema).validate(data)


def response_schema(name: str) -> str:
    return f"responses/{name}/content/application~1json/schema"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSpotify]:
    with FakeSpotify(now_ms=NOW) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSpotify) -> FakeSpotify:
    server.reset()
    server.now_ms = NOW
    server.audio_features_status = 403
    return server


@pytest.fixture
def bearer(fake: FakeSpotify) -> dict:
    return {"Authorization": f"Bearer {fake.grant()['access_token']}"}


def _timeline(fake: FakeSpotify, count: int, step_ms: int = 60_000) -> list[int]:
    stamps = [NOW - (count - n) * step_ms for n in range(count)]
    fake.add_plays((ms, spotify_id(f"t{n % 7}")) for n, ms in enumerate(stamps))
    fake.accounts["fake-account"].plays[0].context_uri = "spotify:playlist:" + spotify_id("p")
    return stamps


def test_validator_accepts_real_sample_and_rejects_broken_one(spec: dict) -> None:
    sample = json.loads((API_SAMPLES / "recently-played.spotify-web-api-java.json").read_text())
    validate(spec, sample, "schemas/CursorPagingPlayHistoryObject")
    broken = copy.deepcopy(sample)
    broken["items"][0]["track"]["duration_ms"] = "long"
    with pytest.raises(jsonschema.ValidationError):
        validate(spec, broken, "schemas/CursorPagingPlayHistoryObject")
    features = json.loads(
        (API_SAMPLES / "audio-features-several.spotify-web-api-java.json").read_text()
    )
    validate(spec, features, response_schema("ManyAudioFeatures"))


def test_recently_played_follows_spec_and_keeps_only_50(
    fake: FakeSpotify, bearer: dict, spec: dict
) -> None:
    stamps = _timeline(fake, 80)
    page = requests.get(f"{fake.api_url}me/player/recently-played?limit=50", headers=bearer).json()
    validate(spec, page, response_schema("CursorPagedPlayHistory"))
    played = [item["played_at"] for item in page["items"]]
    assert len(played) == 50 and played == sorted(played, reverse=True)
    assert page["cursors"] == {"after": str(stamps[-1]), "before": str(stamps[-50])}
    with_context = [item for item in page["items"] if item["context"]]
    assert with_context == []  # the one play with a context is older than the window


def test_recently_played_after_before_limit(fake: FakeSpotify, bearer: dict, spec: dict) -> None:
    stamps = _timeline(fake, 30)
    url = f"{fake.api_url}me/player/recently-played"
    after = requests.get(url, params={"after": stamps[24], "limit": 50}, headers=bearer).json()
    assert [i["played_at"][:19] for i in after["items"]] == [
        i["played_at"][:19]
        for i in requests.get(url, params={"limit": 5}, headers=bearer).json()["items"]
    ]
    before = requests.get(url, params={"before": stamps[10], "limit": 3}, headers=bearer).json()
    assert before["cursors"]["after"] == str(stamps[9])
    assert len(before["items"]) == 3
    validate(spec, before, response_schema("CursorPagedPlayHistory"))
    both = requests.get(url, params={"before": 1, "after": 1}, headers=bearer)
    assert both.status_code == 400
    fake.now_ms = stamps[4]  # the future is not played yet
    early = requests.get(url, params={"limit": 50}, headers=bearer).json()
    assert len(early["items"]) == 5


def test_track_me_and_features_follow_spec(fake: FakeSpotify, bearer: dict, spec: dict) -> None:
    _timeline(fake, 3)
    track_id = spotify_id("t1")
    track = requests.get(f"{fake.api_url}tracks/{track_id}", headers=bearer).json()
    validate(spec, track, response_schema("OneTrack"))
    assert track["id"] == track_id
    me = requests.get(f"{fake.api_url}me", headers=bearer).json()
    validate(spec, me, response_schema("OnePrivateUser"))
    missing = requests.get(f"{fake.api_url}tracks/{spotify_id('nope')}", headers=bearer)
    assert missing.status_code == 404
    closed = requests.get(f"{fake.api_url}audio-features", params={"ids": track_id}, headers=bearer)
    assert closed.status_code == 403
    validate(spec, closed.json(), response_schema("Forbidden"))
    fake.audio_features_status = 200
    opened = requests.get(
        f"{fake.api_url}audio-features", params={"ids": track_id}, headers=bearer
    ).json()
    validate(spec, opened, response_schema("ManyAudioFeatures"))
    recco = requests.get(
        f"{fake.reccobeats_url}/v1/audio-features", params={"ids": track_id}
    ).json()
    assert recco["content"][0]["href"].endswith("/track/" + track_id)


def test_scripted_faults(fake: FakeSpotify, bearer: dict, spec: dict) -> None:
    url = f"{fake.api_url}me/player/recently-played"
    fake.fault("/v1/me/player/recently-played", status=429, retry_after=7293)
    limited = requests.get(url, headers=bearer)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7293")
    validate(spec, limited.json(), response_schema("TooManyRequests"))
    fake.fault("/v1/me/player/recently-played", truncate=True)
    with pytest.raises(ValueError):
        requests.get(url, headers=bearer).json()
    fake.fault("/v1/me/player/recently-played", delay_s=0.5)
    with pytest.raises(requests.Timeout):
        requests.get(url, headers=bearer, timeout=0.1)
    fake.fault("/v1/me", status=500, times=2)
    assert [requests.get(f"{fake.api_url}me", headers=bearer).status_code for _ in range(3)] == [
        500,
        500,
        200,
    ]
    unauthorized = requests.get(url, headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401
    validate(spec, unauthorized.json(), response_schema("Unauthorized"))


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_token_endpoint_checks_pkce_and_refresh_tokens(fake: FakeSpotify) -> None:
    verifier = "v" * 50
    redirect = fake.consent(
        f"{fake.accounts_url}authorize?client_id={fake.client_id}&response_type=code"
        f"&redirect_uri=http://127.0.0.1:1/cb&code_challenge_method=S256"
        f"&code_challenge={_challenge(verifier)}&state=abc"
    )
    assert "state=abc" in redirect
    code = redirect.split("code=")[1].split("&")[0]
    token_url = f"{fake.accounts_url}api/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": fake.client_id,
        "redirect_uri": "http://127.0.0.1:1/cb",
        "code_verifier": "w" * 50,
    }
    wrong = requests.post(token_url, data=form)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    refresh = fake.grant()["refresh_token"]
    fake.revoke_refresh_tokens()
    revoked = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": fake.client_id},
    )
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Refresh token revoked",
    }
    fresh = fake.grant()["refresh_token"]
    fake.expire_refresh_tokens()
    expired = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": fresh, "client_id": fake.client_id},
    )
    assert expired.json()["error"] == "invalid_grant"
