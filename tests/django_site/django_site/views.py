"""The JSON endpoints the Rust interop tests read (the login, logout and password change
pages are Django's own views, see urls.py)."""

import json

from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_GET, require_POST


def _state(request):
    """What Django makes of this request's session: the user and every session entry.

    Only reads: a session that is not there stays not there. Reading request.user may
    flush a session whose auth hash no longer matches the user's password, as Django
    always does.
    """
    user = request.user
    return {
        "user": {
            "id": user.pk,
            "username": user.get_username(),
            "is_authenticated": user.is_authenticated,
            "is_staff": user.is_staff,
            "is_active": user.is_active,
        },
        "session_key": request.session.session_key,
        "session": dict(request.session.items()),
    }


@require_GET
def whoami(request):
    return JsonResponse(_state(request))


@require_POST
def session_set(request):
    """Form fields key and value (JSON): request.session[key] = value, then /whoami/'s answer.

    session_key is null for a session this request creates: the middleware saves it after
    the view (the Set-Cookie header carries the new key).
    """
    key = request.POST.get("key", "")
    if not key:
        return JsonResponse({"error": "the key field is missing"}, status=400)
    try:
        value = json.loads(request.POST.get("value", ""))
    except ValueError:
        return JsonResponse({"error": "the value field is not JSON"}, status=400)
    request.session[key] = value
    return JsonResponse(_state(request))


@require_GET
def csrf(request):
    return JsonResponse({"token": get_token(request)})


@require_POST
def csrf_check(request):
    return JsonResponse({"ok": True})
