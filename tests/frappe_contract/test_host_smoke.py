"""The contract host itself behaves as Frappe v15 does where the app depends on it."""

import frappe


def test_rollback_drops_after_commit_callbacks_not_yet_run(site):
    ran = []
    frappe.db.after_commit.add(lambda: ran.append("first"))
    frappe.db.rollback()
    frappe.db.after_commit.add(lambda: ran.append("second"))
    frappe.db.commit()
    assert ran == ["second"]


def test_a_rollback_inside_a_callback_drops_the_callbacks_after_it(site):
    ran = []
    frappe.db.after_commit.add(lambda: (ran.append("a"), frappe.db.rollback()))
    frappe.db.after_commit.add(lambda: ran.append("b"))
    frappe.db.commit()
    assert ran == ["a"]


def test_update_rowcount_counts_changed_rows(site):
    frappe.db.sql("update `tabOrganization` set status='Active' where name='Org A'")
    assert frappe.db._cursor.rowcount == 0
