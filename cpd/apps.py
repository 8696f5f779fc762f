from django.apps import AppConfig


class CPDConfig(AppConfig):
    name = "cpd"
    verbose_name = "CPD"
