"""Routes of the authorisation server, mounted at /oauth/ (DOT's namespace, so DOT can reverse
its own names), and of the login page at /accounts/."""

from django.urls import path, re_path
from oauth2_provider import views as dot

from access import launch_views, login_views, views

app_name = "oauth2_provider"

urlpatterns = [
    re_path(r"^authorize/?$", views.AuthorizeView.as_view(), name="authorize"),
    re_path(r"^token/?$", views.TokenView.as_view(), name="token"),
    re_path(r"^revoke/?$", views.RevokeView.as_view(), name="revoke-token"),
    re_path(r"^introspect/?$", views.introspect, name="introspect"),
    re_path(r"^jwks/?$", dot.JwksInfoView.as_view(), name="jwks-info"),
    re_path(r"^userinfo/?$", dot.UserInfoView.as_view(), name="user-info"),
    re_path(r"^launch/?$", launch_views.launch, name="launch"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        dot.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
]

account_urlpatterns = [
    path("login/", login_views.LoginView.as_view(), name="login"),
]
