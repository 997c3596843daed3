"""The companion app's REST API, mounted at /api/v1/ (Django REST framework).

Views are thin: parse with an input serializer, call one service or selector, render with an
output serializer. Errors answer RFC 9457 `application/problem+json` (`api.app.problems`).
"""
