"""Transport security: HSTS over TLS behind a proxy, never on plain HTTP."""


def test_hsts_is_sent_on_requests_that_arrived_over_tls(client, db, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000

    secure = client.get("/fhir/metadata", headers={"X-Forwarded-Proto": "https"})
    plain = client.get("/fhir/metadata")

    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in plain


def test_fhir_responses_are_not_cached(client, db):
    assert client.get("/fhir/Patient/x")["Cache-Control"] == "no-store"


def test_streamed_pieces_are_joined_into_bounded_writes():
    from api.fhir.responses import coalesced

    pieces = [b"x" * 300 for _ in range(10)]

    joined = list(coalesced(iter(pieces), size=1000))

    assert b"".join(joined) == b"".join(pieces)
    assert [len(piece) for piece in joined] == [1200, 1200, 600]
    assert list(coalesced(iter([]), size=1000)) == []
