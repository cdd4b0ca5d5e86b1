"""Large message templates: ``pk = "data#<batch id>"``, ``sk = "#template"``; a template over the
inline size travels by reference rather than through every state of the execution. In a
partition of its own, so reading a batch's records never reads it (and no endpoint id collides
with it). Written once by the invoker before the execution starts, never changed."""

from __future__ import annotations

from journey_activity.ledger.keys import TEMPLATE_SK, template_key
from journey_activity.ledger.table import Table, _to_item

# DynamoDB items hold 400 KB; keep room for the key and attributes.
MAX_TEMPLATE_BYTES = 350_000


class Templates(Table):
    def put_template(self, batch_id: str, template: str) -> str:
        """Keep a large template out of the execution's payloads; returns its reference."""
        self.dynamodb.put_item(
            TableName=self.table_name,
            Item=_to_item({**template_key(batch_id), "template": template, "expires_at": self._expires_at()}),
        )
        return TEMPLATE_SK

    def get_template(self, batch_id: str, reference: str) -> str | None:
        item = self._get_written_once(_to_item(template_key(batch_id, reference)))
        return None if item is None else str(item.get("template", ""))
