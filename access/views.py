"""The OAuth 2.0 endpoints of the SMART authorisation server: DOT's views, configured.

`AuthorizeView` is DOT's consent view with the SMART parts: the scopes in plain words with
checkboxes to untick, the patient picker, the EHR `launch`, and `aud`. Token, revocation, JWKS and
userinfo are DOT's, rate limited. Introspection (RFC 7662) answers SMART's fields too.
https://hl7.org/fhir/smart-app-launch/app-launch.html
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauthlib.oauth2.rfc6749 import errors

from access.forms import ConsentForm
from access.launch import LaunchFields, LaunchRefused, launch_picker, launch_resolve
from access.pages import strict_page
from access.ratelimit import rate_limited
from access.scope_words import describe
from access.token_info import introspection_caller_ok, token_introspection


def _refusal(message: str, credentials: dict[str, Any]) -> OAuthToolkitError:
    error = errors.InvalidRequestError(description=message, state=credentials.get("state"))
    error.redirect_uri = credentials.get("redirect_uri")  # validated by oauthlib before we get here
    return OAuthToolkitError(error=error)


@method_decorator([strict_page, rate_limited("authorize")], name="dispatch")
class AuthorizeView(dot.AuthorizationView):
    template_name = "access/consent.html"
    form_class = ConsentForm

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
            picker = self._picker(request, scopes, credentials)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = get_application_model().objects.get(client_id=credentials["client_id"])
        request.csp_redirect_uri = credentials["redirect_uri"]  # type: ignore[attr-defined]
        self.oauth2_data = {**credentials, "scopes": scopes, "aud": request.GET.get("aud", "")}
        self.oauth2_data["launch"] = request.GET.get("launch", "")
        return self.render_to_response(
            self.get_context_data(
                application=application,
                scopes=[(s, describe(s)) for s in scopes],
                patients=picker,
                form=self.get_form(),
            )
        )

    def _picker(
        self, request: HttpRequest, scopes: list[str], credentials: dict[str, Any]
    ) -> list[str]:
        try:
            return launch_picker(
                user=request.user, scopes=scopes, launch_id=request.GET.get("launch", "")
            )
        except LaunchRefused as refusal:
            raise _refusal(str(refusal), credentials) from None

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        initial.update(
            aud=self.oauth2_data.get("aud", ""), launch=self.oauth2_data.get("launch", "")
        )
        return initial

    def form_valid(self, form: ConsentForm) -> HttpResponse:
        data = form.cleaned_data
        application = get_application_model().objects.get(client_id=data["client_id"])
        self.request.csp_redirect_uri = data["redirect_uri"]
        credentials = form.credentials()
        requested = data["scope"].split()
        granted = [s for s in requested if s in self.request.POST.getlist("granted")]
        try:
            credentials["smart_launch"] = self._launch(requested, data)
            allow = bool(data.get("allow")) and bool(granted)
            uri, _, _, _ = self.create_authorization_response(
                request=self.request, scopes=" ".join(granted), credentials=credentials, allow=allow
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def _launch(self, requested: list[str], data: dict[str, Any]) -> LaunchFields:
        try:
            return launch_resolve(
                user=self.request.user,
                scopes=requested,
                launch_id=data["launch"],
                chosen_patient=data["patient"],
            )
        except LaunchRefused as refusal:
            raise _refusal(str(refusal), data) from None


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


@method_decorator(rate_limited("token"), name="dispatch")
class TokenView(dot.TokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _no_store(super().post(request, *args, **kwargs))


@method_decorator(rate_limited("token"), name="dispatch")
class RevokeView(dot.RevokeTokenView):
    pass


@csrf_exempt
@rate_limited("token")
def introspect(request: HttpRequest) -> HttpResponse:
    """RFC 7662: for an authenticated client or a token holding the `introspection` scope."""
    if request.method != "POST":
        return _no_store(JsonResponse({"error": "invalid_request"}, status=405))
    if not introspection_caller_ok(request):
        response = JsonResponse({"error": "invalid_client"}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="oauth", Bearer realm="oauth"'
        return _no_store(response)
    return _no_store(JsonResponse(token_introspection(request.POST.get("token", ""))))
