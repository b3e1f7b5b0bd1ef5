"""Receipts: catalogue prices, the two demo stores' tax rules, rounding, holds, no floats."""

import dataclasses
import enum
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwo_billing.receipt import CartLine, Receipt, ReceiptStatus, build_receipt, exact_tax
from jwo_common.store_config import load_store_config

CONFIG_DIR = Path(__file__).resolve().parents[3] / 'config'
LONDON = load_store_config(CONFIG_DIR / 'london' / 'store.yaml')
SEATTLE = load_store_config(CONFIG_DIR / 'seattle' / 'store.yaml')


def with_tax(config, **changes):
    return config.model_copy(update={'tax': config.tax.model_copy(update=changes)})


def test_london_vat_is_contained_in_prices_and_rounded_per_line():
    receipt = build_receipt([CartLine('GB-CRISPS-6', 3), CartLine('GB-MILK-1L', 2)], LONDON)
    crisps, milk = receipt.lines
    assert (crisps.unit_price_minor, crisps.line_total_minor) == (210, 630)
    assert crisps.tax_minor == 105                      # 630 * 20/120 = 105 exactly
    assert (milk.line_total_minor, milk.tax_minor) == (230, 0)
    assert (receipt.subtotal_minor, receipt.tax_minor, receipt.total_minor) == (860, 105, 860)
    assert receipt.currency == 'GBP' and receipt.prices_include_tax
    assert receipt.status is ReceiptStatus.PAYABLE


def test_vat_per_line_rounds_each_line_half_up():
    # 175 * 20/120 = 29.1666.. -> 29; 95 * 20/120 = 15.8333.. -> 16
    receipt = build_receipt([CartLine('GB-COLA-500', 1), CartLine('GB-WATER-750', 1)], LONDON)
    assert [line.tax_minor for line in receipt.lines] == [29, 16]
    assert receipt.tax_minor == 45


def test_seattle_sales_tax_is_added_once_per_receipt():
    # Taxable 179 + 179 = 358 -> 358 * 10.35% = 37.053 -> 37; per line it would be 19 + 19 = 38.
    receipt = build_receipt([CartLine('US-SODA-12', 2), CartLine('US-MILK-GAL', 1)], SEATTLE)
    assert receipt.subtotal_minor == 358 + 489
    assert receipt.tax_minor == 37
    assert receipt.total_minor == 358 + 489 + 37
    assert [line.tax_minor for line in receipt.lines] == [37, 0]
    per_line = build_receipt([CartLine('US-SODA-12', 1), CartLine('US-SODA-12D', 1)],
                             with_tax(SEATTLE, round_per='line'))
    assert per_line.tax_minor == 38


def test_per_receipt_class_tax_is_spread_over_its_lines():
    receipt = build_receipt([CartLine('US-SODA-12', 1), CartLine('US-GUM-14', 1),
                             CartLine('US-COFFEE-16', 1)], SEATTLE)
    # (179 + 179 + 449) * 10.35% = 83.5245 -> 84; shares 18.5265, 18.5265, 46.4715: floors
    # 18 + 18 + 46 = 82, the 2 left over go to the largest remainders.
    assert receipt.tax_minor == 84
    assert [line.tax_minor for line in receipt.lines] == [19, 19, 46]


def test_ties_round_half_up_or_half_even_as_configured():
    # 3 x 69 pence at 20 % VAT included: 207 * 20/120 = 34.5 exactly.
    cart = [CartLine('GB-PARACET-16', 3)]
    assert build_receipt(cart, LONDON).tax_minor == 35
    assert build_receipt(cart, with_tax(LONDON, rounding='half_even')).tax_minor == 34


def test_age_restricted_items_hold_the_receipt_for_staff():
    receipt = build_receipt([CartLine('GB-ALE-500', 2), CartLine('GB-MILK-1L', 1)], LONDON)
    assert receipt.status is ReceiptStatus.HELD
    assert receipt.held_reasons == ('age check for GB-ALE-500',)
    assert receipt.total_minor == 2 * 260 + 115           # staff still see what is owed


@pytest.mark.parametrize('cart, pending_review, reason', [
    ([CartLine('NOPE', 1)], False, "unknown SKU 'NOPE' in the cart"),
    ([CartLine('GB-MILK-1L', -1)], False, 'negative quantity -1 of GB-MILK-1L'),
    ([CartLine('GB-MILK-1L', 1)], True, 'the cart waits for a review decision'),
])
def test_carts_a_person_must_check_are_held(cart, pending_review, reason):
    receipt = build_receipt(cart, LONDON, pending_review)
    assert receipt.status is ReceiptStatus.HELD and receipt.held_reasons == (reason,)


def test_empty_and_zero_quantity_lines_cost_nothing():
    receipt = build_receipt([CartLine('GB-MILK-1L', 0)], LONDON)
    assert (receipt.lines, receipt.total_minor, receipt.status) == ((), 0, ReceiptStatus.PAYABLE)


def test_a_receipt_survives_the_ledger_record_round_trip():
    receipt = build_receipt([CartLine('US-IPA-6', 1), CartLine('US-SALAD', 2)], SEATTLE)
    assert Receipt.from_record(receipt.to_record()) == receipt


def assert_no_float(value, path='receipt'):
    assert not isinstance(value, float), f'{path} is a float: {value!r}'
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            assert_no_float(getattr(value, field.name), f'{path}.{field.name}')
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            assert_no_float(item, f'{path}[{i}]')
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_no_float(item, f'{path}[{key!r}]')
    else:
        assert isinstance(value, (int, str, bool, enum.Enum)), f'{path}: {type(value)}'


def test_assert_no_float_can_fail():
    with pytest.raises(AssertionError, match='unit_price_minor'):
        assert_no_float(build_receipt([CartLine('GB-MILK-1L', 1)], LONDON).lines[0].__class__(
            'x', 'x', 1, 1.15, 1, 'zero', 0))


CONFIGS = [LONDON, SEATTLE, with_tax(LONDON, round_per='receipt', rounding='half_even'),
           with_tax(SEATTLE, round_per='line', rounding='half_even'),
           with_tax(LONDON, prices_include_tax=False), with_tax(SEATTLE, prices_include_tax=True)]


@st.composite
def carts(draw):
    config = draw(st.sampled_from(CONFIGS))
    skus = [p.sku for p in config.products]
    lines = draw(st.lists(st.builds(CartLine, st.sampled_from(skus), st.integers(0, 40)),
                          max_size=12))
    return config, lines


@settings(max_examples=300, deadline=None)
@given(carts())
def test_receipt_totals_hold_for_any_cart(config_and_cart):
    config, cart = config_and_cart
    receipt = build_receipt(cart, config)
    assert_no_float(receipt)
    assert_no_float(receipt.to_record())
    assert sum(line.line_total_minor for line in receipt.lines) == receipt.subtotal_minor
    assert sum(line.tax_minor for line in receipt.lines) == receipt.tax_minor
    def exact(amount_minor: int, tax_class: str) -> Fraction:
        # Exact rational tax, free of Decimal's 28-digit rounding, to judge the rounding by.
        rate = Fraction(config.tax.classes[tax_class].rate_percent)
        return amount_minor * rate / ((100 + rate) if config.tax.prices_include_tax else 100)

    for line in receipt.lines:
        assert line.line_total_minor == line.quantity * line.unit_price_minor
        # A line's tax is its exact share rounded (per line) or floored/ceiled (per receipt).
        assert abs(line.tax_minor - exact(line.line_total_minor, line.tax_class)) < 1
    roundings = len(receipt.lines) if config.tax.round_per == 'line' else \
        len({line.tax_class for line in receipt.lines})
    assert abs(receipt.tax_minor - sum(exact(line.line_total_minor, line.tax_class)
                                       for line in receipt.lines)) <= Fraction(1, 2) * roundings
    expected_total = receipt.subtotal_minor + (0 if config.tax.prices_include_tax
                                               else receipt.tax_minor)
    assert receipt.total_minor == expected_total
    assert receipt.tax_minor <= receipt.total_minor
