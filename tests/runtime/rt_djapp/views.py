from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from orgguard.runtime import current_org
from orgguard.runtime.django import OrgRequiredMixin, org_required, switch_org
from rt_djapp.models import Invoice


@org_required
def invoice_list(request: HttpRequest) -> JsonResponse:
    ctx = current_org()
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    return JsonResponse({"org": ctx.org_id, "role": ctx.role, "numbers": numbers})


@org_required
async def invoice_count(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"org": current_org().org_id, "count": await Invoice.objects.acount()})


class InvoiceTotal(OrgRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"total": sum(Invoice.objects.values_list("amount", flat=True))})


def switch(request: HttpRequest, org_id: int | str) -> HttpResponse:
    ctx = switch_org(request, org_id)
    return JsonResponse({"org": ctx.org_id})


def unguarded(request: HttpRequest) -> JsonResponse:
    # No org_required: the manager still refuses to run without a bound org.
    return JsonResponse({"count": Invoice.objects.count()})
