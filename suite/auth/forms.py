"""Forms of the login and account-security pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from suite.auth.services import login_check


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username or email"),
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": _("The username/email or password is not correct."),
        "inactive": _("This account is inactive."),
        "locked": _("Too many failed attempts: this account is locked for a while."),
    }

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user = None
        self.locked_out = False
        super().__init__(*args, **kwargs)

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username and password:
            result = login_check(request=self.request, identifier=username, password=password)
            self.locked_out = result.locked_out
            if result.locked_out:
                raise forms.ValidationError(self.error_messages["locked"], code="locked")
            if result.user is None:
                raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
            if not result.user.is_active:
                raise forms.ValidationError(self.error_messages["inactive"], code="inactive")
            self.user = result.user
        return self.cleaned_data


class OneTimeCodeForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The 6-digit code of your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class AuthenticatorConfirmForm(forms.Form):
    token = forms.CharField(
        label=_("Code from the app"),
        max_length=10,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"), max_length=100, help_text=_("What the token is for, e.g. “ERP sync”.")
    )
