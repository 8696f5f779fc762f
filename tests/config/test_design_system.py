import re
from pathlib import Path

import pytest
from django import forms
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


class ExampleForm(forms.Form):
    name = forms.CharField(label="Full name", help_text="As it should appear on certificates")
    level = forms.ChoiceField(
        label="Management level",
        choices=[("first-line", "First-line"), ("middle", "Middle")],
        widget=forms.RadioSelect,
    )
    organisation = forms.ChoiceField(choices=[("", "Choose"), ("a", "Trust A")])
    notes = forms.CharField(widget=forms.Textarea, required=False)
    consent = forms.BooleanField(label="Show me on the public register")


def test_valid_form_renders_design_system_markup_without_errors():
    html = str(ExampleForm())
    assert "nhsuk-error-summary" not in html
    assert 'class="nhsuk-label" for="id_name"' in html
    assert re.search(r'<input type="text" name="name"[^>]*class="nhsuk-input"', html)
    assert 'id="id_name_helptext"' in html
    assert 'aria-describedby="id_name_helptext"' in html
    assert '<legend class="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">' in html
    assert html.count('class="nhsuk-radios__input"') == 2
    assert 'class="nhsuk-select"' in html
    assert 'class="nhsuk-textarea"' in html
    assert 'class="nhsuk-checkboxes__input"' in html


def test_invalid_form_links_the_error_summary_to_each_field():
    html = str(ExampleForm(data={"name": "", "level": "nonsense"}))
    summary = html.split('nhsuk-error-summary__list"')[1].split("</ul>")[0]
    assert '<a href="#id_name">This field is required.</a>' in summary
    assert '<a href="#id_level_0">' in summary
    assert '<a href="#id_consent">' in summary
    # Each field shows its own message, announced with the input.
    assert 'id="id_name_error"' in html
    assert re.search(r'<input[^>]*name="name"[^>]*class="nhsuk-input nhsuk-input--error"', html)
    assert re.search(
        r'<input[^>]*name="name"[^>]*aria-describedby="id_name_helptext id_name_error"', html
    )
    assert re.search(r'<input[^>]*name="name"[^>]*aria-invalid="true"', html)
    assert "nhsuk-form-group nhsuk-form-group--error" in html
    assert '<fieldset class="nhsuk-fieldset" aria-describedby="id_level_error">' in html


def test_built_css_requests_no_other_host():
    css = (ROOT / "static" / "dist" / "main.css").read_text()
    assert "Frutiger" not in css
    assert 'html{font-family:Arial,"Liberation Sans"' in css
    urls = re.findall(r"url\(([^)]*)\)", css)
    assert urls, "expected the frontend's icons"
    assert not [u for u in urls if "//" in u or u.strip("\"'").startswith("/")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/", "The professional body for health service managers"),
        ("/accessibility/", "Accessibility statement"),
        ("/privacy/", "Privacy notice"),
    ],
)
def test_public_pages_use_the_layout(client, path, heading):
    response = client.get(path)
    assert response.status_code == 200
    html = response.text
    assert html.count("<h1") == 1
    assert f"<h1>{heading}</h1>" in html
    assert '<a class="nhsuk-skip-link" data-module="nhsuk-skip-link" href="#maincontent">' in html
    assert 'id="maincontent"' in html
    assert 'href="/accessibility/"' in html and 'href="/privacy/"' in html
    assert "not part of the NHS" in html
    assert re.search(r"<title>.+ – Institute of Health Service Managers</title>", html)
