from django.apps import AppConfig


class APIConfig(AppConfig):
    name = "api"
    verbose_name = "Employer API"
