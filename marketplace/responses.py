from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect


def htmx_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that also works from an htmx dialog: a full page load, not a swap."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
