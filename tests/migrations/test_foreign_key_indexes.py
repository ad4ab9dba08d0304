"""Every foreign key has an index led by its columns: a cascade (a purge, a deleted
playbook) looks its children up instead of scanning them."""

from __future__ import annotations

from sqlalchemy import Engine, inspect


def unindexed_foreign_keys(engine: Engine) -> list[str]:
    inspector = inspect(engine)
    missing = []
    for table in inspector.get_table_names():
        leading: list[list[str | None]] = [
            list(index["column_names"]) for index in inspector.get_indexes(table)
        ]
        leading += [
            list(unique["column_names"]) for unique in inspector.get_unique_constraints(table)
        ]
        leading.append(list(inspector.get_pk_constraint(table)["constrained_columns"]))
        for foreign_key in inspector.get_foreign_keys(table):
            columns = foreign_key["constrained_columns"]
            if not any(index[: len(columns)] == columns for index in leading):
                missing.append(f"{table}({', '.join(columns)})")
    return missing


def test_every_foreign_key_has_an_index_led_by_its_columns(db_engine: Engine) -> None:
    assert unindexed_foreign_keys(db_engine) == []


def test_the_check_finds_a_foreign_key_without_an_index(db_engine: Engine) -> None:
    with db_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE fk_probe_parents (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql(
            "CREATE TABLE fk_probe_children (id INTEGER PRIMARY KEY, parent_id INTEGER, "
            "FOREIGN KEY (parent_id) REFERENCES fk_probe_parents (id))"
        )
    try:
        found = unindexed_foreign_keys(db_engine)
    finally:
        with db_engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE fk_probe_children")
            connection.exec_driver_sql("DROP TABLE fk_probe_parents")
    # InnoDB creates an index for every foreign key itself: nothing to find there.
    expected = (
        [] if db_engine.dialect.name in ("mysql", "mariadb") else ["fk_probe_children(parent_id)"]
    )
    assert found == expected
