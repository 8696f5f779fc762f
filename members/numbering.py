"""Numbers people read and type: membership numbers with a check digit, and
invoice and receipt numbers, each from its own never-reused series."""

from members.models import NumberCounter

# The Damm algorithm's quasigroup: its check digit catches every single-digit
# error and every swap of two adjacent digits (Luhn misses 09 <-> 90).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

MEMBERSHIP_NUMBER_START = 100000


def damm_check_digit(digits: str) -> str:
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][int(digit)]
    return str(interim)


def membership_number_is_valid(number: str) -> bool:
    """True if the number is all digits and its last digit checks the rest."""
    number = number.strip()
    return len(number) >= 2 and number.isdigit() and damm_check_digit(number) == "0"


def number_next(*, series: str, start: int = 0) -> int:
    """The next value in a series. Call inside a transaction: the row stays
    locked until it commits, so concurrent callers queue rather than collide."""
    NumberCounter.objects.get_or_create(name=series, defaults={"last_value": start})
    counter = NumberCounter.objects.select_for_update().get(name=series)
    counter.last_value += 1
    counter.save(update_fields=["last_value"])
    return counter.last_value


def membership_number_allocate() -> str:
    base = str(number_next(series="membership", start=MEMBERSHIP_NUMBER_START))
    return base + damm_check_digit(base)
