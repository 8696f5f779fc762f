import threading

import pytest
from django.db import connection, transaction

from members.models import NumberCounter
from members.numbering import (
    damm_check_digit,
    membership_number_allocate,
    membership_number_is_valid,
)

NUMBERS = [
    f"{n}{damm_check_digit(str(n))}" for n in (100001, 100002, 123456, 909090, 555555, 100999)
]


@pytest.mark.parametrize("number", NUMBERS)
def test_check_digit_accepts_the_number_and_rejects_every_single_digit_typo(number):
    assert membership_number_is_valid(number)
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                typo = number[:position] + digit + number[position + 1 :]
                assert not membership_number_is_valid(typo), typo


@pytest.mark.parametrize("number", NUMBERS)
def test_check_digit_rejects_every_swap_of_adjacent_digits(number):
    for position in range(len(number) - 1):
        a, b = number[position], number[position + 1]
        if a != b:
            swapped = number[:position] + b + a + number[position + 2 :]
            assert not membership_number_is_valid(swapped), swapped


def test_rejects_non_numbers():
    assert not membership_number_is_valid("")
    assert not membership_number_is_valid("12a4")


@pytest.mark.django_db
def test_numbers_are_allocated_in_order_and_never_reused():
    with transaction.atomic():
        first = membership_number_allocate()
        second = membership_number_allocate()
    assert (first[:-1], second[:-1]) == ("100001", "100002")
    # A rolled-back allocation hands out nothing; the next number follows the last given.
    with pytest.raises(RuntimeError), transaction.atomic():
        membership_number_allocate()
        raise RuntimeError
    with transaction.atomic():
        assert membership_number_allocate()[:-1] == "100003"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_allocation_never_duplicates():
    NumberCounter.objects.create(name="membership", last_value=100000)
    workers, each = 8, 15
    barrier = threading.Barrier(workers)
    numbers, errors = [], []
    lock = threading.Lock()

    def allocate():
        try:
            barrier.wait()
            for _ in range(each):
                with transaction.atomic():
                    number = membership_number_allocate()
                with lock:
                    numbers.append(number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == len(set(numbers)) == workers * each
    assert sorted(int(n[:-1]) for n in numbers) == list(range(100001, 100001 + workers * each))
