from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user.given_name = form.cleaned_data.get("given_name", "").strip()
        user.family_name = form.cleaned_data.get("family_name", "").strip()
        return super().save_user(request, user, form, commit=commit)
