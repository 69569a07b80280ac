"""Matching the hub's lines against a supplier's, as columns (polars): pure, no database.

    result = match(hub, supplier, rules)    # frames with COLUMNS; rules: ``rules.Rules``
    result.lines    one row per line: side (hub | supplier), id, group
    result.groups   one row per group: outcome, key, key_value, n_hub, n_supplier,
                    hub_minor, supplier_minor, difference_minor, conflict, tolerated

Every line ends in exactly one group. In order:

1. **Duplicates**: a supplier line identical to an earlier one (keys, amount, day) beyond
   as many as the hub itself has is ``duplicate``, on its own — unless the sums of its
   first key agree with it counted (two rows of ¥50 for the hub's ¥100: units, not copies).
2. **Keys**, in the rules' priority (``document``, ``order``, ``waybill``): the lines not
   yet grouped that carry the key are summed per key value on each side; a value found on
   both sides makes one group of all its lines, one-to-one, many-to-one, one-to-many.
   The group is ``matched`` when the sums agree, ``written_off`` when the difference is
   within the tolerance and the write-off limit, else ``matched_with_difference``; and a
   group whose other keys contradict each other (both sides name a waybill, and not the
   same: swapped keys) is ``matched_with_difference`` whatever the sums (``conflict``).
3. **amount_date**: what is left pairs one to one by the same amount within the date
   window, nearest days first, where no key contradicts (one side or the other lacks it).
4. The rest is ``only_in_hub`` or ``only_in_supplier``, a group of one.

Keys compare as given: ``frame`` trims and upper-cases them (``key``); the order key holds
the line only when both sides name lines. Deterministic: the same frames give the same
groups, numbered in the order above, by key value within a pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hub.domain.finance.rules import Rules

COLUMNS = {"id": pl.Int64, "document_ref": pl.String, "order_no": pl.String,
           "line_ref": pl.String, "waybill": pl.String, "amount_minor": pl.Int64,
           "day": pl.Date}
KEYED = ("document", "order", "waybill")
_TEXT = ("document_ref", "order_no", "line_ref", "waybill")
_KEY_COLUMN = {"document": "k_document", "order": "k_order", "waybill": "k_waybill"}
_DUPLICATE_BY = ["document_ref", "order_no", "line_ref", "waybill", "amount_minor", "day"]
_GROUP = {"group": pl.Int64, "outcome": pl.String, "key": pl.String, "key_value": pl.String,
          "n_hub": pl.Int64, "n_supplier": pl.Int64, "hub_minor": pl.Int64,
          "supplier_minor": pl.Int64, "conflict": pl.Boolean}


@dataclass(frozen=True)
class Result:
    lines: pl.DataFrame
    groups: pl.DataFrame

    def counts(self) -> dict[str, int]:
        """Lines per outcome."""
        joined = self.lines.join(self.groups.select("group", "outcome"), on="group")
        return dict(joined.group_by("outcome").len().sort("outcome").iter_rows())


def frame(rows: list[dict]) -> pl.DataFrame:
    """Rows with the ``COLUMNS`` (missing ones null) as a frame to match, their keys
    normalised (``key``)."""
    return pl.DataFrame([{c: key(row.get(c)) if c in _TEXT else row.get(c) for c in COLUMNS}
                         for row in rows], schema=COLUMNS, orient="row")


def key(value: str | None) -> str | None:
    """A key as it is compared: trimmed, upper-case, None when blank."""
    value = (value or "").strip().upper()
    return value or None


def match(hub: pl.DataFrame, supplier: pl.DataFrame, rules: Rules) -> Result:
    by_line = all(side["line_ref"].null_count() < side.height for side in (hub, supplier))
    pool_h, pool_s = _keyed(hub, by_line), _keyed(supplier, by_line)
    lines, groups, next_group = [], [], 0

    duplicates = _duplicates(pool_h, pool_s, rules.keys)
    if duplicates.height:
        pool_s = pool_s.join(duplicates.select("id"), on="id", how="anti")
        made = _singles(duplicates, "supplier", "duplicate", next_group)
        next_group = _add(lines, groups, made, next_group)

    for key in (k for k in rules.keys if k in KEYED):
        made, pool_h, pool_s = _by_key(pool_h, pool_s, key, rules, next_group)
        next_group = _add(lines, groups, made, next_group)

    if "amount_date" in rules.keys and pool_h.height and pool_s.height:
        made, pool_h, pool_s = _by_amount_date(pool_h, pool_s, rules, next_group)
        next_group = _add(lines, groups, made, next_group)

    next_group = _add(lines, groups, _singles(pool_h, "hub", "only_in_hub", next_group),
                      next_group)
    _add(lines, groups, _singles(pool_s, "supplier", "only_in_supplier", next_group),
         next_group)
    all_groups = pl.concat(groups, how="vertical") if groups else pl.DataFrame(schema=_GROUP)
    all_groups = all_groups.with_columns(
        difference_minor=pl.col("supplier_minor") - pl.col("hub_minor"))
    all_groups = all_groups.with_columns(tolerated=_tolerated(rules))
    all_lines = pl.concat(lines, how="vertical") if lines else pl.DataFrame(
        schema={"side": pl.String, "id": pl.Int64, "group": pl.Int64})
    return Result(all_lines, all_groups)


def _keyed(rows: pl.DataFrame, by_line: bool) -> pl.DataFrame:
    rows = rows.select(list(COLUMNS)).rechunk()  # one chunk: hashes and joins run faster
    order = (pl.concat_str("order_no", pl.lit("\x1f"), "line_ref") if by_line
             else pl.col("order_no"))
    return rows.with_columns(k_document=pl.col("document_ref"), k_order=order,
                             k_waybill=pl.col("waybill"))


def _add(lines: list, groups: list, made: tuple, next_group: int) -> int:
    made_lines, made_groups = made
    if made_groups.height:
        lines.append(made_lines)
        groups.append(made_groups.select(list(_GROUP)).cast(_GROUP))
    return next_group + made_groups.height


def _duplicates(hub: pl.DataFrame, supplier: pl.DataFrame, keys) -> pl.DataFrame:
    """Supplier lines repeating an earlier one beyond the hub's own count of it, unless the
    sums of their key agree with them (``_summing``)."""
    fingerprint = pl.struct(_DUPLICATE_BY).hash()
    candidates = supplier.filter(fingerprint.is_duplicated())
    if not candidates.height:
        return candidates
    candidates = candidates.sort("id").with_columns(
        rank=pl.int_range(pl.len()).over(_DUPLICATE_BY))
    in_hub = hub.join(candidates.select(_DUPLICATE_BY[:-1]).unique(), on=_DUPLICATE_BY[:-1],
                      how="semi", nulls_equal=True).group_by(_DUPLICATE_BY[:-1]).agg(n=pl.len())
    candidates = candidates.join(in_hub, on=_DUPLICATE_BY[:-1], how="left",
                                 nulls_equal=True)
    flagged = candidates.filter(
        pl.col("rank") >= pl.max_horizontal(pl.col("n").fill_null(0), 1))
    return flagged.filter(~pl.col("id").is_in(_summing(hub, supplier, flagged, keys)))


def _summing(hub, supplier, flagged, keys) -> list[int]:
    """The repeated rows whose key's sums agree as they stand: rows of units, not copies
    (two rows of ¥50 for the hub's ¥100)."""
    legit, seen = [], []
    for key in (k for k in keys if k in KEYED):
        column = _KEY_COLUMN[key]
        rows = flagged.filter(pl.col(column).is_not_null() & ~pl.col("id").is_in(seen))
        if not rows.height:
            continue
        values = rows[column].unique()

        def sums(side, name):
            return side.filter(pl.col(column).is_in(values)).group_by(column).agg(
                pl.col("amount_minor").sum().alias(name))
        agree = sums(supplier, "s").join(sums(hub, "h"), on=column).filter(
            pl.col("s") == pl.col("h"))[column]
        legit += rows.filter(pl.col(column).is_in(agree))["id"].to_list()
        seen += rows["id"].to_list()
    return legit


def _singles(rows: pl.DataFrame, side: str, outcome: str, first: int) -> tuple:
    rows = rows.sort("id").with_columns(group=pl.int_range(first, first + pl.len()))
    on_hub = side == "hub"
    groups = rows.select(
        "group", outcome=pl.lit(outcome), key=pl.lit(None, pl.String),
        key_value=pl.lit(None, pl.String), n_hub=pl.lit(int(on_hub)),
        n_supplier=pl.lit(int(not on_hub)),
        hub_minor=pl.col("amount_minor") if on_hub else pl.lit(0),
        supplier_minor=pl.lit(0) if on_hub else pl.col("amount_minor"),
        conflict=pl.lit(False))
    return rows.select(side=pl.lit(side), id="id", group="group"), groups


def _by_key(pool_h, pool_s, key: str, rules: Rules, first: int) -> tuple:
    column = _KEY_COLUMN[key]
    others = [_KEY_COLUMN[k] for k in KEYED if k != key]
    wanted = ["id", column, *others, "amount_minor"]

    def keyed(pool):  # a 64-bit hash joins faster than text; the text is compared after
        return pool.select(*wanted, hashed=pl.col(column).hash()).filter(
            pl.col(column).is_not_null())  # selected first: only these columns are copied

    keyed_h, keyed_s = keyed(pool_h), keyed(pool_s)
    conflict = pl.lit(False)
    for o in others:
        conflict = conflict | (pl.col(o).is_not_null() & pl.col(f"{o}_s").is_not_null()
                               & (pl.col(o) != pl.col(f"{o}_s")))
    # only what the groups need goes on: the other keys' text ends in ``conflict``
    both = keyed_h.join(keyed_s, on="hashed", suffix="_s").select(
        "id", "id_s", "hashed", column, "amount_minor", "amount_minor_s", conflict=conflict,
        same=pl.col(column) == pl.col(f"{column}_s")).filter("same").with_columns(
        single=pl.col("hashed").is_unique())
    pairs = both.filter("single").sort("id").with_columns(
        group=pl.int_range(first, first + pl.len()))
    one_to_one = pairs.select(
        "group", key=pl.lit(key), key_value=pl.col(column), n_hub=pl.lit(1),
        n_supplier=pl.lit(1), hub_minor="amount_minor", supplier_minor="amount_minor_s",
        conflict="conflict")
    hub_lines = pairs.select(side=pl.lit("hub"), id="id", group="group")
    supplier_lines = pairs.select(side=pl.lit("supplier"), id="id_s", group="group")
    groups = [one_to_one]
    shared = both.filter(~pl.col("single")).select("hashed").unique()
    if shared.height:  # many on one side or both: summed per key
        many_h, many_s, many = _summed(keyed_h.join(shared, on="hashed", how="semi"),
                                       keyed_s.join(shared, on="hashed", how="semi"),
                                       column, others, first + pairs.height)
        hub_lines, supplier_lines = pl.concat([hub_lines, many_h]), \
            pl.concat([supplier_lines, many_s])
        groups.append(many.with_columns(key=pl.lit(key), key_value=pl.col(column)))
    no_outcome = {c: t for c, t in _GROUP.items() if c != "outcome"}
    groups = pl.concat([g.select(list(no_outcome)).cast(no_outcome) for g in groups])
    groups = groups.with_columns(outcome=_outcome(rules))
    return ((pl.concat([hub_lines, supplier_lines]), groups),
            pool_h.join(hub_lines.select("id"), on="id", how="anti"),
            pool_s.join(supplier_lines.select("id"), on="id", how="anti"))


def _summed(keyed_h, keyed_s, column: str, others: list[str], first: int) -> tuple:
    """One group per key value with all its lines on both sides: the hub's lines, the
    supplier's, the groups."""
    def summed(rows, suffix, count, total):
        return rows.group_by(column).agg(
            pl.len().alias(count), pl.col("amount_minor").sum().alias(total),
            *[pl.col(o).min().alias(f"{o}_min{suffix}") for o in others],
            *[pl.col(o).max().alias(f"{o}_max{suffix}") for o in others])

    both = summed(keyed_h, "_h", "n_hub", "hub_minor").join(
        summed(keyed_s, "_s", "n_supplier", "supplier_minor"), on=column)
    both = both.sort(column).with_columns(group=pl.int_range(first, first + pl.len()))
    conflict = pl.lit(False)
    for o in others:
        conflict = conflict | (
            pl.col(f"{o}_min_h").is_not_null() & pl.col(f"{o}_min_s").is_not_null()
            & ((pl.col(f"{o}_min_h") != pl.col(f"{o}_min_s"))
               | (pl.col(f"{o}_max_h") != pl.col(f"{o}_max_s"))))
    groups = both.with_columns(conflict=conflict)
    numbered = both.select(column, "group")
    return (keyed_h.join(numbered, on=column).select(side=pl.lit("hub"), id="id",
                                                     group="group"),
            keyed_s.join(numbered, on=column).select(side=pl.lit("supplier"), id="id",
                                                     group="group"),
            groups)


def _difference() -> pl.Expr:
    return pl.col("supplier_minor") - pl.col("hub_minor")


def _tolerated(rules: Rules) -> pl.Expr:
    difference = _difference().abs().cast(pl.Int128)
    if rules.tolerance_kind == "fixed":
        return difference <= rules.tolerance_minor
    return difference * 10_000 <= pl.col("hub_minor").abs().cast(pl.Int128) \
        * rules.tolerance_bp


def _outcome(rules: Rules) -> pl.Expr:
    difference = _difference()
    return (pl.when(pl.col("conflict")).then(pl.lit("matched_with_difference"))
            .when(difference == 0).then(pl.lit("matched"))
            .when(_tolerated(rules) & (difference.abs() <= rules.write_off_limit_minor))
            .then(pl.lit("written_off"))
            .otherwise(pl.lit("matched_with_difference")))


def _by_amount_date(pool_h, pool_s, rules: Rules, first: int) -> tuple:
    """One to one, the same amount, days apart at most the window, nearest first."""
    keys = list(_KEY_COLUMN.values())
    candidates = pool_h.select("id", "amount_minor", "day", *keys).join(
        pool_s.select("id", "amount_minor", "day", *keys), on="amount_minor", suffix="_s")
    gap = (pl.col("day") - pl.col("day_s")).dt.total_days().abs()
    agree = pl.lit(True)
    for k in keys:
        agree = agree & (pl.col(k).is_null() | pl.col(f"{k}_s").is_null())
    candidates = (candidates.filter(agree & pl.col("day").is_not_null()
                                    & pl.col("day_s").is_not_null())
                  .with_columns(gap=gap).filter(pl.col("gap") <= rules.date_window_days)
                  .sort("gap", "id", "id_s"))
    taken_h, taken_s, pairs = set(), set(), []
    for h, s, amount in candidates.select("id", "id_s", "amount_minor").iter_rows():
        if h not in taken_h and s not in taken_s:
            taken_h.add(h)
            taken_s.add(s)
            pairs.append((h, s, amount))
    pairs = pl.DataFrame(pairs, schema={"id": pl.Int64, "id_s": pl.Int64,
                                        "amount_minor": pl.Int64}, orient="row")
    pairs = pairs.with_columns(group=pl.int_range(first, first + pl.len()))
    groups = pairs.select(
        "group", outcome=pl.lit("matched"), key=pl.lit("amount_date"),
        key_value=pl.col("amount_minor").cast(pl.String), n_hub=pl.lit(1),
        n_supplier=pl.lit(1), hub_minor="amount_minor", supplier_minor="amount_minor",
        conflict=pl.lit(False))
    lines = pl.concat([pairs.select(side=pl.lit("hub"), id="id", group="group"),
                       pairs.select(side=pl.lit("supplier"), id="id_s", group="group")])
    return ((lines, groups), pool_h.join(pairs.select("id"), on="id", how="anti"),
            pool_s.join(pairs.select(id="id_s"), on="id", how="anti"))
