"""Money is held in integer pence and written out one way: ``members.models.pounds``."""

import pytest

from members.models import Grade, Invoice, Payment, Refund, pounds


@pytest.mark.parametrize(
    ("pence", "for_people", "plain"),
    [
        (0, "£0.00", "0.00"),
        (5, "£0.05", "0.05"),
        (9550, "£95.50", "95.50"),
        (123456789, "£1,234,567.89", "1234567.89"),
        (-2500, "-£25.00", "-25.00"),
    ],
)
def test_pounds_for_people_and_for_spreadsheets(pence, for_people, plain):
    assert pounds(pence) == for_people
    assert pounds(pence, plain=True) == plain


def test_every_amount_on_a_model_is_written_by_pounds():
    """Regression: four copies of the formatting (three models and the CSV export)
    drifted apart; the models now all ask ``pounds``."""
    assert Grade(annual_fee_pence=123456).annual_fee_display == "£1,234.56"
    for model in (Invoice, Payment, Refund):
        assert model(amount_pence=123456).amount_display == "£1,234.56"
