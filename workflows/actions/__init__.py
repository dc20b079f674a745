"""Built-in actions and their builder sections; importing this package registers them
(WorkflowsConfig.ready)."""

from django.utils.translation import gettext_lazy

from workflows.actions import control, notify, records  # noqa: F401
from workflows.registry import BuilderSection, section_register

section_register(BuilderSection("crm", gettext_lazy("CRM"), "clipboard-document-check", order=10))
section_register(BuilderSection("communication", gettext_lazy("Communications"), "bell", order=20))
section_register(BuilderSection("control", gettext_lazy("Flow"), "arrows-right-left", order=30))
