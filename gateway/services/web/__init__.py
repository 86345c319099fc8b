"""Services behind the web pages (issue 11): server-side sessions, staff OIDC sign-in, the
development staff identity provider. Pages call these and the same services the JSON API calls."""
