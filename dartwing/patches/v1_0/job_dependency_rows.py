"""Jobs waiting on a single parent before fan-in had only `depends_on`; give each Pending one its Job
Dependency row and its count, so that its parent's completion releases it at once (otherwise the
minute sweep would, reading `depends_on`). post_model_sync: the new table and column exist."""

import frappe


def execute():
    frappe.db.sql(
        """insert into `tabJob Dependency`
            (name, creation, modified, modified_by, owner, idx, parent, parenttype, parentfield, depends_on)
        select concat(child.name, '-1'), child.creation, child.creation, child.owner, child.owner, 1,
            child.name, 'Background Job', 'dependencies', child.depends_on
        from `tabBackground Job` child
        where child.status = 'Pending' and child.depends_on is not null
            and not exists (select 1 from `tabJob Dependency` d where d.parent = child.name)"""
    )
    frappe.db.sql(
        """update `tabBackground Job` child
        join `tabBackground Job` parent on parent.name = child.depends_on
        set child.open_parents = 1
        where child.status = 'Pending' and child.open_parents = 0 and parent.status != 'Completed'"""
    )
