from __future__ import annotations

from django.urls import path

from rt_djapp import views

urlpatterns = [
    path("invoices/", views.invoice_list),
    path("invoices/count/", views.invoice_count),
    path("invoices/total/", views.InvoiceTotal.as_view()),
    path("switch/<int:org_id>/", views.switch),
    path("switch-raw/<str:org_id>/", views.switch),  # ids straight from the URL, unconverted
    path("unguarded/", views.unguarded),
]
