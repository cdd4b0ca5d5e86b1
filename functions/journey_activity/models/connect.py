"""The Amazon Connect outbound campaigns custom-action event, as a journey's flow sends it.

Documented (admin guide, "Invoke Lambda functions"): ``InvocationMetadata.CampaignContext``
(``CampaignId``, ``RunId``, ``ActionId``, ``CampaignName``) and ``Items.CustomerProfiles``, each
``{ProfileId, CustomerData (a JSON string of the profile), IdempotencyToken}``. Unknown fields are
tolerated at every level (``extra="allow"``): the contract is young and may grow. Profiles stay
raw here and are read one by one, so one bad profile is answered, never failing the others.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CampaignContext(_Open):
    CampaignId: str = Field(min_length=1)
    RunId: str = Field(min_length=1)
    # The flow block's identifier: its name, spaces allowed (up to 50 characters in the flow language).
    ActionId: str = Field(min_length=1)
    CampaignName: str | None = None


class InvocationMetadata(_Open):
    CampaignContext: CampaignContext


class ConnectItems(_Open):
    CustomerProfiles: list[Any]


class ConnectEvent(_Open):
    InvocationMetadata: InvocationMetadata
    Items: ConnectItems
