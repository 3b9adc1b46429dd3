"""Contract host: `frappe.model`."""

# v15 frappe/model/__init__.py: fieldtypes that hold no column.
no_value_fields = (
    "Section Break",
    "Column Break",
    "Tab Break",
    "HTML",
    "Table",
    "Table MultiSelect",
    "Button",
    "Image",
    "Fold",
    "Heading",
)
default_fields = ("doctype", "name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
