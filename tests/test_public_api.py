import spotify_analytics


def test_public_api_is_small_and_pinned() -> None:
    assert sorted(spotify_analytics.__all__) == [
        "Lake",
        "Settings",
        "SpotifyAnalyticsError",
        "load_settings",
        "query",
        "run",
    ]
    for name in spotify_analytics.__all__:
        assert getattr(spotify_analytics, name) is not None
