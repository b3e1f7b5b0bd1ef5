"""A receipt from a cart and the store's catalogue and tax rules, in integer minor units.

Money is an `int` of the currency's minor unit (pence, cents) everywhere; `Decimal` is used
only inside the tax arithmetic and every result is rounded back to an `int`.

Rounding rules (the store config's `tax` section):
- `line_total_minor = quantity * unit_price_minor`, exact.
- Prices include tax (UK VAT): the total is the sum of the line totals; the tax it contains
  is `amount * r / (100 + r)` for a class rate of `r` percent.
- Prices exclude tax (US sales tax): the tax is `amount * r / 100` and is added on top:
  `total = subtotal + tax`.
- `round_per: line`: the tax of each line is rounded on its own; the receipt's tax is the
  sum of the lines' (rounded) taxes.
- `round_per: receipt`: the tax is rounded once per tax class, on the sum of that class's
  lines; that class tax is then spread over its lines (each gets its exact share rounded
  down, the leftover minor units go to the lines with the largest remainders), so the
  lines' taxes still add up to the receipt's tax.
- Rounding is to the nearest minor unit, ties `half_up` (away from zero) or `half_even`.

A receipt is `HELD` rather than charged when a person must look first: an age-restricted
item (staff check the shopper's ID), a line the cart wants reviewed, an unknown SKU or a
negative quantity. A held receipt still carries its amounts, for the staff screen.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from jwo_common.store_config import StoreConfig

_ROUNDING = {'half_up': ROUND_HALF_UP, 'half_even': ROUND_HALF_EVEN}


class ReceiptStatus(enum.Enum):
    PAYABLE = 'payable'
    HELD = 'held'


@dataclass(frozen=True)
class CartLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ReceiptLine:
    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int
    tax_class: str
    tax_minor: int


@dataclass(frozen=True)
class Receipt:
    currency: str
    prices_include_tax: bool
    lines: tuple[ReceiptLine, ...]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    status: ReceiptStatus
    held_reasons: tuple[str, ...] = ()

    def to_record(self) -> dict:
        """Plain JSON-able form for the ledger (ints and strings only)."""
        return {'currency': self.currency, 'prices_include_tax': self.prices_include_tax,
                'lines': [vars(line) for line in self.lines],
                'subtotal_minor': self.subtotal_minor, 'tax_minor': self.tax_minor,
                'total_minor': self.total_minor, 'status': self.status.value,
                'held_reasons': list(self.held_reasons)}

    @classmethod
    def from_record(cls, record: dict) -> Receipt:
        return cls(currency=record['currency'], prices_include_tax=record['prices_include_tax'],
                   lines=tuple(ReceiptLine(**line) for line in record['lines']),
                   subtotal_minor=record['subtotal_minor'], tax_minor=record['tax_minor'],
                   total_minor=record['total_minor'], status=ReceiptStatus(record['status']),
                   held_reasons=tuple(record['held_reasons']))


def _round(amount: Decimal, rounding: str) -> int:
    return int(amount.quantize(Decimal(1), rounding=_ROUNDING[rounding]))


def exact_tax(amount_minor: int, rate_percent: Decimal, prices_include_tax: bool) -> Decimal:
    """The unrounded tax on `amount_minor` (contained in it, or to add to it)."""
    if prices_include_tax:
        return Decimal(amount_minor) * rate_percent / (Decimal(100) + rate_percent)
    return Decimal(amount_minor) * rate_percent / Decimal(100)


def _spread(total_minor: int, shares: list[Decimal]) -> list[int]:
    """Splits `total_minor` over `shares` (which sum to about it) by largest remainder."""
    floors = [int(s.to_integral_value(rounding=ROUND_FLOOR)) for s in shares]
    leftover = total_minor - sum(floors)
    # Stable order: ties go to the earlier line, so the same cart always gives the same receipt.
    by_remainder = sorted(range(len(shares)), key=lambda i: (floors[i] - shares[i], i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return floors


def build_receipt(cart: list[CartLine], config: StoreConfig,
                  pending_review: bool = False) -> Receipt:
    """The receipt for `cart` (lines of zero quantity are left out)."""
    rules = config.tax
    held: list[str] = []
    lines: list[ReceiptLine] = []
    for item in cart:
        if item.quantity == 0:
            continue
        try:
            product = config.product(item.sku)
        except KeyError:
            held.append(f'unknown SKU {item.sku!r} in the cart')
            continue
        if item.quantity < 0:
            held.append(f'negative quantity {item.quantity} of {item.sku}')
            continue
        if product.age_restricted:
            held.append(f'age check for {item.sku}')
        lines.append(ReceiptLine(
            sku=product.sku, name=product.name, quantity=item.quantity,
            unit_price_minor=product.price_minor,
            line_total_minor=item.quantity * product.price_minor,
            tax_class=product.tax_class, tax_minor=0))
    if pending_review:
        held.append('the cart waits for a review decision')

    def rate(line: ReceiptLine) -> Decimal:
        return rules.classes[line.tax_class].rate_percent

    shares = [exact_tax(line.line_total_minor, rate(line), rules.prices_include_tax)
              for line in lines]
    if rules.round_per == 'line':
        taxes = [_round(share, rules.rounding) for share in shares]
    else:
        taxes = [0] * len(lines)
        by_class: dict[str, list[int]] = defaultdict(list)
        for i, line in enumerate(lines):
            by_class[line.tax_class].append(i)
        for tax_class, indices in by_class.items():
            class_tax = _round(exact_tax(sum(lines[i].line_total_minor for i in indices),
                                         rules.classes[tax_class].rate_percent,
                                         rules.prices_include_tax), rules.rounding)
            for i, tax in zip(indices, _spread(class_tax, [shares[i] for i in indices])):
                taxes[i] = tax
    lines = [ReceiptLine(**{**vars(line), 'tax_minor': tax}) for line, tax in zip(lines, taxes)]
    subtotal = sum(line.line_total_minor for line in lines)
    tax = sum(taxes)
    return Receipt(currency=config.store.currency, prices_include_tax=rules.prices_include_tax,
                   lines=tuple(lines), subtotal_minor=subtotal, tax_minor=tax,
                   total_minor=subtotal if rules.prices_include_tax else subtotal + tax,
                   status=ReceiptStatus.HELD if held else ReceiptStatus.PAYABLE,
                   held_reasons=tuple(held))


def correction_receipt(charged: Receipt, corrected: Receipt) -> Receipt:
    """What changes from the receipt that was charged to the corrected one: a line per SKU
    whose quantity or amounts differ (negative where money goes back), and the totals'
    differences, so `charged.total_minor + correction.total_minor == corrected.total_minor`."""
    before = {line.sku: line for line in charged.lines}
    after = {line.sku: line for line in corrected.lines}
    lines = []
    for sku in [*after, *(sku for sku in before if sku not in after)]:
        old, new = before.get(sku), after.get(sku)
        template = new or old
        change = ReceiptLine(
            sku=sku, name=template.name,
            quantity=(new.quantity if new else 0) - (old.quantity if old else 0),
            unit_price_minor=template.unit_price_minor,
            line_total_minor=(new.line_total_minor if new else 0) -
            (old.line_total_minor if old else 0),
            tax_class=template.tax_class,
            tax_minor=(new.tax_minor if new else 0) - (old.tax_minor if old else 0))
        if change.quantity or change.line_total_minor or change.tax_minor:
            lines.append(change)
    return Receipt(currency=corrected.currency, prices_include_tax=corrected.prices_include_tax,
                   lines=tuple(lines),
                   subtotal_minor=corrected.subtotal_minor - charged.subtotal_minor,
                   tax_minor=corrected.tax_minor - charged.tax_minor,
                   total_minor=corrected.total_minor - charged.total_minor,
                   status=ReceiptStatus.PAYABLE)


def format_minor(amount_minor: int, currency: str, exponent: int) -> str:
    """`860, 'GBP', 2` -> `8.60 GBP`, in integer arithmetic."""
    sign = '-' if amount_minor < 0 else ''
    if exponent == 0:
        return f'{sign}{abs(amount_minor)} {currency}'
    major, minor = divmod(abs(amount_minor), 10 ** exponent)
    return f'{sign}{major}.{minor:0{exponent}d} {currency}'
