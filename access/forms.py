"""Forms of the authorisation server's pages: the consent form (DOT's, plus SMART fields)."""

from typing import Any

from django import forms
from oauth2_provider.forms import AllowForm


class ConsentForm(AllowForm):
    """DOT's hidden authorization-request fields, plus `aud`, the EHR `launch` and the chosen
    patient. The ticked scopes arrive as repeated `granted` checkboxes, read by the view."""

    aud = forms.CharField(required=False, widget=forms.HiddenInput())
    launch = forms.CharField(required=False, widget=forms.HiddenInput())
    patient = forms.CharField(required=False)

    def credentials(self) -> dict[str, Any]:
        """The oauthlib credentials the authorization request is re-validated with."""
        data = self.cleaned_data
        credentials = {
            key: data.get(key)
            for key in ("client_id", "redirect_uri", "response_type", "state", "aud")
        }
        for optional in ("code_challenge", "code_challenge_method", "nonce", "claims"):
            if data.get(optional):
                credentials[optional] = data[optional]
        return credentials
